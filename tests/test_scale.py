"""Scale: several processes through torchrun/DDP on CPU (gloo), mixed precision, EMA, channels-last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ganlab.engine import Run, build, run_recipe
from ganlab.recipe import load_recipe
from ganlab.checkpoints import load_checkpoint
from ganlab.runs import RunDir

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


def ganlab_subprocess(args, env_path: Path | None = None, timeout=240):
    env = dict(os.environ)
    if env_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(env_path), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "ganlab", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture
def mlp_site(tmp_path):
    """A plugin with batch-norm-free networks, discoverable by subprocesses through PYTHONPATH."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "gl_test_mlp.py").write_text(textwrap.dedent(MLP_PLUGIN))
    info = site / "gl_test_mlp-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gl_test_mlp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ganlab]\ngl_test_mlp = gl_test_mlp\n")
    return site


def final_state(run_dir: Path) -> dict:
    return load_checkpoint(sorted((run_dir / "checkpoints").glob("*.pt"))[-1])


def test_two_processes_match_one_with_the_same_global_batch(write_recipe, mlp_site, tmp_path):
    """Without batch norm the math allows an exact match up to float summation order."""
    recipe = write_recipe({"generator": {"name": "mlp", "features": 32}, "discriminator": {"name": "mlp", "features": 32}})
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
    from ganlab.testing import TINY_RECIPE
    from ganlab import tomlwrite

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
    first = ganlab_subprocess(["run", write_recipe({"train": {"epochs": 1}}), "--nproc", "2", "--out", tmp_path,
                               "--no-progress"])
    assert first.returncode == 0, first.stderr[-3000:]
    [run_dir] = tmp_path.glob("tiny-*")
    resumed = ganlab_subprocess(["run", "--resume", run_dir, "--set", "train.epochs=2", "--nproc", "2",
                                 "--no-progress"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    assert RunDir(run_dir).read_metrics() != [] and \
        [(m["step"], m["loss_d"], m["loss_g"]) for m in RunDir(run_dir).read_metrics()] == \
        [(m["step"], m["loss_d"], m["loss_g"]) for m in RunDir(reference).read_metrics()]
    a, b = final_state(run_dir)["generator"], final_state(reference)["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_batch_that_does_not_split_over_processes_is_a_recipe_error(write_recipe, tmp_path):
    done = ganlab_subprocess(["run", write_recipe({"train": {"batch_size": 15}}), "--nproc", "2",
                              "--out", tmp_path, "--no-progress"])
    assert done.returncode != 0
    assert "train.batch_size: 15 images cannot be split evenly over 2 processes" in done.stdout + done.stderr


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
    run = Run(build(recipe), RunDir.create(tmp_path / "again", "x"), plugins, progress=False)
    assert run.sampler is run.ema.module and run.sampler is not run.generator


def test_without_ema_samples_come_from_the_trained_generator(write_recipe, plugins, tmp_path):
    recipe = load_recipe(write_recipe(), plugins.registry)
    run = Run(build(recipe), RunDir.create(tmp_path, "x"), plugins, progress=False)
    assert run.ema is None and run.sampler is run.generator


def test_channels_last_computes_the_same_training(write_recipe, plugins, tmp_path):
    def losses(changes, out):
        recipe = load_recipe(write_recipe({"train": changes}), plugins.registry)
        return [m["loss_g"] for m in run_recipe(recipe, plugins, tmp_path / out, progress=False).read_metrics()]

    assert losses({"channels_last": True}, "a") == pytest.approx(losses({}, "b"), rel=1e-4)
