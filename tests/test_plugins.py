"""Plugin loading: built-ins register like anyone else; entry points are discovered; a broken plugin
is reported by name and skipped (or fatal in strict mode)."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from pathlib import Path

import pytest

from ganlab import hookimpl, param
from ganlab.loading.manager import BUILTIN_PLUGINS, load_plugins
from ganlab.registry.registry import KINDS


@dataclasses.dataclass
class NoConfig:
    pass


@dataclasses.dataclass
class MarginConfig:
    margin: float = param(1.0, "hinge margin")


class LossPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("loss", "hinge-test", lambda c, ctx: None, MarginConfig, help="test loss")


def make_distribution(root: Path, name: str, module_source: str) -> None:
    """An importable module plus a dist-info with a ``ganlab`` entry point: discoverable, not installed."""
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[ganlab]\n{name} = {name}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("gl_test_")]:
        del sys.modules[name]


GOOD = """
    import dataclasses
    from ganlab import hookimpl

    @dataclasses.dataclass
    class Config:
        pass

    @hookimpl
    def ganlab_register(registry):
        registry.add("init", "from-entry-point", lambda c, ctx: (lambda m: None), Config)
"""


def test_every_builtin_component_registers_through_the_plugin_hook(plugins):
    owners = {e.plugin for e in plugins.registry.entries()}
    assert owners == set(BUILTIN_PLUGINS)
    for kind in ("generator", "discriminator", "loss", "optimizer", "init", "dataset"):
        assert plugins.registry.names(kind), kind
    assert plugins.failures == []


def test_registry_knows_the_required_kinds():
    assert set(KINDS) >= {"generator", "discriminator", "loss", "optimizer", "init", "dataset", "evaluator"}


def test_an_extra_plugin_object_adds_components_in_its_own_name():
    loaded = load_plugins([("my-plugin", LossPlugin())], entry_points=False)
    entry = loaded.registry.get("loss", "hinge-test")
    assert entry.plugin == "my-plugin" and entry.config is MarginConfig


def test_entry_point_is_discovered_without_installing(site):
    make_distribution(site, "gl_test_good", GOOD)
    loaded = load_plugins()
    entry = loaded.registry.get("init", "from-entry-point")
    assert entry is not None and entry.plugin == "gl_test_good"
    info = next(i for i in loaded.infos if i.name == "gl_test_good")
    assert (info.version, info.distribution, info.builtin) == ("1.2.3", "gl_test_good", False)


def test_plugin_that_fails_to_import_is_reported_by_name_and_skipped(site):
    make_distribution(site, "gl_test_broken", "raise ImportError('needs a missing library')\n")
    make_distribution(site, "gl_test_good", GOOD)
    loaded = load_plugins()
    [failure] = loaded.failures
    assert failure.plugin == "gl_test_broken" and failure.stage == "import"
    assert "needs a missing library" in failure.message()
    assert loaded.registry.get("init", "from-entry-point") is not None


def test_plugin_whose_hook_raises_is_skipped_and_its_entries_dropped():
    class HalfBroken:
        @hookimpl
        def ganlab_register(self, registry):
            registry.add("loss", "half", lambda c, ctx: None, NoConfig)
            raise RuntimeError("boom")

    loaded = load_plugins([("half-broken", HalfBroken())], entry_points=False)
    assert loaded.registry.get("loss", "half") is None
    assert [f.message() for f in loaded.failures] == [
        "plugin 'half-broken' failed to register: RuntimeError: boom (skipped)"
    ]
    assert loaded.registry.get("generator", "dcgan") is not None


def test_duplicate_name_is_an_error_naming_both_plugins():
    class Duplicate:
        @hookimpl
        def ganlab_register(self, registry):
            registry.add("generator", "dcgan", lambda c, ctx: None, NoConfig)

    loaded = load_plugins([("copycat", Duplicate())], entry_points=False)
    [failure] = loaded.failures
    assert (
        "generator 'dcgan' is registered twice: by plugin 'ganlab.components.dcgan' and by plugin "
        "'copycat'" in failure.error
    )
    assert loaded.registry.get("generator", "dcgan").plugin == "ganlab.components.dcgan"


def test_unknown_kind_is_rejected():
    class Weird:
        @hookimpl
        def ganlab_register(self, registry):
            registry.add("scheduler", "cosine", lambda c, ctx: None, NoConfig)

    loaded = load_plugins([("weird", Weird())], entry_points=False)
    assert "under unknown kind 'scheduler'" in loaded.failures[0].error
