"""Training from the cache: device choice and device-resident batches, the data commands, a run on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from data_layouts import celeba_files, write_recipe_with_data, write_zip

from ganlab.common.errors import DataError
from ganlab.data import loader as loader_module
from ganlab.data.loader import BatchLoader
from ganlab.data.synthetic import SyntheticFaces, SyntheticFacesConfig

CPU = torch.device("cpu")


class PerImageOnly:
    """A data set that can only decode one image at a time (no get_batch)."""

    image_size, channels = 8, 3

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.full((3, 8, 8), index, dtype=torch.uint8)

    def describe(self) -> dict:
        return {}


@pytest.fixture
def faces() -> SyntheticFaces:
    return SyntheticFaces(SyntheticFacesConfig(image_size=8, num_images=40))


def batches(loader: BatchLoader, epoch: int, start: int = 0) -> list[torch.Tensor]:
    return [batch.images for batch in loader.epoch(epoch, start)]


def test_a_device_resident_data_set_gives_exactly_the_host_batches(faces):
    host = BatchLoader(faces, 8, seed=3, residency="never")
    resident = BatchLoader(faces, 8, seed=3, device=CPU, residency="always")
    assert resident.resident is not None
    for epoch, start in [(0, 0), (1, 0), (1, 3)]:
        expected, got = batches(host, epoch, start), batches(resident, epoch, start)
        assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected))


def test_auto_keeps_the_data_in_host_memory_on_a_cpu(faces):
    assert BatchLoader(faces, 8, seed=0, device=CPU, residency="auto").resident is None


@pytest.mark.parametrize("free_factor, resident", [(2, True), (1.99, False)])
def test_auto_copies_the_data_to_a_gpu_only_when_it_takes_at_most_half_its_free_memory(
    faces, monkeypatch, free_factor, resident
):
    gpu = torch.device("cuda", 1)
    needed = 40 * 3 * 8 * 8
    asked = []
    monkeypatch.setattr(
        torch.cuda, "mem_get_info", lambda device: asked.append(device) or (int(needed * free_factor), 80 * 2**30)
    )
    monkeypatch.setattr(loader_module, "to_device", lambda dataset, device: (dataset, device))
    loader = BatchLoader(faces, 8, seed=0, device=gpu, residency="auto")
    assert asked == [gpu]
    assert loader.resident == ((faces, gpu) if resident else None)


def test_auto_leaves_the_data_in_host_memory_on_a_device_that_does_not_say_what_is_free(faces, monkeypatch):
    monkeypatch.setattr(loader_module, "free_memory", lambda device: None)
    monkeypatch.setattr(loader_module, "to_device", lambda dataset, device: pytest.fail("copied blindly"))
    assert BatchLoader(faces, 8, seed=0, device=torch.device("xpu"), residency="auto").resident is None


def test_auto_asks_metal_how_much_unified_memory_is_left(faces, monkeypatch):
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 10 * 2**30)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 4 * 2**30)
    assert loader_module.free_memory(torch.device("mps")) == 6 * 2**30


def test_batches_gathered_in_host_memory_for_a_gpu_are_pinned(faces, monkeypatch):
    # pinned, the engine's non_blocking copy to the GPU runs while the previous step computes
    monkeypatch.setattr(loader_module, "free_memory", lambda device: 0)  # too big for the GPU
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: ("pinned", self.shape))
    loader = BatchLoader(faces, 8, seed=0, device=torch.device("cuda"), residency="auto")
    assert loader.resident is None
    assert next(loader.epoch(0)).images == ("pinned", (8, 3, 8, 8))


def test_batches_for_the_cpu_are_not_pinned(faces):
    batch = next(BatchLoader(faces, 8, seed=0, device=CPU, residency="never").epoch(0))
    assert not batch.images.is_pinned()


def test_always_needs_a_data_set_that_gathers_batches(faces):
    with pytest.raises(DataError, match="get_batch"):
        BatchLoader(PerImageOnly(), 2, seed=0, device=CPU, residency="always")


def test_always_fails_before_training_when_the_data_does_not_fit(faces, monkeypatch):
    monkeypatch.setattr(loader_module, "free_memory", lambda device: 1000)
    with pytest.raises(DataError, match="GiB"):
        BatchLoader(faces, 8, seed=0, device=CPU, residency="always")


@pytest.fixture
def celeba_recipe(tmp_path: Path) -> Path:
    archive = write_zip(tmp_path / "img_align_celeba.zip", celeba_files(24, "img_align_celeba/"))
    data = {
        "name": "celeba",
        "root": str(archive),
        "image_size": 16,
        "crop": 40,
        "cache_dir": str(tmp_path / "cache"),
        "workers": 1,
    }
    return write_recipe_with_data(tmp_path / "celeba.toml", data, batch_size=8, epochs=1)


def test_data_info_shows_what_the_data_resolves_to_without_decoding(celeba_recipe, run_cli, tmp_path):
    result = run_cli("data", "info", celeba_recipe)
    assert result.exit_code == 0, result.output
    assert "img_align_celeba.zip" in result.output and "24" in result.output
    assert "not built yet" in result.output
    assert not (tmp_path / "cache").exists()


def test_data_prepare_builds_the_cache_that_info_then_reports(celeba_recipe, run_cli, tmp_path):
    assert run_cli("data", "prepare", celeba_recipe).exit_code == 0
    [cache] = (tmp_path / "cache").iterdir()
    info = dict(line.split(maxsplit=1) for line in run_cli("data", "info", celeba_recipe).output.splitlines())
    assert info["cache"] == str(cache) and info["count"] == "24"
    assert int(info["cache_bytes"]) >= 24 * 3 * 16 * 16


def test_a_run_trains_from_a_celeba_zip(celeba_recipe, run_cli, tmp_path):
    result = run_cli("run", celeba_recipe, "--out", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 0, result.output
    run_dir = Path(result.output.strip().splitlines()[-1])
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "finished"
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3


def test_auto_device_picks_apple_mps_when_there_is_no_cuda(monkeypatch):
    from ganlab.machine.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")


class PerImageMany(PerImageOnly):
    def __len__(self) -> int:
        return 24

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.full((3, 8, 8), index, dtype=torch.uint8)


def test_worker_processes_start_once_per_run_and_serve_every_epoch_exactly_as_the_main_process():
    """The DataLoader of a per-image data set keeps its workers from epoch to epoch (starting them took a
    tenth of a second or more every epoch); the batches, and what is drawn from torch's global generator
    (one seed per epoch, as a new DataLoader drew it), are those of reading in this process."""
    plan = [(0, 0), (1, 2), (2, 0), (3, 5)]  # (epoch, start): epoch 1 resumed mid-way, epoch 3 at its end
    seen = {}
    for workers in (0, 2):
        torch.manual_seed(7)
        loader = BatchLoader(PerImageMany(), batch_size=4, seed=3, num_workers=workers)
        served, states, pids = [], [], []
        for epoch, start in plan:
            served.append(batches(loader, epoch, start))
            states.append(torch.get_rng_state())
            if workers:
                pids.append([w.pid for w in loader._loader._iterator._workers])
        abandoned = loader.epoch(4)
        next(abandoned)  # a run stopped by max_steps part way through an epoch
        del abandoned
        served.append(batches(loader, 5))
        states.append(torch.get_rng_state())
        seen[workers] = served, states
        if workers:
            assert all(p == pids[0] for p in pids)
            workers_of_run = loader._loader._iterator._workers
            loader.close()
            assert not any(w.is_alive() for w in workers_of_run)
    for old, new in zip(seen[0][0], seen[2][0]):
        assert len(old) == len(new) and all(torch.equal(a, b) for a, b in zip(old, new))
    assert all(torch.equal(a, b) for a, b in zip(seen[0][1], seen[2][1]))
