"""What ``ganlab list`` says of each component: the plugin that gives it, its help line and its settings,
from the ``param`` help of its config dataclass.

The documentation's components reference is built from the same listing (docs/generate/components_page.py),
so the page and the command cannot come to say different things.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING

from ..common.config import FieldInfo
from ..loading.manager import Plugins


@dataclasses.dataclass(frozen=True)
class Setting:
    """One recipe key of a component: ``default`` is ``= VALUE`` as Python writes it, or ``required``."""

    name: str
    type: str
    default: str
    help: str

    @classmethod
    def of(cls, field: FieldInfo) -> Setting:
        return cls(
            field.name, field.type, "required" if field.default is MISSING else f"= {field.default!r}", field.help
        )

    def line(self) -> str:
        return f"{self.name}: {self.type} {self.default}" + (f"  -- {self.help}" if self.help else "")


@dataclasses.dataclass(frozen=True)
class Listed:
    """One component as ``ganlab list`` shows it; ``provider`` is what it shows of the plugin."""

    kind: str
    name: str
    plugin: str
    provider: str
    help: str
    settings: tuple[Setting, ...]

    def lines(self) -> list[str]:
        details = [self.help] if self.help else []
        return [
            f"  {self.name}  [{self.provider}]",
            *(f"      {line}" for line in details + [s.line() for s in self.settings]),
        ]


def provider(plugins: Plugins, name: str) -> str:
    """A built-in plugin by its module, an installed one by its distribution and version."""
    info = next((p for p in plugins.infos if p.name == name), None)
    if info is None or info.builtin:
        return f"{name} (built-in)"
    return f"{info.distribution or name} {info.version or ''}".strip()


def listed(plugins: Plugins, kind: str) -> list[Listed]:
    """The components of ``kind`` in the order the registry holds them (built-ins first)."""
    return [
        Listed(
            kind,
            entry.name,
            entry.plugin,
            provider(plugins, entry.plugin),
            entry.help,
            tuple(Setting.of(f) for f in entry.fields()),
        )
        for entry in plugins.registry.entries(kind)
    ]
