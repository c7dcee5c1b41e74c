"""The registry: kind -> name -> component entry, filled by plugins.

A plugin declares a component with the :func:`component` decorator on its factory or class, or adds one
with ``registry.add`` in its ``ganlab_register`` hook. Either way the plugin manager adds it through a
:class:`Registrar` bound to the plugin's name, so every entry knows which plugin gave it; that is what
lets ``ganlab list`` attribute components, a duplicate name be reported with both culprits, and a
disabled plugin's components stay out.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..common.config import FieldInfo, describe_fields
from ..common.errors import PluginError

KINDS: tuple[str, ...] = (
    "generator",
    "discriminator",
    "loss",
    "optimizer",
    "init",
    "dataset",
    "evaluator",
    "augment",
    "regularizer",
    "schedule",
    "logger",
)
"""The component kinds the engine knows how to use; a plugin cannot invent a new kind."""

OLD_KINDS: dict[str, str] = {"hook": "evaluator"}  # until 0.6
"""Kinds renamed since ganlab 0.4, by their old name: a plugin that declares or adds a component under one
still registers it, under the new name, with a DeprecationWarning (until 0.6)."""


def current_kind(kind: str) -> str:
    """``kind``, or the kind it was renamed to (see :data:`OLD_KINDS`), with a DeprecationWarning."""
    new = OLD_KINDS.get(kind) if isinstance(kind, str) else None
    if new is None:
        return kind
    warnings.warn(
        f"component kind {kind!r} is deprecated: use {new!r} (the old name works until 0.6)",
        DeprecationWarning,
        stacklevel=3,
    )
    return new


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered component: ``factory(config, context)`` builds it from an instance of ``config``."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config: type
    plugin: str
    help: str = ""

    def fields(self) -> list[FieldInfo]:
        return describe_fields(self.config)


@dataclasses.dataclass(frozen=True)
class Declaration:
    """What :func:`component` records on the object it decorates, for the plugin manager to add."""

    kind: str
    name: str
    config: type
    help: str = ""


DECLARATIONS = "__ganlab_components__"
"""The attribute of a decorated factory or class that holds its declarations."""

Factory = TypeVar("Factory", bound=Callable[..., Any])


def component(kind: str, name: str, *, config: type, help: str = "") -> Callable[[Factory], Factory]:
    """Declare the decorated function or class as the component ``kind`` ``name``, configured by the
    dataclass ``config``; ``help`` is the line ``ganlab list`` shows.

    It is called as ``factory(config, context)`` (a class: its constructor takes those two) and returns
    the component. Nothing is registered at import: when the plugin manager loads a plugin module, it
    adds the components declared in the module's namespace in that plugin's name, so disabling the
    plugin leaves them out and a clash names the plugin. One object may be declared under several names
    (stack the decorator); a subclass of a declared class is not itself declared.
    """
    kind = current_kind(kind)

    def declare(factory: Factory) -> Factory:
        setattr(factory, DECLARATIONS, (*vars(factory).get(DECLARATIONS, ()), Declaration(kind, name, config, help)))
        return factory

    return declare


def declared_components(module: types.ModuleType) -> Iterator[tuple[Callable[..., Any], Declaration]]:
    """Every component declared with :func:`component` on a function or class in ``module``'s namespace
    and defined in it or in a submodule of it (a declared object it imports from another package is
    that package's to register)."""
    seen: set[int] = set()
    for value in list(vars(module).values()):
        home = getattr(value, "__module__", None)
        if (
            id(value) in seen
            or not isinstance(home, str)
            or not (home == module.__name__ or home.startswith(module.__name__ + "."))
        ):
            continue
        seen.add(id(value))
        for declaration in getattr(value, "__dict__", {}).get(DECLARATIONS, ()):
            yield value, declaration


class Registry:
    """All components known to this process, by kind and name."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}

    def for_plugin(self, plugin: str) -> Registrar:
        return Registrar(self, plugin)

    def _add(self, entry: Entry) -> None:
        if entry.kind not in self._entries:
            raise PluginError(
                f"plugin {entry.plugin!r} registered {entry.name!r} under unknown kind {entry.kind!r}; "
                f"kinds are: {', '.join(KINDS)}"
            )
        if not dataclasses.is_dataclass(entry.config):
            raise PluginError(
                f"plugin {entry.plugin!r}: config of {entry.kind} {entry.name!r} "
                f"must be a dataclass, got {entry.config!r}"
            )
        _check_factory(entry)
        existing = self._entries[entry.kind].get(entry.name)
        if existing is not None:
            raise PluginError(
                f"{entry.kind} {entry.name!r} is registered twice: by plugin {existing.plugin!r} "
                f"and by plugin {entry.plugin!r}"
            )
        self._entries[entry.kind][entry.name] = entry

    def get(self, kind: str, name: str) -> Entry | None:
        return self._entries.get(kind, {}).get(name)

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        for k in [kind] if kind else KINDS:
            for name in sorted(self._entries[k]):
                yield self._entries[k][name]

    def discard_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used when its registration fails half way)."""
        for table in self._entries.values():
            for name in [n for n, e in table.items() if e.plugin == plugin]:
                del table[name]


def _check_factory(entry: Entry) -> None:
    """Refuse at load time a factory that cannot be called as ``factory(config, context)``, which would
    otherwise fail only when a recipe first names it (a class whose constructor takes the config alone)."""
    try:
        signature = inspect.signature(entry.factory)
    except (TypeError, ValueError):  # no signature to read (some built-in callables): trust it
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise PluginError(
            f"plugin {entry.plugin!r}: {entry.kind} {entry.name!r} is built by calling "
            f"{getattr(entry.factory, '__qualname__', entry.factory)!r} as factory(config, "
            f"context), but it takes {signature}"
        ) from None


class Registrar:
    """What a plugin's ``ganlab_register`` hook receives: adds entries in the plugin's name."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self.plugin = plugin

    def __repr__(self) -> str:
        return f"<registry for plugin {self.plugin!r}>"

    def add(self, kind: str, name: str, factory: Callable[..., Any], config: type, help: str = "") -> None:
        """Register ``factory`` as ``kind`` ``name``; ``config`` is the dataclass of its recipe keys.

        ``factory(config, context)`` is called with a validated ``config`` instance and the
        :class:`ganlab.BuildContext` of the run.
        """
        self._registry._add(Entry(current_kind(kind), name, factory, config, self.plugin, help))
