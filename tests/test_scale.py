"""Scale: several processes through torchrun/DDP on CPU (gloo), mixed precision, EMA, channels-last."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ganlab_sngan
import ganlab_wgan
import pytest
import torch

from ganlab.common import tomlwrite
from ganlab.machine.distributed import World, draw_for_global_batch
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.testing import SHRINK, TINY_RECIPE, merge
from ganlab.training.assemble import build
from ganlab.training.lifecycle import run_recipe
from ganlab.training.loop import Trainer

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
PLUGIN_SOURCES = [Path(plugin.__file__).parents[1] for plugin in (ganlab_wgan, ganlab_sngan)]
"""Child processes import the plugins from this checkout, as the test process does (the root conftest.py)."""

MLP_PLUGIN = """
    import dataclasses
    import torch
    from torch import nn
    from ganlab import hookimpl

    @dataclasses.dataclass
    class GConfig:
        latent_dim: int = 8
        features: int = 32

    @dataclasses.dataclass
    class DConfig:
        features: int = 32

    class Generator(nn.Module):
        def __init__(self, latent_dim, width, size):
            super().__init__()
            self.latent_dim, self.size = latent_dim, size
            self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, 3 * size * size),
                                     nn.Tanh())

        def forward(self, z):
            return self.net(z).view(-1, 3, self.size, self.size)

    class Discriminator(nn.Module):
        def __init__(self, width, size):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, width), nn.LeakyReLU(0.2),
                                     nn.Linear(width, 1))

        def forward(self, x):
            return self.net(x).flatten()

    @hookimpl
    def ganlab_register(registry):
        registry.add("generator", "mlp", lambda c, ctx: Generator(c.latent_dim, c.features, ctx.image_size),
                     GConfig)
        registry.add("discriminator", "mlp", lambda c, ctx: Discriminator(c.features, ctx.image_size), DConfig)
"""


EVERY_RANK_SAVES = """
    import sys
    from pathlib import Path

    import torch
    from ganlab.cli import main as cli
    from ganlab.training import lifecycle

    class EveryRankSaves(lifecycle.Trainer):
        def train(self):
            super().train()
            state = {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict()}
            torch.save(state, Path(sys.argv[1]) / f"rank{self.world.rank}.pt")

    lifecycle.Trainer = EveryRankSaves
    cli.main(sys.argv[2:])
"""
"""``python -m gl_test_every_rank FOLDER run ...`` is ``ganlab run ...`` in which every process, not only the
main one, saves its networks' final weights and buffers in FOLDER."""


def python_subprocess(args, env_path: Path | None = None, timeout=240):
    env = dict(os.environ)
    paths = [env_path, *PLUGIN_SOURCES, env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths if p)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def ganlab_subprocess(args, env_path: Path | None = None, timeout=240):
    return python_subprocess(["-m", "ganlab", *args], env_path, timeout)


@pytest.fixture(scope="module")
def mlp_site(tmp_path_factory):
    """A plugin with batch-norm-free networks, discoverable by subprocesses through PYTHONPATH, and the
    every-rank-saves launcher."""
    site = tmp_path_factory.mktemp("site")
    (site / "gl_test_mlp.py").write_text(textwrap.dedent(MLP_PLUGIN))
    (site / "gl_test_every_rank.py").write_text(textwrap.dedent(EVERY_RANK_SAVES))
    info = site / "gl_test_mlp-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gl_test_mlp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ganlab]\ngl_test_mlp = gl_test_mlp\n")
    return site


def final_state(run_dir: Path) -> dict:
    return load_checkpoint(sorted((run_dir / "checkpoints").glob("*.pt"))[-1])


def test_two_processes_match_one_with_the_same_global_batch(write_recipe, mlp_site, tmp_path):
    """Without batch norm the math allows an exact match up to float summation order."""
    recipe = write_recipe(
        {"generator": {"name": "mlp", "features": 32}, "discriminator": {"name": "mlp", "features": 32}}
    )
    results = {}
    for nproc in (1, 2):
        out = tmp_path / f"runs{nproc}"
        done = ganlab_subprocess(["run", recipe, "--nproc", nproc, "--out", out, "--no-progress"], mlp_site)
        assert done.returncode == 0, done.stderr[-3000:]
        [run_dir] = out.iterdir()
        results[nproc] = run_dir
    single, double = (RunDir(results[n]).read_metrics() for n in (1, 2))
    assert [m["step"] for m in double] == [m["step"] for m in single] == list(range(1, 9))
    for a, b in zip(single, double):
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (a["step"], key)
    g1, g2 = final_state(results[1])["generator"], final_state(results[2])["generator"]
    assert all(torch.allclose(g1[k], g2[k], rtol=1e-5, atol=1e-6) for k in g1)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> tuple[Path, str]:
    """The tiny DCGAN recipe (2 epochs of 4 steps) trained by two processes; shared by several tests."""
    folder = tmp_path_factory.mktemp("ddp")
    recipe = folder / "recipe.toml"
    recipe.write_text(tomlwrite.dumps(TINY_RECIPE))
    done = ganlab_subprocess(["run", recipe, "--nproc", "2", "--out", folder / "runs", "--no-progress"])
    assert done.returncode == 0, done.stderr[-3000:]
    [run_dir] = (folder / "runs").iterdir()
    return run_dir, done.stdout


def test_dcgan_with_two_processes_writes_the_run_directory_once(two_process_run):
    run_dir, stdout = two_process_run
    assert stdout.strip().splitlines() == [str(run_dir)]
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["steps"] == 8
    assert [m["step"] for m in RunDir(run_dir).read_metrics()] == list(range(1, 9))
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]


def test_two_processes_resume_to_the_same_end_as_an_uninterrupted_run(two_process_run, write_recipe, tmp_path):
    reference, _ = two_process_run
    first = ganlab_subprocess(
        ["run", write_recipe({"train": {"epochs": 1}}), "--nproc", "2", "--out", tmp_path, "--no-progress"]
    )
    assert first.returncode == 0, first.stderr[-3000:]
    [run_dir] = tmp_path.glob("tiny-*")
    resumed = ganlab_subprocess(
        ["run", "--resume", run_dir, "--set", "train.epochs=2", "--nproc", "2", "--no-progress"]
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    assert RunDir(run_dir).read_metrics() != [] and [
        (m["step"], m["loss_d"], m["loss_g"]) for m in RunDir(run_dir).read_metrics()
    ] == [(m["step"], m["loss_d"], m["loss_g"]) for m in RunDir(reference).read_metrics()]
    a, b = final_state(run_dir)["generator"], final_state(reference)["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_batch_that_does_not_split_over_processes_is_a_recipe_error(write_recipe, tmp_path):
    done = ganlab_subprocess(
        ["run", write_recipe({"train": {"batch_size": 15}}), "--nproc", "2", "--out", tmp_path, "--no-progress"]
    )
    assert done.returncode != 0
    assert "train.batch_size: 15 images cannot be split evenly over 2 processes" in done.stdout + done.stderr
    assert list(tmp_path.glob("tiny-*")) == []  # refused before any run directory was made


def test_processes_draw_their_own_rows_of_the_draw_one_process_makes_for_the_global_batch():
    def draw(n):
        return torch.rand(n, 3, generator=torch.Generator().manual_seed(5))

    shares = [draw_for_global_batch(draw, 4, World(rank, 3)) for rank in range(3)]
    assert torch.equal(torch.cat(shares), draw_for_global_batch(draw, 12, World()))
    assert not torch.equal(shares[0], shares[1])


# The plugins' recipes pair their discriminators with the DCGAN generator, whose batch norm makes two
# processes differ from one (each normalises its half batch; sync batch norm is CUDA only). The plugins'
# components are compared with the batch-norm-free mlp generator instead; their own recipes are checked
# to train cleanly.
PLUGIN_RECIPES = {
    "wgan-gp": {
        "generator": {"name": "mlp"},
        "discriminator": {"name": "wgan-critic", "features": 4},
        "loss": {"name": "wgan-gp", "gp_weight": 10.0},
        "optimizer": {
            "generator": {"lr": 1e-4, "betas": [0.0, 0.9]},
            "discriminator": {"lr": 1e-4, "betas": [0.0, 0.9]},
        },
        "data": {"num_images": 160},
        "train": {"d_steps": 5},
    },
    "sngan-hinge": {
        "generator": {"name": "mlp"},
        "discriminator": {"name": "sngan", "features": 4},
        "loss": {"name": "hinge"},
    },
}


@dataclasses.dataclass
class PluginRuns:
    """One plugin recipe trained by one process and by two; ``ranks`` holds each of the two processes'
    final networks."""

    single: Path
    double: Path
    double_stdout: str
    ranks: list[dict] = dataclasses.field(repr=False)


def train_with_one_and_two_processes(name: str, site: Path, folder: Path) -> PluginRuns:
    recipe = folder / "recipe.toml"
    recipe.write_text(tomlwrite.dumps(merge(TINY_RECIPE, PLUGIN_RECIPES[name])))
    single = ganlab_subprocess(["run", recipe, "--out", folder / "one", "--no-progress"], site)
    assert single.returncode == 0, single.stderr[-3000:]
    double = python_subprocess(
        [
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "gl_test_every_rank",
            folder,
            "run",
            recipe,
            "--out",
            folder / "two",
            "--no-progress",
        ],
        site,
    )
    assert double.returncode == 0, double.stderr[-3000:]
    [single_dir], [double_dir] = (folder / "one").iterdir(), (folder / "two").iterdir()
    ranks = [torch.load(folder / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    return PluginRuns(single_dir, double_dir, double.stdout, ranks)


@pytest.fixture(scope="module")
def wgan_gp_runs(mlp_site, tmp_path_factory) -> PluginRuns:
    return train_with_one_and_two_processes("wgan-gp", mlp_site, tmp_path_factory.mktemp("wgan-gp"))


@pytest.fixture(scope="module")
def sngan_runs(mlp_site, tmp_path_factory) -> PluginRuns:
    return train_with_one_and_two_processes("sngan-hinge", mlp_site, tmp_path_factory.mktemp("sngan"))


@pytest.fixture(params=["wgan_gp_runs", "sngan_runs"])
def plugin_runs(request) -> PluginRuns:
    return request.getfixturevalue(request.param)


SAME_UP_TO_SUMMATION_ORDER = functools.partial(torch.allclose, rtol=1e-5, atol=1e-6)


def differing_tensors(a: dict, b: dict, same=torch.equal) -> list[str]:
    """The generator and discriminator tensors of state ``a`` that ``same`` tells apart from ``b``'s."""
    return [
        f"{net}.{key}" for net in ("generator", "discriminator") for key in a[net] if not same(a[net][key], b[net][key])
    ]


def test_plugin_components_train_with_two_processes_into_one_run_directory(plugin_runs):
    run_dir = plugin_runs.double
    assert plugin_runs.double_stdout.strip().splitlines() == [str(run_dir)]
    assert RunDir(run_dir).read_meta()["status"] == "finished"
    metrics = RunDir(run_dir).read_metrics()
    assert metrics and all(math.isfinite(m[key]) for m in metrics for key in ("loss_d", "loss_g"))


def test_plugin_components_with_two_processes_match_one_process(plugin_runs):
    """Gradient penalty (double backward through DDP) and spectral norm (power-iteration buffers updated in
    forward) compute what one process computes on the same global batch, step by step."""
    single, double = (RunDir(d).read_metrics() for d in (plugin_runs.single, plugin_runs.double))
    assert [m["step"] for m in double] == [m["step"] for m in single] and len(single) >= 4
    for a, b in zip(single, double):
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (a["step"], key)
    assert (
        differing_tensors(final_state(plugin_runs.single), final_state(plugin_runs.double), SAME_UP_TO_SUMMATION_ORDER)
        == []
    )


def test_every_process_ends_with_the_weights_and_buffers_the_checkpoint_holds(plugin_runs):
    """Including spectral norm's power-iteration vectors, which every process updates in its forward passes."""
    saved = final_state(plugin_runs.double)
    for rank in plugin_runs.ranks:
        assert all(rank[net].keys() == saved[net].keys() for net in ("generator", "discriminator"))
        assert differing_tensors(rank, saved) == []


def test_wgan_gp_with_two_processes_resumes_to_the_same_end_as_an_uninterrupted_run(wgan_gp_runs, mlp_site, tmp_path):
    reference = wgan_gp_runs.double
    recipe = reference / "recipe.toml"
    first = ganlab_subprocess(
        ["run", recipe, "--set", "train.epochs=1", "--nproc", 2, "--out", tmp_path, "--no-progress"], mlp_site
    )
    assert first.returncode == 0, first.stderr[-3000:]
    [run_dir] = tmp_path.iterdir()
    resumed = ganlab_subprocess(
        ["run", "--resume", run_dir, "--set", "train.epochs=2", "--nproc", 2, "--no-progress"], mlp_site
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    steps = [(m["step"], m["loss_d"], m["loss_g"]) for m in RunDir(run_dir).read_metrics()]
    assert len(steps) == 4 and steps == [
        (m["step"], m["loss_d"], m["loss_g"]) for m in RunDir(reference).read_metrics()
    ]
    assert differing_tensors(final_state(run_dir), final_state(reference)) == []


@pytest.mark.parametrize("recipe", ["wgan_gp_quickstart.toml", "sngan_quickstart.toml"])
def test_plugin_quickstart_recipes_train_with_two_processes(recipe, tmp_path):
    done = ganlab_subprocess(
        [
            "run",
            EXPERIMENTS / recipe,
            *[a for o in SHRINK for a in ("--set", o)],
            "--nproc",
            2,
            "--out",
            tmp_path,
            "--no-progress",
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [run_dir] = tmp_path.iterdir()
    assert done.stdout.strip().splitlines() == [str(run_dir)]
    meta, metrics = RunDir(run_dir).read_meta(), RunDir(run_dir).read_metrics()
    assert meta["status"] == "finished"
    assert [m["step"] for m in metrics] == list(range(1, meta["total_steps"] + 1))
    assert all(math.isfinite(m[key]) for m in metrics for key in ("loss_d", "loss_g"))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_the_tiny_recipe_end_to_end(write_recipe, plugins, tmp_path, precision):
    recipe = load_recipe(write_recipe({"train": {"precision": precision}}), plugins.registry)
    run_dir = run_recipe(recipe, plugins, tmp_path, progress=False)
    metrics = run_dir.read_metrics()
    assert run_dir.read_meta()["status"] == "finished" and len(metrics) == 8
    assert all(torch.isfinite(torch.tensor([m["loss_d"], m["loss_g"]])).all() for m in metrics)
    state = final_state(run_dir.path)
    assert ("scaler_g" in state) == (precision == "fp16")


def test_ema_weights_are_averaged_saved_and_used_for_samples(write_recipe, plugins, tmp_path):
    recipe = load_recipe(write_recipe({"train": {"ema": 0.9}}), plugins.registry)
    run_dir = run_recipe(recipe, plugins, tmp_path, progress=False)
    state = final_state(run_dir.path)
    raw, ema = state["generator"], state["ema"]
    weights = [k for k in raw if k.endswith("weight")]
    assert all(not torch.equal(raw[k], ema[k]) for k in weights)
    assert all(torch.equal(raw[k], ema[k]) for k in raw if "running" in k), "buffers are copied"
    run = Trainer(build(recipe), RunDir.create(tmp_path / "again", "x"), plugins, progress=False)
    assert run.sampler is run.ema.module and run.sampler is not run.generator


def test_without_ema_samples_come_from_the_trained_generator(write_recipe, plugins, tmp_path):
    recipe = load_recipe(write_recipe(), plugins.registry)
    run = Trainer(build(recipe), RunDir.create(tmp_path, "x"), plugins, progress=False)
    assert run.ema is None and run.sampler is run.generator


def test_channels_last_computes_the_same_training(write_recipe, plugins, tmp_path):
    def losses(changes, out):
        recipe = load_recipe(write_recipe({"train": changes}), plugins.registry)
        return [m["loss_g"] for m in run_recipe(recipe, plugins, tmp_path / out, progress=False).read_metrics()]

    assert losses({"channels_last": True}, "a") == pytest.approx(losses({}, "b"), rel=1e-4)


def test_with_channels_last_the_ema_weights_share_the_live_weights_layout(write_recipe, plugins, tmp_path):
    # _foreach_lerp_ between tensors of different layouts falls off its fast path
    recipe = load_recipe(write_recipe({"train": {"channels_last": True, "ema": 0.9}}), plugins.registry)
    run = Trainer(build(recipe), RunDir.create(tmp_path, "x"), plugins, progress=False)
    convolutions = [(name, p) for name, p in run.generator.named_parameters() if p.ndim == 4]
    ema = dict(run.ema.module.named_parameters())
    assert convolutions
    for name, live in convolutions:
        assert live.is_contiguous(memory_format=torch.channels_last)
        assert ema[name].stride() == live.stride(), name


def test_compiled_networks_train_as_eager_ones_and_checkpoint_plain_weights(
    write_recipe, plugins, tmp_path, monkeypatch
):
    # aot_eager runs dynamo's capture and AOTAutograd's backward graph without needing a C++ compiler, so
    # what ganlab wraps around the compiled modules (DDP's no_sync, state dicts, samples) is what is tested
    compiled_modules = []

    def compile_for_test(module):
        compiled_modules.append(type(module).__name__)
        return compile_with_backend(module, backend="aot_eager")

    compile_with_backend = torch.compile
    monkeypatch.setattr(torch, "compile", compile_for_test)

    def trained(changes, out):
        recipe = load_recipe(write_recipe({"train": changes}), plugins.registry)
        run_dir = run_recipe(recipe, plugins, tmp_path / out, progress=False)
        return [m["loss_g"] for m in run_dir.read_metrics()], final_state(run_dir.path)

    compiled_losses, compiled = trained({"compile": True}, "compiled")
    assert sorted(compiled_modules) == ["DCGANDiscriminator", "DCGANGenerator"]
    eager_losses, eager = trained({}, "eager")
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-4)
    assert compiled["generator"].keys() == eager["generator"].keys(), "no _orig_mod. prefix in checkpoints"
    for key, value in eager["generator"].items():
        torch.testing.assert_close(compiled["generator"][key], value, rtol=1e-4, atol=1e-5)
