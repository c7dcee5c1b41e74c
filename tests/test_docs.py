"""The documentation holds together: the README stays a short front page whose two set-up commands are
the ones people copy, every page of docs/ is in the site's navigation, and the generated components
reference lists every component ``ganlab list`` lists, plugin packages' included, with the same settings."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from ganlab import KINDS
from ganlab.cli.listing import listed

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text("utf-8")

SET_UP_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && ganlab run experiments/quickstart.toml",
    (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' -e plugins/ganlab-wgan "
        "-e plugins/ganlab-sngan -e plugins/ganlab-lsgan -e plugins/ganlab-augment -e plugins/ganlab-regularizers "
        "-e plugins/ganlab-tensorboard && pytest -q"
    ),
)


@pytest.mark.parametrize("command", SET_UP_COMMANDS, ids=["quickstart", "tests"])
def test_the_readme_keeps_its_set_up_commands_verbatim(command):
    assert f"```bash\n{command}\n```" in README


def test_the_readme_stays_a_short_front_page():
    assert len(README.splitlines()) <= 150


def test_every_local_link_of_the_readme_leads_to_a_file():
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)]+)\)", README) if "://" not in t]
    assert targets and [t for t in targets if not (ROOT / t).is_file()] == []


def mkdocs_nav() -> list[str]:
    """The nav of mkdocs.yml, read without a YAML library: its ``- Title: page.md`` lines."""
    text = (ROOT / "mkdocs.yml").read_text("utf-8")
    return re.findall(r"^\s*- [^:\n]+: (\S+\.md)$", text[text.index("\nnav:") :], re.MULTILINE)


def test_every_page_in_docs_is_in_the_navigation_and_every_navigated_page_exists():
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    navigated = mkdocs_nav()
    assert sorted(set(navigated) - {"components.md"}) == pages
    assert not (DOCS / "components.md").exists(), "the components reference is generated, never committed"


@pytest.fixture(scope="module")
def components_page() -> str:
    spec = importlib.util.spec_from_file_location("components_page", DOCS / "generate" / "components_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render()


def test_the_components_reference_has_every_kind_and_every_plugin_package(components_page):
    assert [line[3:] for line in components_page.splitlines() if line.startswith("## ")] == list(KINDS)
    for pyproject in (ROOT / "plugins").glob("*/pyproject.toml"):
        assert f"*package `{pyproject.parent.name}`*" in components_page


def test_the_components_reference_says_what_ganlab_list_says(components_page, plugins):
    for kind in KINDS:
        for component in listed(plugins, kind):
            section = components_page[components_page.index(f"### {kind} `{component.name}`\n") :]
            section = section[: section.index("\n### ") if "\n### " in section else None]
            assert component.help in section
            for setting in component.settings:
                assert f"| `{setting.name}` |" in section


OTHER_PROJECTS = {"dcgan/main.py"}
"""Files of other projects a page names (pytorch/examples' DCGAN), which are not in this repository."""


def code_paths(text: str) -> set[str]:
    """Every ``folder/module.py`` a page names in backticks."""
    return set(re.findall(r"`((?:[\w.-]+/)+[\w.-]+\.py)`", text))


@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *DOCS.rglob("*.md")]))
def test_every_source_file_a_page_names_exists(page):
    """Pages name modules by their path from the repository or from ``ganlab/``; a moved module is a page to
    update, found here rather than by a reader."""
    missing = [
        path
        for path in code_paths((ROOT / page).read_text("utf-8"))
        if path not in OTHER_PROJECTS and not (ROOT / path).exists() and not (ROOT / "ganlab" / path).exists()
    ]
    assert missing == []


def resolves(dotted: str) -> bool:
    """Whether ``ganlab.x.y`` names a module, or a module's attribute (a class's too)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
        except ModuleNotFoundError:  # a parent that is a module, not a package: the name is an attribute
            continue
        target = importlib.import_module(module_name)
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *DOCS.rglob("*.md")]))
def test_every_ganlab_name_a_page_gives_exists(page):
    names = set(re.findall(r"`(ganlab(?:\.\w+)+)", (ROOT / page).read_text("utf-8")))
    deprecated = {"ganlab.report.html", "ganlab.report.figures", "ganlab.EvaluationHook"}
    assert sorted(name for name in names - deprecated if not resolves(name)) == []
