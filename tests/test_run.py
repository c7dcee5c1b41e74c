"""End to end: `ganlab run` on tiny recipes, the run directory it leaves, determinism, interruption."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from PIL import Image

from ganlab import hookimpl
from ganlab.common.errors import RecipeError
from ganlab.contracts.engine import Evaluator
from ganlab.loading.manager import load_plugins
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import load_checkpoint
from ganlab.rundir.rundir import RunDir
from ganlab.training.lifecycle import run_recipe
from ganlab.training.stopping import RunInterrupted


def run_dir_of(result) -> Path:
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def test_run_prints_the_run_directory_as_the_last_line(run_cli, write_recipe, tmp_path):
    result = run_cli("run", write_recipe(), "--out", tmp_path / "runs", "--no-progress")
    run_dir = run_dir_of(result)
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("tiny-")


def test_run_directory_holds_recipe_meta_metrics_checkpoints_and_grids(run_cli, write_recipe, tmp_path):
    run_dir = run_dir_of(run_cli("run", write_recipe(), "--out", tmp_path, "--no-progress"))
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["steps"] == 8 and meta["epochs_completed"] == 2
    assert meta["seed"] == 0 and meta["device"] == "cpu"
    assert {"ganlab", "torch", "torchvision", "python", "plugins"} <= set(meta["versions"])
    assert meta["started"] and meta["ended"] and meta["images_per_s"] > 0
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, 9))
    assert [m["epoch"] for m in metrics] == [1] * 4 + [2] * 4
    assert all(0 <= m["d_real"] <= 1 and 0 <= m["d_fake"] <= 1 for m in metrics)
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")) == ["epoch_0001.pt", "epoch_0002.pt"]
    grids = sorted((run_dir / "samples").iterdir())
    assert [p.name for p in grids] == ["epoch_0001.png", "epoch_0002.png"]
    assert Image.open(grids[-1]).size == (4 * 18 + 2, 4 * 18 + 2)  # 16 images of 16 px, padding 2
    assert (run_dir / "recipe.toml").read_text().startswith("# resolved by ganlab from")


def test_checkpoint_holds_state_dicts_and_plain_values_only(run_cli, write_recipe, tmp_path):
    run_dir = run_dir_of(run_cli("run", write_recipe(), "--out", tmp_path, "--no-progress"))
    state = load_checkpoint(run_dir / "checkpoints" / "epoch_0002.pt")
    assert {"generator", "discriminator", "optimizer_g", "optimizer_d", "step", "epoch", "rng", "recipe"} <= set(state)
    assert state["step"] == 8 and state["epoch"] == 2 and state["batch_in_epoch"] == 0
    assert all(isinstance(v, torch.Tensor) for v in state["generator"].values())


def test_max_steps_stops_part_way_through_an_epoch(run_cli, write_recipe, tmp_path):
    run_dir = run_dir_of(
        run_cli("run", write_recipe(), "--set", "train.max_steps=3", "--out", tmp_path, "--no-progress")
    )
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["steps"] == 3 and meta["epochs_completed"] == 0 and meta["status"] == "finished"
    assert [p.name for p in (run_dir / "checkpoints").glob("*.pt")] == ["step_00000003.pt"]
    assert [p.name for p in (run_dir / "samples").iterdir()] == ["epoch_0001.png"]


def test_d_steps_use_several_batches_per_generator_update(run_cli, write_recipe, tmp_path):
    run_dir = run_dir_of(
        run_cli("run", write_recipe({"train": {"d_steps": 2, "epochs": 1}}), "--out", tmp_path, "--no-progress")
    )
    assert json.loads((run_dir / "meta.json").read_text())["steps"] == 2  # 4 batches / 2 per step


def losses(run_dir: Path) -> list[tuple[float, ...]]:
    return [(m["loss_d"], m["loss_g"], m["d_real"], m["d_fake"]) for m in RunDir(run_dir).read_metrics()]


def test_same_recipe_and_seed_give_identical_losses(run_cli, write_recipe, tmp_path):
    recipe = write_recipe()
    first = run_dir_of(run_cli("run", recipe, "--out", tmp_path, "--no-progress"))
    second = run_dir_of(run_cli("run", recipe, "--out", tmp_path, "--no-progress"))
    assert first != second, "a second run never reuses the first one's directory"
    assert losses(first) == losses(second)
    a = load_checkpoint(first / "checkpoints" / "epoch_0002.pt")["generator"]
    b = load_checkpoint(second / "checkpoints" / "epoch_0002.pt")["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_different_seed_gives_different_losses(run_cli, write_recipe, tmp_path):
    recipe = write_recipe()
    first = run_dir_of(run_cli("run", recipe, "--out", tmp_path, "--no-progress"))
    second = run_dir_of(run_cli("run", recipe, "--set", "experiment.seed=1", "--out", tmp_path, "--no-progress"))
    assert losses(first) != losses(second)


def test_resolved_recipe_reruns_identically(run_cli, write_recipe, tmp_path):
    first = run_dir_of(
        run_cli("run", write_recipe(), "--set", "loss.real_label=1.0", "--out", tmp_path, "--no-progress")
    )
    again = run_dir_of(run_cli("run", first / "recipe.toml", "--out", tmp_path, "--no-progress"))
    assert losses(first) == losses(again)


def test_bad_recipe_exits_2_with_a_message_and_no_traceback(run_cli, write_recipe, tmp_path):
    result = run_cli("run", write_recipe({"generator": {"latent_dimm": 3}}), "--out", tmp_path)
    assert result.exit_code == 2
    assert "generator.latent_dimm: unknown key (did you mean 'latent_dim'?)" in result.stderr
    assert "Traceback" not in result.output
    assert not any(tmp_path.glob("tiny-*")), "nothing is created for a recipe that does not validate"


def test_image_size_the_generator_cannot_make_is_a_recipe_error(run_cli, write_recipe, tmp_path):
    result = run_cli("validate", write_recipe({"data": {"image_size": 24}}))
    assert result.exit_code == 2
    assert "data.image_size: DCGAN makes power-of-two images of at least 16 pixels" in result.stderr


def test_batch_larger_than_the_data_set_is_a_recipe_error(write_recipe, plugins):
    from ganlab.training.assemble import build

    recipe = load_recipe(write_recipe({"train": {"batch_size": 65}}), plugins.registry)
    with pytest.raises(RecipeError, match="train.batch_size: 65 is larger than the data set"):
        build(recipe)


class InterruptAtStep(Evaluator):
    """Presses Ctrl-C (sends SIGINT to this process) when a given step is logged."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, run, record):
        if record["step"] == self.step:
            os.kill(os.getpid(), signal.SIGINT)


class InterruptPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        import dataclasses

        @dataclasses.dataclass
        class Config:
            at_step: int = 3

        registry.add("evaluator", "interrupt", lambda c, ctx: InterruptAtStep(c.at_step), Config)


def test_ctrl_c_checkpoints_marks_the_run_interrupted_and_exits_130(write_recipe, tmp_path):
    plugins = load_plugins([("interrupter", InterruptPlugin())], entry_points=False)
    recipe = load_recipe(
        write_recipe({"evaluators": [{"name": "interrupt", "at_step": 3}], "train": {"log_every": 1}}), plugins.registry
    )
    with pytest.raises(RunInterrupted) as info:
        run_recipe(recipe, plugins, tmp_path, progress=False)
    assert info.value.exit_code == 130
    [run_dir] = tmp_path.glob("tiny-*")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["steps"] == 3
    [checkpoint] = (run_dir / "checkpoints").glob("interrupted_*.pt")
    assert load_checkpoint(checkpoint)["step"] == 3


def test_validate_prints_the_resolved_recipe_and_trains_nothing(run_cli, write_recipe, tmp_path):
    result = run_cli("validate", write_recipe())
    assert result.exit_code == 0
    assert "[optimizer.generator]" in result.stdout and result.stdout.strip().endswith(": ok")
    assert "# data: 64 images of 3x16x16" in result.stdout
    assert not list(tmp_path.glob("**/metrics.jsonl"))


def test_validate_on_the_shipped_quickstart_succeeds(run_cli):
    result = run_cli("validate", Path(__file__).parent.parent / "experiments" / "quickstart.toml")
    assert result.exit_code == 0, result.output


def test_validate_celeba_without_data_says_where_and_how_to_get_it(run_cli, tmp_path):
    recipe = Path(__file__).parent.parent / "experiments" / "dcgan_celeba.toml"
    result = run_cli("validate", recipe, "--set", f"data.root={tmp_path / 'celeba'}")
    assert result.exit_code == 3
    assert "no CelebA images found" in result.stderr and "img_align_celeba" in result.stderr
    assert "kaggle" in result.stderr.lower() and "Traceback" not in result.output


def test_list_shows_every_builtin_with_plugin_and_fields(run_cli):
    result = run_cli("list")
    for name in (
        "dcgan",
        "bce",
        "bce-minimax",
        "adam",
        "adamw",
        "dcgan-normal",
        "xavier",
        "kaiming",
        "orthogonal",
        "none",
        "synthetic-faces",
        "image-folder",
        "celeba",
    ):
        assert f"  {name}  [" in result.stdout, name
    assert "latent_dim: int = 100  -- size of the latent vector z" in result.stdout
    assert "[ganlab.components.dcgan (built-in)]" in result.stdout


def test_list_of_one_kind_shows_only_that_kind(run_cli):
    result = run_cli("list", "loss")
    assert "bce-minimax" in result.stdout and "dcgan-normal" not in result.stdout


def test_plugins_json_lists_builtins_with_their_components(run_cli):
    data = json.loads(run_cli("plugins", "--json").stdout)
    dcgan = next(p for p in data["plugins"] if p["name"] == "ganlab.components.dcgan")
    assert dcgan["builtin"] and dcgan["hooks"] == [], "its components are declared, so it implements no hook"
    assert dcgan["components"] == ["generator:dcgan", "discriminator:dcgan"]


def test_version(run_cli):
    from ganlab import __version__

    assert run_cli("--version").stdout.strip() == f"ganlab, version {__version__}"


def test_grid_every_draws_a_grid_every_n_epochs_and_at_the_end(train_recipe, write_recipe):
    run = train_recipe(write_recipe({"train": {"epochs": 5, "grid_every": 2}}))
    assert [epoch for epoch, _ in run.sample_grids()] == [2, 4, 5]
    assert run.read_meta()["status"] == "finished"
