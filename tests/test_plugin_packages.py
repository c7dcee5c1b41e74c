"""The plugin packages in plugins/: what ganlab says when one is missing, their recipes, and (where
they are installed, as in CI) discovery through their entry points."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import tomllib
from pathlib import Path

import pytest

from ganlab.loading.manager import load_plugins
from ganlab.registry.known import KNOWN
from ganlab.sweeps.sweep import SweepRequest, plan_sweep
from ganlab.tuning.plan import TuneRequest, read_study

ROOT = Path(__file__).parents[1]


def entry_point(pyproject: Path) -> str:
    """The name a package's plugin registers under: its one entry point of group ``ganlab``."""
    (name,) = tomllib.loads(pyproject.read_text("utf-8"))["project"]["entry-points"]["ganlab"]
    return name


PACKAGES = {path.parent.name: entry_point(path) for path in sorted((ROOT / "plugins").glob("*/pyproject.toml"))}
"""distribution -> plugin name, read from the folders in plugins/: the one list of the packages."""
QUICKSTARTS = {
    "ganlab-wgan": "experiments/wgan_gp_quickstart.toml",
    "ganlab-sngan": "experiments/sngan_quickstart.toml",
    "ganlab-lsgan": "experiments/lsgan_quickstart.toml",
    "ganlab-augment": "plugins/ganlab-augment/experiments/ada_quickstart.toml",
    "ganlab-regularizers": "plugins/ganlab-regularizers/experiments/r3gan_quickstart.toml",
    "ganlab-tensorboard": "plugins/ganlab-tensorboard/experiments/tensorboard_quickstart.toml",
}


def test_every_package_has_a_quickstart_recipe():
    assert sorted(QUICKSTARTS) == sorted(PACKAGES)


def test_the_readme_test_command_installs_every_plugin_package():
    """CI runs the README's test command, so that command is where CI learns the packages."""
    readme = (ROOT / "README.md").read_text("utf-8")
    (command,) = [line for line in readme.splitlines() if line.endswith("&& pytest -q")]
    assert sorted(re.findall(r"-e plugins/([\w-]+)", command)) == sorted(PACKAGES)


def test_the_docs_list_every_plugin_package():
    page = (ROOT / "docs" / "plugins" / "packages.md").read_text("utf-8")
    assert sorted(re.findall(r"^\| `(ganlab-[\w-]+)` \|", page, re.M)) == sorted(PACKAGES)


def package_plugins():
    """Each package's plugin module, imported from its source folder (no installation needed)."""
    return [(name, importlib.import_module(f"ganlab_{name}")) for name in PACKAGES.values()]


def installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_known_plugins_lists_exactly_what_each_package_registers():
    plugins = load_plugins(package_plugins(), entry_points=False)
    registered = {
        (e.kind, e.name): f"ganlab-{e.plugin}" for e in plugins.registry.entries() if e.plugin in PACKAGES.values()
    }
    assert registered == KNOWN


RECIPES = [*(ROOT / "experiments").glob("*.toml"), *(ROOT / "plugins").glob("*/experiments/*.toml")]


@pytest.mark.parametrize("recipe", sorted(str(p.relative_to(ROOT)) for p in RECIPES))
def test_every_recipe_in_experiments_resolves(recipe):
    """A sweep's recipe (one with a [sweep] table) resolves as `ganlab sweep` resolves it: its base recipe
    and its table; a study's (a [tune] table) as `ganlab tune` reads it before it builds the recipe (whose
    data may not be on this machine)."""
    plugins = load_plugins(package_plugins(), entry_points=False)
    assert plugins.failures == []
    if "tune" in tomllib.loads((ROOT / recipe).read_text("utf-8")):
        read_study(TuneRequest(ROOT / recipe), plugins)
    else:
        plan_sweep(SweepRequest(ROOT / recipe), plugins)


REPORT_EVALUATORS = ("loss-curves", "d-distributions", "samples", "training-health")
"""The evaluators that make a run's report: its loss curves, D's score distributions, the samples and their GIF,
and the health flags. Every shipped recipe has them, so no report lacks a view another one has."""


@pytest.mark.parametrize("recipe", sorted(str(p.relative_to(ROOT)) for p in RECIPES))
def test_every_shipped_recipe_has_the_report_evaluators(recipe):
    recipe_tables = tomllib.loads((ROOT / recipe).read_text("utf-8")).get("evaluators", [])
    evaluators = {evaluator.get("name") for evaluator in recipe_tables}
    assert [name for name in REPORT_EVALUATORS if name not in evaluators] == [], f"{recipe} lacks report evaluators"


def test_a_recipe_naming_a_missing_package_s_components_says_what_to_install(run_cli, monkeypatch):
    monkeypatch.setenv("GANLAB_DISABLE_PLUGINS", "wgan")
    result = run_cli("validate", ROOT / "experiments" / "wgan_gp_quickstart.toml")
    assert result.exit_code == 2
    for line in (
        "discriminator.name: unknown discriminator 'wgan-critic'; it is provided by the plugin "
        "package 'ganlab-wgan': pip install ganlab-wgan",
        "loss.name: unknown loss 'wgan-gp'; it is provided by the plugin package 'ganlab-wgan': "
        "pip install ganlab-wgan",
    ):
        assert line in result.stderr


@pytest.mark.parametrize("distribution", sorted(PACKAGES))
def test_installed_package_is_discovered_through_its_entry_point(distribution, run_cli):
    if not installed(distribution):
        pytest.skip(f"{distribution} is not installed here (.ci/run installs it)")
    rows = {r["name"]: r for r in json.loads(run_cli("plugins", "--json").stdout)["plugins"]}
    row = rows[PACKAGES[distribution]]
    assert (row["distribution"], row["version"]) == (distribution, importlib.metadata.version(distribution))
    assert sorted(row["components"]) == sorted(
        f"{kind}:{name}" for (kind, name), package in KNOWN.items() if package == distribution
    )
    # enough images for one step of every quickstart (WGAN-GP's 5 critic batches of 64 need 320)
    result = run_cli("validate", ROOT / QUICKSTARTS[distribution], "--set", "data.num_images=320")
    assert result.exit_code == 0, result.output
