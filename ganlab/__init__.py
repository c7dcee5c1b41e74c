"""ganlab: GAN experiments from TOML recipes, built from a registry of plugin components.

The public API for plugin authors is what this module exports: the ``hookimpl`` marker, the ``component``
decorator, the registry types, the ``param`` field helper for config dataclasses, the component protocols
and base classes (``Loss`` with its ``ScoreKind``), and ``draw_for_global_batch`` for components that draw
random numbers per image.
"""

__version__ = "0.2.0"

from .recipes.config import param  # noqa: E402
from .machine.distributed import draw_for_global_batch  # noqa: E402
from .errors import ConfigError, DataError, GanlabError  # noqa: E402
from .plugins.hookspecs import hookimpl  # noqa: E402
from .protocols import (  # noqa: E402
    PROBABILITY, BuildContext, Discriminator, EvaluationHook, Generator, ImageDataset, InitScheme, Loss,
    OptimizerFactory, OutrightWin, ReportSection, ScoreKind,
)
from .plugins.registry import KINDS, Registrar, Registry, component  # noqa: E402

__all__ = [
    "__version__", "hookimpl", "component", "param", "Registry", "Registrar", "KINDS", "BuildContext",
    "Generator", "Discriminator", "Loss", "ScoreKind", "OutrightWin", "PROBABILITY", "OptimizerFactory",
    "InitScheme", "ImageDataset", "EvaluationHook",
    "ReportSection", "GanlabError", "ConfigError", "DataError", "draw_for_global_batch",
]
