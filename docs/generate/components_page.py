"""MkDocs hook that writes the components reference, ``components.md``, at build time.

The page is made from the listing ``ganlab list`` prints (:mod:`ganlab.cli.listing`: each component's
plugin, help line and settings from its ``param`` help), so the documentation and the command cannot come
to say different things, and the page is never committed to go stale. It covers ganlab's built-in
components and those of the plugin packages in ``plugins/``, each marked with its package.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2]
PAGE = "components.md"

INTRO = """# Components

Every component a recipe can name, by kind, with its settings: the keys of its recipe section, their types,
defaults and help. This page is generated when the site is built, from the same listing that `ganlab list`
prints, so it always matches the code; components of the plugin packages in `plugins/` are marked with
their package, which must be installed to use them (see [Plugins in this repository](plugins/packages.md)).
What each kind must be is in the [contract reference](plugins/contracts.md); the recipe format in
[Recipes](recipes.md).
"""


def plugin_packages() -> Iterator[tuple[str, str, str, Path]]:
    """(plugin name, module, package name, source folder) of every plugin package in ``plugins/``, read
    from its pyproject.toml's ``ganlab`` entry points, as pip would install it."""
    for pyproject in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
        for name, module in project.get("entry-points", {}).get("ganlab", {}).items():
            yield name, module, project["name"], pyproject.parent


def cell(text: str) -> str:
    """Text as one markdown table cell: a pipe would end the cell, angle brackets would become markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def render() -> str:
    """The whole page: every kind of ``ganlab.KINDS``, in order, and every component of it."""
    packages = list(plugin_packages())
    sys.path[:0] = [str(ROOT), *(str(folder) for *_, folder in packages)]  # this checkout, installed or not
    from ganlab import KINDS
    from ganlab.cli.listing import listed
    from ganlab.loading.manager import load_plugins

    plugins = load_plugins(
        [(name, importlib.import_module(module)) for name, module, _, _ in packages], entry_points=False, strict=True
    )
    package_of = {name: package for name, _, package, _ in packages}
    parts = [INTRO]
    for kind in KINDS:
        parts.append(f"## {kind}\n")
        for component in listed(plugins, kind):
            where = (
                f"package `{package_of[component.plugin]}`"
                if component.plugin in package_of
                else f"built in (`{component.plugin}`)"
            )
            parts.append(
                f"### {kind} `{component.name}`\n\n*{where}*{': ' + component.help if component.help else ''}\n"
            )
            if component.settings:
                parts.append("| key | type | default | what it sets |\n| --- | --- | --- | --- |")
                parts += [
                    f"| `{s.name}` | {cell(s.type)} | {cell(s.default.removeprefix('= '))} | {cell(s.help)} |"
                    for s in component.settings
                ]
                parts.append("")
            else:
                parts.append("No settings.\n")
    return "\n".join(parts)


def on_files(files, config):
    """Add the generated page to the site's files, where the nav finds it."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files
