"""The registry: kind -> name -> component entry, filled by plugins through ``ganlab_register``.

Each plugin receives a :class:`Registrar` bound to its own name, so every entry knows which plugin gave
it; that is what lets ``ganlab list`` attribute components and lets a duplicate name be reported with
both culprits.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable, Iterator

from .config import FieldInfo, describe_fields
from .errors import PluginError

KINDS: tuple[str, ...] = ("generator", "discriminator", "loss", "optimizer", "init", "dataset", "hook")
"""The component kinds the engine knows how to use; a plugin cannot invent a new kind."""


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


class Registry:
    """All components known to this process, by kind and name."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}

    def for_plugin(self, plugin: str) -> "Registrar":
        return Registrar(self, plugin)

    def _add(self, entry: Entry) -> None:
        if entry.kind not in self._entries:
            raise PluginError(
                f"plugin {entry.plugin!r} registered {entry.name!r} under unknown kind {entry.kind!r}; "
                f"kinds are: {', '.join(KINDS)}")
        if not dataclasses.is_dataclass(entry.config):
            raise PluginError(f"plugin {entry.plugin!r}: config of {entry.kind} {entry.name!r} "
                              f"must be a dataclass, got {entry.config!r}")
        existing = self._entries[entry.kind].get(entry.name)
        if existing is not None:
            raise PluginError(
                f"{entry.kind} {entry.name!r} is registered twice: by plugin {existing.plugin!r} "
                f"and by plugin {entry.plugin!r}")
        self._entries[entry.kind][entry.name] = entry

    def get(self, kind: str, name: str) -> Entry | None:
        return self._entries.get(kind, {}).get(name)

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def close_matches(self, kind: str, name: str) -> list[str]:
        return difflib.get_close_matches(name, self.names(kind), n=3, cutoff=0.5)

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        for k in ([kind] if kind else KINDS):
            for name in sorted(self._entries[k]):
                yield self._entries[k][name]

    def discard_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used when its registration fails half way)."""
        for table in self._entries.values():
            for name in [n for n, e in table.items() if e.plugin == plugin]:
                del table[name]


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
        self._registry._add(Entry(kind, name, factory, config, self.plugin, help))
