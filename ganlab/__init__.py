"""ganlab: GAN experiments from TOML recipes, built from a registry of plugin components.

The public API for plugin authors is what this module exports: the ``hookimpl`` marker, the ``component``
decorator, the registry types, the ``param`` field helper and ``Need`` for config dataclasses, the component contracts
and base classes (``Loss`` with its ``ScoreKind``), ``RunView`` (what an evaluator may use of a run),
``RunDir`` (a run directory, as ``report_sections`` receives it), the DCGAN networks that variants
extend, the levers' base classes (``Augment``, ``Regularizer``, ``Schedule`` with ``WarmupSchedule`` and its
``WarmupConfig``) and the loggers' (``Logger``), and
``draw_for_global_batch`` and ``mean_over_processes`` for components that draw or steer per image, and
the Python API for notebooks (``run``, ``resume``, ``load_run``, ``import_weights``, ``compare``, ``tune``,
``load_study``, with ``RunResult``, ``GroupedComparison`` and ``TuneResult``), and ``Metric`` (with
``lower_is_better`` and ``higher_is_better``) for an evaluator to declare the scores it logs. Beside this
module, only the modules in :data:`PUBLIC_MODULES` are public; everything else may change.
"""

import warnings

from .api import RunResult, compare, import_weights, load_run, load_study, resume, run, tune
from .common.config import param
from .common.errors import ConfigError, DataError, GanlabError
from .common.labels import Attribute, LabelSpace
from .common.version import __version__
from .compare.seed_groups import GroupedComparison
from .components.dcgan import DCGANDiscriminator, DCGANGenerator
from .contracts.engine import (
    BuildContext,
    ConditionalGenerator,
    Discriminator,
    Evaluator,
    Generator,
    ImageDataset,
    Loss,
    Metric,
    RunView,
    higher_is_better,
    lower_is_better,
)
from .contracts.levers import Augment, Regularizer, RegularizerInputs, Schedule, WarmupConfig, WarmupSchedule
from .contracts.loggers import Logger
from .contracts.retired import RETIRED
from .contracts.scores import PROBABILITY, OutrightWin, ScoreKind
from .loading.manager import Plugins, load_plugins_or_warn
from .machine.distributed import draw_for_global_batch, mean_over_processes
from .machine.memory import Need
from .models.export import Exported
from .page.html import ReportSection
from .registry.hookspecs import hookimpl
from .registry.registry import KINDS, Registrar, Registry, component
from .rundir.records import INTEGER, NUMBER, Shape
from .rundir.rundir import RunDir
from .tuning.results import TuneResult

PUBLIC_MODULES: tuple[str, ...] = ("ganlab", "ganlab.testing", "ganlab.page.html", "ganlab.page.figures")
"""The modules a plugin may import: this one, the pytest fixtures, and the report's HTML and figure helpers."""

__all__ = [
    "__version__",
    "PUBLIC_MODULES",
    "hookimpl",
    "component",
    "param",
    "Registry",
    "Registrar",
    "KINDS",
    "BuildContext",
    "Generator",
    "Discriminator",
    "Loss",
    "ScoreKind",
    "OutrightWin",
    "PROBABILITY",
    "ImageDataset",
    "Evaluator",
    "RunView",
    "RunDir",
    "ReportSection",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "GanlabError",
    "ConfigError",
    "DataError",
    "draw_for_global_batch",
    "Plugins",
    "load_plugins_or_warn",
    "Shape",
    "INTEGER",
    "NUMBER",
    "mean_over_processes",
    "Augment",
    "Regularizer",
    "RegularizerInputs",
    "Schedule",
    "WarmupSchedule",
    "WarmupConfig",
    "Logger",
    "Attribute",
    "LabelSpace",
    "ConditionalGenerator",
    "Need",
    "run",
    "resume",
    "load_run",
    "import_weights",
    "compare",
    "RunResult",
    "Exported",
    "GroupedComparison",
    "tune",
    "load_study",
    "TuneResult",
    "Metric",
    "lower_is_better",
    "higher_is_better",
]


def __getattr__(name: str) -> object:
    """Names ganlab no longer exports, served one more release with a DeprecationWarning (a plugin may import
    them): ``ganlab.EvaluationHook`` (until 0.6), the evaluator's name in ganlab 0.4, so a plugin's subclass of
    it is an evaluator; and the contracts nothing checked (:mod:`ganlab.contracts.retired`)."""
    if name == "EvaluationHook":  # until 0.6
        warnings.warn(
            "ganlab.EvaluationHook is deprecated: use ganlab.Evaluator (the old name works until 0.6)",
            DeprecationWarning,
            stacklevel=2,
        )
        return Evaluator
    if name in RETIRED:
        warnings.warn(
            f"ganlab.{name} is deprecated and goes in ganlab 0.6: the engine never checked it "
            "(see the component contracts in the plugin guide)",
            DeprecationWarning,
            stacklevel=2,
        )
        return RETIRED[name]
    raise AttributeError(f"module 'ganlab' has no attribute {name!r}")
