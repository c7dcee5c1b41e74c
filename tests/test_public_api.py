"""One public API for plugins: ``ganlab.__all__`` and the modules in ``ganlab.PUBLIC_MODULES``. The plugin
packages in plugins/ and the plugin guide's examples import nothing else of ganlab, so whatever they do, any
third-party plugin can do too."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

import ganlab

ROOT = Path(__file__).parents[1]
GUIDE = "\n".join(path.read_text("utf-8") for path in sorted((ROOT / "docs" / "plugins").glob("*.md")))


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def ganlab_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every ganlab module ``source`` imports: ``from ganlab.page import html`` imports
    the module ``ganlab.page.html``, ``from ganlab import Loss`` the module ``ganlab``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [
                (
                    node.lineno,
                    f"{node.module}.{alias.name}" if is_module(f"{node.module}.{alias.name}") else node.module,
                )
                for alias in node.names
            ]
    return [(line, module) for line, module in found if module == "ganlab" or module.startswith("ganlab.")]


def private_imports(source: str) -> list[str]:
    return [f"line {line}: {module}" for line, module in ganlab_imports(source) if module not in ganlab.PUBLIC_MODULES]


def test_the_import_check_tells_public_from_private_modules():
    source = (
        "import ganlab\nfrom ganlab import Loss\nfrom ganlab.page import html\nimport ganlab_wgan\n"
        "from ganlab.components.dcgan import DCGANDiscriminator\nfrom ganlab.training import loop\n"
    )
    assert private_imports(source) == ["line 5: ganlab.components.dcgan", "line 6: ganlab.training.loop"]


@pytest.mark.parametrize("path", sorted((ROOT / "plugins").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_packages_import_only_the_public_api(path):
    assert private_imports(path.read_text("utf-8")) == []


def test_the_plugin_guide_s_examples_import_only_the_public_api():
    blocks = re.findall(r"```python\n(.*?)```", GUIDE, re.S)
    assert blocks, "the plugin guide has python examples"
    assert [problem for block in blocks for problem in private_imports(block)] == []


@pytest.mark.parametrize("name", ganlab.__all__)
def test_every_exported_name_exists(name):
    assert hasattr(ganlab, name)


@pytest.mark.parametrize("module", ganlab.PUBLIC_MODULES)
def test_every_public_module_imports_and_is_named_in_the_plugin_guide(module):
    importlib.import_module(module)
    assert f"`{module}`" in GUIDE


@pytest.mark.parametrize(
    "old, new", [("ganlab.report.html", "ganlab.page.html"), ("ganlab.report.figures", "ganlab.page.figures")]
)
def test_the_page_kit_old_module_names_still_work_and_say_they_are_deprecated(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: import {new} instead"):
        module = importlib.import_module(old)
    assert all(
        getattr(module, name) is getattr(importlib.import_module(new), name)
        for name in dir(importlib.import_module(new))
        if not name.startswith("_")
    )


@pytest.mark.parametrize("name", ["ConditionalDiscriminator", "OptimizerFactory", "InitScheme"])
def test_the_contracts_nothing_checked_still_import_and_say_they_are_deprecated(name):
    assert name not in ganlab.__all__
    with pytest.warns(DeprecationWarning, match=f"ganlab.{name} is deprecated and goes in ganlab 0.6"):
        assert getattr(ganlab, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = ganlab.NoSuchName
