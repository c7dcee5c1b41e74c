"""Checkpoint files: manifest with size and hash, damaged files skipped, pickled code refused,
retention, the step/minute schedule, and a full disk that leaves earlier checkpoints intact."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch

import ganlab.rundir.checkpoints as checkpoints
from ganlab.common.errors import CheckpointError, RunError
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.checkpoints import CheckpointConfig, CheckpointSchedule, CheckpointStore, load_checkpoint
from ganlab.training.lifecycle import run_recipe


def state(step: int, epoch: int = 0) -> dict:
    return {"step": step, "epoch": epoch, "generator": {"weight": torch.full((3, 3), float(step))}}


@pytest.fixture
def store(tmp_path) -> CheckpointStore:
    return CheckpointStore(tmp_path)


def no_warnings(message: str) -> None:
    raise AssertionError(f"unexpected warning: {message}")


def test_a_saved_checkpoint_is_listed_with_its_size_and_hash(store):
    path = store.save("epoch_0001.pt", state(4, 1))
    (record,) = store.records()
    assert (record.file, record.step, record.epoch, record.size) == ("epoch_0001.pt", 4, 1, path.stat().st_size)
    store.verify(record)
    assert torch.equal(load_checkpoint(path)["generator"]["weight"], torch.full((3, 3), 4.0))


def test_the_newest_valid_checkpoint_is_the_one_with_the_highest_step(store):
    store.save("step_00000003.pt", state(3))
    store.save("epoch_0001.pt", state(4, 1))
    record, loaded = store.newest_valid(no_warnings)
    assert record.file == "epoch_0001.pt" and loaded["step"] == 4


def test_a_damaged_newest_checkpoint_of_the_right_size_is_skipped_with_a_warning(store):
    store.save("step_00000003.pt", state(3))
    path = store.save("step_00000006.pt", state(6))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    record, loaded = store.newest_valid(warnings.append)
    assert loaded["step"] == 3
    assert warnings == [
        "checkpoint step_00000006.pt is damaged (its SHA-256 does not match the manifest); using the one before it"
    ]


def test_a_listed_intact_checkpoint_that_does_not_load_is_skipped_with_a_warning(store, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    store.save("step_00000003.pt", state(3))
    store.save("step_00000006.pt", {**state(6), "extra": Payload()})  # hash matches, content refused
    warnings: list[str] = []
    record, loaded = store.newest_valid(warnings.append)
    assert record.file == "step_00000003.pt" and loaded["step"] == 3
    [warning] = warnings
    assert warning.startswith("checkpoint step_00000006.pt does not load (") and "refuses to unpickle" in warning
    assert not marker.exists()


def test_a_missing_checkpoint_file_is_skipped(store):
    store.save("step_00000003.pt", state(3))
    store.save("step_00000006.pt", state(6)).unlink()
    warnings: list[str] = []
    assert store.newest_valid(warnings.append)[1]["step"] == 3
    assert "step_00000006.pt cannot be read" in warnings[0]


def test_verify_names_a_truncated_file_and_both_sizes(store):
    path = store.save("epoch_0001.pt", state(4, 1))
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:1000])
    (record,) = store.records()
    with pytest.raises(CheckpointError) as raised:
        store.verify(record)
    assert str(raised.value) == (
        f"checkpoint epoch_0001.pt is truncated or damaged (1000 bytes, the manifest says {size})"
    )


def test_load_refuses_a_checkpoint_replaced_by_another_runs_of_the_same_size(store, tmp_path):
    path = store.save("epoch_0001.pt", state(4, 1))
    (tmp_path / "other").mkdir()
    path.write_bytes(CheckpointStore(tmp_path / "other").save("epoch_0001.pt", state(5, 1)).read_bytes())
    assert path.stat().st_size == store.records()[0].size
    with pytest.raises(
        CheckpointError,
        match=r"^checkpoint epoch_0001.pt is damaged \(its SHA-256 does not "
        r"match the manifest\)$",
    ):
        store.load(store.records()[0])


def test_unlisted_names_the_checkpoint_files_the_manifest_does_not_vouch_for(store):
    store.save("epoch_0001.pt", state(4, 1))
    torch.save(state(8, 2), store.directory / "epoch_0002.pt")
    assert store.unlisted() == ["epoch_0002.pt"]


def test_no_valid_checkpoint_at_all_is_none(store):
    store.save("step_00000003.pt", state(3)).write_bytes(b"")
    assert store.newest_valid(lambda message: None) is None


def test_an_unreadable_manifest_is_an_error_not_an_empty_run(store):
    store.save("step_00000003.pt", state(3))
    store.manifest_path.write_text("{not json")
    with pytest.raises(CheckpointError, match="manifest.json' is unreadable"):
        store.records()


def test_a_named_checkpoint_is_used_with_a_warning_when_the_manifest_is_unreadable(store):
    store.save("epoch_0001.pt", state(4, 1))
    store.manifest_path.write_text("{not json")
    warnings = []
    path, record = store.named("1", warnings.append)
    assert store.read(path, record)["step"] == 4
    assert warnings == [
        f"checkpoint epoch_0001.pt cannot be checked, since '{store.manifest_path}' is unreadable; using it as named"
    ]


def test_a_checkpoint_that_would_run_code_when_unpickled_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"step": 1, "generator": Payload()}, evil)
    with pytest.raises(CheckpointError, match="refuses to unpickle"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_a_truncated_file_loaded_directly_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "cut.pt"
    torch.save(state(3), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="is corrupt or truncated"):
        load_checkpoint(path)


def test_find_takes_a_file_name_a_stem_or_an_epoch_number(store):
    store.save("epoch_0003.pt", state(12, 3))
    store.save("step_00000014.pt", state(14, 3))
    assert store.find("3").name == store.find("epoch_0003").name == "epoch_0003.pt"
    assert store.find("step_00000014.pt").name == "step_00000014.pt"
    with pytest.raises(CheckpointError, match="no checkpoint '7'.*available: epoch_0003.pt, step_00000014.pt"):
        store.find("7")


def test_a_path_is_refused_even_to_another_runs_checkpoint_of_a_listed_name(store, tmp_path):
    store.save("epoch_0001.pt", state(4, 1))
    (tmp_path / "other").mkdir()
    theirs = CheckpointStore(tmp_path / "other").save("epoch_0001.pt", state(5, 1))
    with pytest.raises(
        CheckpointError,
        match=rf"^checkpoint '{theirs}' is a path; name a checkpoint in "
        rf"'{tmp_path}' by file name or epoch number \(available: "
        rf"epoch_0001.pt\)$",
    ):
        store.named(str(theirs), no_warnings)


def test_retention_keeps_the_newest_k_and_the_best_by_metric(store):
    scores = {1: 50.0, 2: 20.0, 3: 35.0, 4: 40.0, 5: 45.0}
    config = CheckpointConfig(keep_last=2, best_metric="fid", best_mode="min")
    for epoch, fid in scores.items():
        store.save(f"epoch_{epoch:04d}.pt", state(epoch * 4, epoch), metric=fid)
        store.prune(config)
    kept = ["epoch_0002.pt", "epoch_0004.pt", "epoch_0005.pt"]
    assert [r.file for r in store.records()] == kept
    assert sorted(p.name for p in store.directory.glob("*.pt")) == kept


def test_retention_with_keep_last_zero_keeps_everything(store):
    for step in (3, 6, 9):
        store.save(f"step_{step:08d}.pt", state(step))
    assert store.prune(CheckpointConfig()) == []
    assert len(store.records()) == 3


def test_the_schedule_fires_every_n_steps():
    schedule = CheckpointSchedule(CheckpointConfig(every_steps=3))
    assert [step for step in range(1, 10) if schedule.due_by_steps(step)] == [3, 6, 9]


def test_the_schedule_fires_after_m_minutes_since_the_last_checkpoint():
    now = [0.0]
    schedule = CheckpointSchedule(CheckpointConfig(every_minutes=2), clock=lambda: now[0])
    now[0] = 119.0
    assert not schedule.due_by_clock()
    now[0] = 120.0
    assert schedule.due_by_clock()
    schedule.written()
    now[0] = 200.0
    assert not schedule.due_by_clock()


def test_by_default_only_epoch_ends_checkpoint():
    schedule = CheckpointSchedule(CheckpointConfig(), clock=lambda: 1e9)
    assert not schedule.timed
    assert not any(schedule.due_by_steps(step) or schedule.due_by_clock() for step in range(1, 100))


def test_timed_checkpoints_are_considered_only_every_log_every_steps(write_recipe, plugins, tmp_path):
    # every_minutes so small that the clock always says "due": only the logging steps may act on it
    recipe = load_recipe(
        write_recipe({"train": {"log_every": 3}, "checkpoint": {"every_minutes": 1e-9}}), plugins.registry
    )
    run_dir = run_recipe(recipe, plugins, tmp_path, progress=False)
    steps = {r.file: r.step for r in CheckpointStore(run_dir.path / "checkpoints").records()}
    assert sorted(f for f in steps if f.startswith("step_")) == ["step_00000003.pt", "step_00000006.pt"]


def test_a_full_disk_leaves_the_previous_checkpoint_and_manifest_intact(store, monkeypatch):
    store.save("step_00000003.pt", state(3))
    manifest_before = store.manifest_path.read_text()
    real = checkpoints.atomic_write

    def disk_full(path, write):
        def half(f):
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")

        real(path, half)

    monkeypatch.setattr(checkpoints, "atomic_write", disk_full)
    with pytest.raises(RunError, match="No space left on device; the previous checkpoint step_00000003.pt is intact"):
        store.save("step_00000006.pt", state(6))
    assert store.manifest_path.read_text() == manifest_before
    assert sorted(p.name for p in store.directory.iterdir()) == ["manifest.json", "step_00000003.pt"]
    assert store.newest_valid(no_warnings)[1]["step"] == 3
    assert json.loads(manifest_before)["checkpoints"][0]["file"] == "step_00000003.pt"
