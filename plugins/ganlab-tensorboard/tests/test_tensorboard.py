"""The tensorboard logger: TensorBoard's own reader finds every logged number, evaluation and grid, and a
resumed run's event stream has each step once."""

from __future__ import annotations

import types
from pathlib import Path

import ganlab_tensorboard
import pytest
import torch
from ganlab_tensorboard import TensorBoardConfig, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import IMAGES, SCALARS, EventAccumulator

from ganlab import BuildContext, RunDir

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"), image_size=16, channels=3)


def run_at(path: Path, step: int) -> types.SimpleNamespace:
    """What a logger uses of a run: its directory and the step it continues from."""
    return types.SimpleNamespace(run_dir=RunDir(path), step=step)


def records(steps: range) -> list[dict[str, float]]:
    return [
        {
            "step": s,
            "epoch": 1 + (s - 1) // 4,
            "loss_d": 1.0 + s / 100,
            "loss_g": 2.0 - s / 100,
            "d_real": 0.5,
            "d_fake": 0.25,
            "lr_generator": 2e-4,
            "time": 0.1 * s,
        }
        for s in steps
    ]


def read(folder: Path) -> EventAccumulator:
    reader = EventAccumulator(str(folder), size_guidance={SCALARS: 0, IMAGES: 0})
    reader.Reload()
    return reader


def scalar_steps(reader: EventAccumulator, tag: str) -> list[int]:
    return [event.step for event in reader.Scalars(tag)]


def test_every_number_of_every_step_is_a_scalar_at_its_step(tmp_path):
    logger = TensorBoardLogger(TensorBoardConfig(), CONTEXT)
    logger.start(run_at(tmp_path, 0))
    logger.log_steps(records(range(1, 5)))
    logger.log_steps(records(range(5, 9)))
    logger.finish("finished")
    reader = read(tmp_path / "tensorboard")
    assert set(reader.Tags()["scalars"]) == {"epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr_generator", "time"}
    assert [(e.step, e.value) for e in reader.Scalars("loss_d")] == [
        (s, pytest.approx(1.0 + s / 100)) for s in range(1, 9)
    ]
    assert scalar_steps(reader, "lr_generator") == list(range(1, 9))


def test_each_batch_of_steps_is_on_disk_before_the_run_ends(tmp_path):
    logger = TensorBoardLogger(TensorBoardConfig(), CONTEXT)
    logger.start(run_at(tmp_path, 0))
    logger.log_steps(records(range(1, 3)))
    assert scalar_steps(read(tmp_path / "tensorboard"), "loss_g") == [1, 2]  # TensorBoard watches live
    logger.finish("interrupted")


def test_evaluations_are_scalars_under_eval_and_grids_are_images(tmp_path):
    logger = TensorBoardLogger(TensorBoardConfig(), CONTEXT)
    logger.start(run_at(tmp_path, 0))
    logger.log_evaluation({"metric": "swd", "value": 12.5, "step": 4, "epoch": 1, "time": 3.0, "num_samples": 64})
    grid = torch.randint(0, 256, (3, 18, 34), dtype=torch.uint8)
    logger.log_image("samples", grid, 4)
    logger.finish("finished")
    reader = read(tmp_path / "tensorboard")
    assert [(e.step, e.value) for e in reader.Scalars("eval/swd")] == [(4, 12.5)]
    [image] = reader.Images("samples")
    assert (image.step, image.width, image.height) == (4, 34, 18)


def test_log_dir_puts_the_event_files_elsewhere(tmp_path):
    logger = TensorBoardLogger(TensorBoardConfig(log_dir=str(tmp_path / "board")), CONTEXT)
    logger.start(run_at(tmp_path / "run", 0))
    logger.log_steps(records(range(1, 3)))
    logger.finish("finished")
    assert scalar_steps(read(tmp_path / "board"), "loss_d") == [1, 2]
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_a_resumed_run_shows_each_step_once_with_the_resumed_values(tmp_path):
    interrupted = TensorBoardLogger(TensorBoardConfig(), CONTEXT)
    interrupted.start(run_at(tmp_path, 0))
    interrupted.log_steps(records(range(1, 7)))  # stopped at step 6, last checkpoint at step 4
    interrupted.finish("interrupted")
    resumed = TensorBoardLogger(TensorBoardConfig(), CONTEXT)
    resumed.start(run_at(tmp_path, 4))
    again = [dict(r, loss_d=-r["loss_d"]) for r in records(range(5, 9))]  # what the resumed run logs
    resumed.log_steps(again)
    resumed.finish("finished")
    reader = read(tmp_path / "tensorboard")
    assert scalar_steps(reader, "loss_d") == list(range(1, 9))
    assert [e.value for e in reader.Scalars("loss_d")][4:] == pytest.approx([r["loss_d"] for r in again])


def test_ganlab_lists_the_logger_with_its_setting(register_plugin, run_cli):
    register_plugin(ganlab_tensorboard, name="tensorboard")
    listed = run_cli("list", "logger").stdout
    assert "tensorboard  [tensorboard]" in listed and "log_dir: str = 'tensorboard'" in listed


def test_a_real_run_s_losses_grids_and_evaluations_are_what_tensorboard_reads(
    register_plugin, write_recipe, train_recipe
):
    register_plugin(ganlab_tensorboard, name="tensorboard")
    run = train_recipe(
        write_recipe({"loggers": [{"name": "tensorboard"}], "evaluators": [{"name": "swd", "num_samples": 16}]})
    )
    reader = read(run.path / "tensorboard")
    metrics = run.read_metrics()
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d"):
        assert [(e.step, e.value) for e in reader.Scalars(key)] == [(r["step"], pytest.approx(r[key])) for r in metrics]
    assert [e.step for e in reader.Images("samples")] == [4, 8]
    assert [(e.step, e.value) for e in reader.Scalars("eval/swd")] == [
        (e["step"], pytest.approx(e["value"])) for e in run.read_evaluations() if e["metric"] == "swd"
    ]


def test_a_resumed_real_run_has_each_step_once(register_plugin, write_recipe, train_recipe, run_cli):
    register_plugin(ganlab_tensorboard, name="tensorboard")
    run = train_recipe(write_recipe({"loggers": [{"name": "tensorboard"}]}), "train.epochs=1")
    result = run_cli("run", "--resume", run.path, "--set", "train.epochs=2", "--no-progress")
    assert result.exit_code == 0, result.output
    reader = read(run.path / "tensorboard")
    assert scalar_steps(reader, "loss_d") == list(range(1, 9))
    assert [e.value for e in reader.Scalars("loss_d")] == pytest.approx([r["loss_d"] for r in run.read_metrics()])
