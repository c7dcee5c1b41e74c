"""Installed plugins are found through entry points; broken ones are named and skipped, or fatal in strict
mode; GANLAB_DISABLE_PLUGINS and GANLAB_TRACE_PLUGINS do what the plugin guide says.

Plugins are "installed" without pip: a module and a ``*.dist-info`` folder on ``sys.path`` are exactly
what ``importlib.metadata`` reads for an installed distribution.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

GOOD = """
    import dataclasses
    import torch
    from ganlab import Loss, hookimpl

    @dataclasses.dataclass
    class Config:
        pass

    class MeanGap(Loss):
        def discriminator_loss(self, real_logits, fake_logits):
            return fake_logits.mean() - real_logits.mean()
        def generator_loss(self, fake_logits, real_logits=None):
            return -fake_logits.mean()

    @hookimpl
    def ganlab_register(registry):
        registry.add("loss", "mean-gap", lambda config, context: MeanGap(), Config, help="test loss")
"""

BROKEN = {
    "import": (
        "raise RuntimeError('no GPU driver found')",
        "plugin 'shaky' failed to import: RuntimeError: no GPU driver found",
    ),
    "hook raises": (
        """
        import dataclasses
        from ganlab import hookimpl

        @dataclasses.dataclass
        class Config:
            pass

        @hookimpl
        def ganlab_register(registry):
            registry.add("loss", "half-done", lambda config, context: None, Config)
            raise KeyError("settings")
        """,
        "plugin 'shaky' failed to register: KeyError: 'settings'",
    ),
    "duplicate name": (
        """
        import dataclasses
        from ganlab import hookimpl

        @dataclasses.dataclass
        class Config:
            pass

        @hookimpl
        def ganlab_register(registry):
            registry.add("loss", "bce", lambda config, context: None, Config)
        """,
        "plugin 'shaky' failed to register: PluginError: loss 'bce' is registered twice: by plugin "
        "'ganlab.components.losses' and by plugin 'shaky'",
    ),
    "misspelt hook": (
        """
        from ganlab import hookimpl

        @hookimpl
        def ganlab_regster(registry):
            pass
        """,
        "'ganlab_regster' is not a ganlab hook (did you mean 'ganlab_register'",
    ),
    "unmarked hook": (
        """
        def ganlab_register(registry):
            pass
        """,
        "ganlab_register is not marked with @ganlab.hookimpl",
    ),
}


@pytest.fixture
def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Callable[[str, str], None]:
    def install(name: str, source: str, version: str = "1.2.3") -> None:
        module = f"{name}_plugin_module"
        site = tmp_path / f"site-{name}"
        dist_info = site / f"ganlab_{name}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (site / f"{module}.py").write_text(textwrap.dedent(source), "utf-8")
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ganlab-{name}\nVersion: {version}\n")
        (dist_info / "entry_points.txt").write_text(f"[ganlab]\n{name} = {module}\n")
        monkeypatch.syspath_prepend(str(site))
        # the next test may install other source under the same module name
        request.addfinalizer(lambda: sys.modules.pop(module, None))

    return install


def plugin_rows(run_cli) -> dict[str, dict]:
    result = run_cli("plugins", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)["plugins"]}


def test_installed_plugin_is_listed_with_its_version_components_and_hooks(install_plugin, run_cli):
    install_plugin("extra", GOOD)
    row = plugin_rows(run_cli)["extra"]
    assert (row["distribution"], row["version"], row["builtin"]) == ("ganlab-extra", "1.2.3", False)
    assert (row["components"], row["hooks"]) == (["loss:mean-gap"], ["ganlab_register"])
    assert "extra  (ganlab-extra 1.2.3)" in run_cli("plugins").stdout
    assert "mean-gap  [ganlab-extra 1.2.3]" in run_cli("list", "loss").stdout


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_is_named_skipped_and_other_commands_still_work(case, install_plugin, run_cli, write_recipe):
    source, message = BROKEN[case]
    install_plugin("shaky", source)
    listing = run_cli("list", "loss")
    assert listing.exit_code == 0
    assert "ganlab: warning: plugin 'shaky' failed to" in listing.stderr and message in listing.stderr
    assert "bce  [ganlab.components.losses (built-in)]" in listing.stdout
    assert "half-done" not in listing.stdout  # a half-finished registration is undone
    assert "shaky" not in plugin_rows(run_cli)
    assert run_cli("validate", write_recipe()).exit_code == 0


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_strict_mode_makes_a_broken_plugin_fatal(case, install_plugin, run_cli, monkeypatch):
    source, message = BROKEN[case]
    install_plugin("shaky", source)
    monkeypatch.setenv("GANLAB_STRICT_PLUGINS", "1")
    result = run_cli("list")
    assert result.exit_code == 4
    assert result.stderr.startswith("ganlab: error: plugin 'shaky' failed to")
    assert message in result.stderr and "(GANLAB_STRICT_PLUGINS is set)" in result.stderr
    assert "Traceback" not in result.output


def test_disable_skips_the_named_plugins_built_in_ones_too(install_plugin, run_cli, monkeypatch):
    install_plugin("extra", GOOD)
    monkeypatch.setenv("GANLAB_DISABLE_PLUGINS", "extra, ganlab.components.losses")
    rows = plugin_rows(run_cli)
    assert "extra" not in rows and "ganlab.components.losses" not in rows
    assert "ganlab.components.dcgan" in rows
    assert "built-in" not in run_cli("list", "loss").stdout


def test_disabling_a_broken_plugin_silences_it(install_plugin, run_cli, monkeypatch):
    install_plugin("shaky", BROKEN["import"][0])
    monkeypatch.setenv("GANLAB_DISABLE_PLUGINS", "shaky")
    monkeypatch.setenv("GANLAB_STRICT_PLUGINS", "1")
    result = run_cli("list", "loss")
    assert result.exit_code == 0 and "shaky" not in result.output


def test_trace_prints_every_hook_call_naming_the_plugin(install_plugin, run_cli, monkeypatch):
    install_plugin("extra", GOOD)
    monkeypatch.setenv("GANLAB_TRACE_PLUGINS", "1")
    result = run_cli("list", "loss")
    trace = [line for line in result.stderr.splitlines() if line.startswith("ganlab trace: ")]
    assert any("<registry for plugin 'extra'>" in line for line in trace)
    assert any("<registry for plugin 'ganlab.components.dcgan'>" in line for line in trace)
    assert sum("finish ganlab_register" in line for line in trace) == len(plugin_rows(run_cli))


def test_without_trace_nothing_is_traced(install_plugin, run_cli, monkeypatch):
    monkeypatch.delenv("GANLAB_TRACE_PLUGINS", raising=False)
    assert "ganlab trace" not in run_cli("list", "loss").stderr


DECLARED = """
    import dataclasses
    import ganlab

    @dataclasses.dataclass
    class Config:
        margin: float = ganlab.param(1.0, "how far apart real and fake scores are pushed")

    @ganlab.component("loss", "margin-gap", config=Config, help="mean gap with a margin")
    class MarginGap(ganlab.Loss):
        def __init__(self, config, context):
            self.margin = config.margin
        def discriminator_loss(self, real_logits, fake_logits):
            return (self.margin + fake_logits - real_logits).clamp(min=0).mean()
        def generator_loss(self, fake_logits, real_logits=None):
            return -fake_logits.mean()
"""


def test_a_module_that_only_declares_components_is_listed_with_its_name(install_plugin, run_cli):
    install_plugin("declared", DECLARED)
    row = plugin_rows(run_cli)["declared"]
    assert (row["components"], row["hooks"]) == (["loss:margin-gap"], [])
    listing = run_cli("list", "loss").stdout
    assert "margin-gap  [ganlab-declared 1.2.3]" in listing and "margin: float = 1.0" in listing


def test_two_plugins_declaring_one_name_are_both_named(install_plugin, run_cli):
    install_plugin("first", DECLARED)
    install_plugin("second", DECLARED)
    [error] = [line for line in run_cli("plugins").stderr.splitlines() if "registered twice" in line]
    assert "loss 'margin-gap' is registered twice" in error and "'first'" in error and "'second'" in error
    kept = [name for name, row in plugin_rows(run_cli).items() if row["components"] == ["loss:margin-gap"]]
    assert len(kept) == 1 and kept[0] in ("first", "second") and kept[0] not in error.split(" failed")[0]


def test_a_disabled_plugin_declares_nothing(install_plugin, run_cli, monkeypatch):
    install_plugin("declared", DECLARED)
    monkeypatch.setenv("GANLAB_DISABLE_PLUGINS", "declared")
    assert "declared" not in plugin_rows(run_cli)
    assert "margin-gap" not in run_cli("list", "loss").stdout


def test_a_declared_class_is_built_from_its_config_and_context(install_plugin, run_cli, write_recipe):
    install_plugin("declared", DECLARED)
    result = run_cli("validate", write_recipe({"loss": {"name": "margin-gap", "margin": 2}}))
    assert result.exit_code == 0, result.output
    assert 'name = "margin-gap"\nmargin = 2.0' in result.stdout


def test_a_class_whose_constructor_cannot_take_config_and_context_is_refused_at_load(install_plugin, run_cli):
    install_plugin("declared", DECLARED.replace("def __init__(self, config, context)", "def __init__(self, config)"))
    result = run_cli("plugins")
    assert "plugin 'declared' failed to register" in result.output
    assert "loss 'margin-gap' is built by calling 'MarginGap' as factory(config, context)" in result.output


def test_extending_another_plugin_s_declared_class_declares_nothing_twice(install_plugin, run_cli):
    install_plugin("declared", DECLARED)
    install_plugin(
        "extension",
        """
        from declared_plugin_module import MarginGap

        class WideMarginGap(MarginGap):
            pass
    """,
    )
    rows = plugin_rows(run_cli)
    assert (rows["declared"]["components"], rows["extension"]["components"]) == (["loss:margin-gap"], [])
