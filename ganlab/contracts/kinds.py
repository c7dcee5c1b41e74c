"""What ganlab calls on the classes of each kind of component, and what it says of a class that misses it.

Python lets a component class load whatever it lacks: an ``Augment`` without ``__call__`` fails only when a
recipe builds it, a ``trem`` meant for ``term`` or an ``on_step_ned`` meant for ``on_step_end`` never
fails at all, and the method simply never runs. :func:`class_notes` says so when the plugin loads, for
every kind alike: the kinds with a base class (evaluators, losses, the levers, networks) and the data sets,
which follow a contract (a ``typing.Protocol``). The plugin manager reports its notes; the engine refuses a
built component whose class lacks a required method (:func:`missing`).
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..common.hints import SUGGESTION_CUTOFF, did_you_mean, looks_misspelt
from ..registry.registry import KINDS
from .engine import Evaluator, Loss
from .levers import Augment, Regularizer, Schedule
from .loggers import Logger


def interface(base: type) -> tuple[str, ...]:
    """The public methods of ``base`` that ganlab calls (for :class:`~ganlab.contracts.engine.Evaluator`, its
    events and the rest of an evaluator's interface), those it inherits included (a lever's ``state_dict``)."""
    return tuple(
        dict.fromkeys(
            name
            for klass in base.__mro__
            if klass is not object
            for name, value in vars(klass).items()
            if not name.startswith("_") and callable(value)
        )
    )


@dataclasses.dataclass(frozen=True)
class Interface:
    """What ganlab calls on the classes of one kind, ``title`` in words: ``required``, the methods each
    must define below ``base`` (a class it extends, or ``object`` for a ``typing.Protocol``); ``methods``, every public
    method ganlab may call, a near miss of which is taken for a misspelling; a public name starting with
    ``reserved`` (an evaluator's ``on_``) is always taken for one of ganlab's."""

    kind: str
    title: str
    base: type
    required: tuple[str, ...]
    methods: tuple[str, ...]
    reserved: str | None = None

    @classmethod
    def of(cls, kind: str, base: type, reserved: str | None = None) -> Interface:
        """The interface of one of ganlab's abstract base classes: its abstract methods are the required ones."""
        return cls(
            kind,
            f"ganlab.{base.__name__}",
            base,
            tuple(sorted(getattr(base, "__abstractmethods__", ()))),
            interface(base),
            reserved,
        )


NETWORK = Interface("network", "torch.nn.Module", nn.Module, ("forward",), ("forward",))
DATASET = Interface(
    "dataset",
    "ganlab.ImageDataset",
    object,
    ("__len__", "__getitem__", "describe"),
    ("describe", "get_batch", "preview", "held_out"),
)
"""A data set's contract (:class:`ganlab.ImageDataset`): its optional methods count as ganlab's too."""


def by_kind(interfaces: dict[str, Interface | None]) -> dict[str, Interface]:
    """``interfaces`` in the order of the registry's :data:`~ganlab.registry.registry.KINDS`, without the
    kinds that are plain functions (None). Raises at import where the two disagree: a kind added to KINDS
    without an entry here would build unchecked, and an entry for no kind is a name that never matches."""
    unlisted, unknown = set(KINDS) - set(interfaces), set(interfaces) - set(KINDS)
    if unlisted or unknown:
        raise RuntimeError(
            f"contracts/kinds.py and registry.KINDS disagree: no entry for {sorted(unlisted)}, "
            f"entries for no kind {sorted(unknown)}"
        )
    return {kind: interfaces[kind] for kind in KINDS if interfaces[kind] is not None}


BY_KIND: dict[str, Interface] = by_kind(
    {
        "generator": NETWORK,
        "discriminator": NETWORK,
        "loss": Interface.of("loss", Loss),
        "optimizer": None,
        "init": None,  # a function of a network's parameters, of a network: no class
        "dataset": DATASET,
        "evaluator": Interface.of("evaluator", Evaluator, reserved="on_"),
        "augment": Interface.of("augment", Augment),
        "regularizer": Interface.of("regularizer", Regularizer),
        "schedule": Interface.of("schedule", Schedule),
        "logger": Interface.of("logger", Logger),
    }
)
"""The one table of what each kind of component is: the class it must extend (``nn.Module`` for a
network, ``object`` for a data set, which follows a protocol) and the methods ganlab calls on it. The
engine refuses a built component that is no instance of its kind's base, and the plugin manager notes a
class that misses a method."""

BY_BASE: tuple[Interface, ...] = tuple(
    sorted(dict.fromkeys(i for i in BY_KIND.values() if i.base is not object), key=lambda i: i is NETWORK)
)
"""The interfaces whose classes a plugin defines are found by their base class: those of :data:`BY_KIND`
with one, ``nn.Module`` last (a class found under two bases is noted against the later one)."""

RENAMED = {"discriminator_penalty": "penalty"}
"""Interface methods of ganlab 0.2 under their later names: a method of the old name would never run."""


def missing(cls: type, contract: Interface) -> list[str]:
    """The required methods of ``contract`` that ``cls`` does not define below its base (an abstract
    method left abstract, ``nn.Module``'s placeholder ``forward``, a method of the contract not there at all)."""

    def defines(name: str) -> bool:
        value = getattr(cls, name, None)
        return (
            value is not None
            and value is not getattr(contract.base, name, None)
            and not getattr(value, "__isabstractmethod__", False)
        )

    return [name for name in contract.required if not defines(name)]


def class_notes(cls: type, contract: Interface, complete: bool) -> list[str]:
    """A note for each thing ``cls`` lacks or names so that ganlab never calls it.

    Where ``complete`` (a class a plugin registers, or one nothing extends), each required method it does
    not define, with the method of its own that looks meant for it (``trem`` for ``term``: a required
    method is known to be missing, so a looser match is offered). Then each method of its own that looks
    meant for ganlab but is not one it calls: any ``reserved`` name (an evaluator's events are all ``on_*``), a
    near miss of one of ganlab's methods (``report_section``), or the old name of one (a loss's
    ``discriminator_penalty``, now ``penalty``); any other public method is a helper of the class's own.
    """
    where = f"{contract.kind} class {cls.__module__}.{cls.__qualname__}"
    own = [name for name, value in vars(cls).items() if not name.startswith("_") and _is_method(value)]
    notes, explained = [], set()
    for name in missing(cls, contract) if complete else []:
        close = [o for o in own if o not in contract.methods and looks_misspelt(o, [name], SUGGESTION_CUTOFF)]
        explained.update(close)
        meant = f"; its {', '.join(f'{o}()' for o in close)} looks meant for it" if close else ""
        notes.append(
            f"{where} does not define {name}(), which every {contract.title} must, so it cannot be built{meant}"
        )
    for name in own:
        if name in contract.methods or name in explained:
            continue
        if name in RENAMED:
            hint = f"; since ganlab 0.3 it is called {RENAMED[name]!r}"
        elif (contract.reserved and name.startswith(contract.reserved)) or looks_misspelt(name, contract.methods):
            reserved = [m for m in contract.methods if contract.reserved and m.startswith(contract.reserved)]
            hint = did_you_mean(name, contract.methods) or f"; its events are: {', '.join(reserved)}"
        else:
            continue
        notes.append(f"{where} defines {name}(), which ganlab never calls{hint}")
    return notes


def _is_method(value: object) -> bool:
    return callable(value) or isinstance(value, (staticmethod, classmethod))
