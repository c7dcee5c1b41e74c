"""The package's recipes through ganlab's CLI: every recipe resolves, the quickstarts train with their
augmentation logged, a bad policy is a recipe error, and a run with ADA resumes bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import ganlab_augment
import pytest
import torch

from ganlab import Plugins
from ganlab.testing import SHRINK

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
MOVING_P = ("augment.p_init=0.5", "augment.speed_kimg=1.0")
"""p moves by 0.064 at each adjustment of a shrunk run, in whichever direction r_t asks."""


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: more threads only wait for each other (and a resume compares bit for bit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def augment(register_plugin) -> Plugins:
    return register_plugin(ganlab_augment)


@pytest.mark.parametrize("recipe", sorted(p.name for p in EXPERIMENTS.glob("*.toml")))
def test_every_recipe_validates_up_to_its_data(recipe, augment, run_cli, tmp_path):
    if "quickstart" in recipe:
        result = run_cli("validate", EXPERIMENTS / recipe, "--set", "data.num_images=128")
        assert result.exit_code == 0, result.output
    else:  # everything but the empty image folder checks out
        faces = tmp_path / "faces"
        faces.mkdir()
        result = run_cli("validate", EXPERIMENTS / recipe, "--set", f"data.root={faces}")
        assert result.exit_code == 3 and "no images" in result.output.lower(), result.output


def test_the_ada_quickstart_logs_p_every_step(augment, train_recipe):
    run = train_recipe(EXPERIMENTS / "ada_quickstart.toml", *SHRINK, *MOVING_P)
    assert run.read_meta()["status"] == "finished"
    records = run.read_metrics()
    assert len(records) == 10
    assert all(0 <= r["augment_p"] < 1 and -1 <= r["augment_rt"] <= 1 for r in records)
    # every 4 updates of 16 images p moves by 64/1000, up or down as r_t is above or below 0.6
    steps = {round(abs(b["augment_p"] - a["augment_p"]), 6) for a, b in zip(records, records[1:])}
    assert steps == {0.0, 0.064}


def test_the_diffaugment_quickstart_trains_end_to_end(augment, train_recipe):
    run = train_recipe(EXPERIMENTS / "diffaugment_quickstart.toml", *SHRINK)
    assert run.read_meta()["status"] == "finished"
    assert len(run.read_metrics()) == 10 and run.samples() and run.checkpoints()


def test_an_unknown_policy_part_is_a_recipe_error_naming_the_key(augment, run_cli):
    result = run_cli("validate", EXPERIMENTS / "diffaugment_quickstart.toml", "--set", "augment.policy=color,flip")
    assert result.exit_code == 2
    assert (
        "diffaugment_quickstart.toml: augment.policy: unknown part 'flip'; known parts: color, translation, cutout"
    ) in result.stderr


def test_a_run_with_ada_resumes_bit_for_bit(augment, run_cli, tmp_path):
    def final(run_dir: Path) -> tuple[list[dict], dict]:
        metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "time"} for r in metrics], torch.load(
            run_dir / "checkpoints" / "epoch_0001.pt", weights_only=True
        )

    shrink = [a for s in (*SHRINK, *MOVING_P) for a in ("--set", s)]
    recipe = EXPERIMENTS / "ada_quickstart.toml"
    whole = run_cli("run", recipe, *shrink, "--out", tmp_path / "whole", "--no-progress")
    stopped = run_cli(
        "run", recipe, *shrink, "--set", "train.max_steps=5", "--out", tmp_path / "parts", "--no-progress"
    )
    assert whole.exit_code == 0 and stopped.exit_code == 0, whole.output + stopped.output
    parts = Path(stopped.output.strip().splitlines()[-1])
    resumed = run_cli("run", "--resume", parts, "--set", "train.max_steps=0", "--no-progress")
    assert resumed.exit_code == 0, resumed.output

    whole_metrics, whole_state = final(Path(whole.output.strip().splitlines()[-1]))
    parts_metrics, parts_state = final(parts)
    assert parts_metrics == whole_metrics
    assert len({r["augment_p"] for r in whole_metrics}) > 1  # p moved during the run
    for part in ("generator", "discriminator"):
        for name, tensor in whole_state[part].items():
            assert torch.equal(tensor, parts_state[part][name]), (part, name)
