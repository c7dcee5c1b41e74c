"""Generated images depend only on the seed (or latent) and the checkpoint, never on the request.

Every path draws through :func:`ganlab.training.sampling.sample`: ``ganlab generate``, the metrics' and evaluators'
``Trainer.generate``, ``compare``'s final grids. A generator with batch norm samples in evaluation mode with
standing statistics, so one image asked for alone is the same image as in a batch of sixteen.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image
from torch import nn

from conftest import TINY_RECIPE, merge
from ganlab import Evaluator, hookimpl
from ganlab.cli.main import main
from ganlab.common import tomlwrite
from ganlab.compare.page import compare
from ganlab.compare.samples import final_grids
from ganlab.components.dcgan import DCGANGenerator
from ganlab.loading.manager import load_plugins
from ganlab.metrics.protocol import SAMPLING as PROTOCOL
from ganlab.metrics.protocol import protocol_differences
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.generate import load_generator
from ganlab.training.lifecycle import run_recipe
from ganlab.training.sampling import generate_images, sample, seeded_rng

METRIC_SEED = 3


def cli(*args) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@dataclasses.dataclass
class NoConfig:
    pass


class GeneratedAtRunEnd(Evaluator):
    """Draws what a metric evaluator draws (``run.generate``) from the final weights, and keeps it."""

    images: dict[str, torch.Tensor] = {}

    def on_run_end(self, run, status):
        self.images[run.run_dir.name] = run.generate(8, seed=METRIC_SEED)


class RecorderPlugin:
    @hookimpl
    def ganlab_register(self, registry):
        registry.add("evaluator", "generated-at-end", lambda config, context: GeneratedAtRunEnd(), NoConfig)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> RunDir:
    """A finished tiny run (16x16, 2 epochs) with batch norm in its generator, sampled from its EMA copy
    (whose buffers were copied from the raw weights', so only standing statistics fit its weights)."""
    folder = tmp_path_factory.mktemp("sampling")
    path = folder / "recipe.toml"
    changes = {"train": {"ema": 0.9}, "evaluators": [{"name": "generated-at-end"}]}
    path.write_text(tomlwrite.dumps(merge(TINY_RECIPE, changes)), "utf-8")
    plugins = load_plugins([("recorder", RecorderPlugin())], entry_points=False)
    return run_recipe(load_recipe(path, plugins.registry), plugins, folder / "runs", progress=False)


def generated(run: RunDir, folder: Path, num: int, seed: int) -> list[np.ndarray]:
    result = cli("generate", run.path, "--num", num, "--seed", seed, "--out-dir", folder, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return [np.asarray(Image.open(folder / f"image_{i:04d}.png")) for i in range(num)]


def test_a_seeds_images_are_the_same_whether_one_four_or_sixteen_are_asked_for(trained, tmp_path):
    alone, four, sixteen = (generated(trained, tmp_path / str(num), num, seed=5) for num in (1, 4, 16))
    assert np.array_equal(alone[0], sixteen[0])
    assert all(np.array_equal(a, b) for a, b in zip(four, sixteen[:4]))


def test_an_image_asked_for_alone_is_as_varied_as_one_of_a_batch(trained, tmp_path):
    """A lone image is normalised with the same statistics as a batch's, not with its own."""
    alone = [generated(trained, tmp_path / f"seed{seed}", 1, seed)[0] for seed in range(4)]
    batch = generated(trained, tmp_path / "batch", 32, seed=100)
    alone_std = np.mean([image.astype(float).std() for image in alone])
    batch_std = np.mean([image.astype(float).std() for image in batch])
    assert alone_std == pytest.approx(batch_std, rel=0.25)


def test_metric_samples_are_the_images_ganlab_generate_makes_for_the_seed(trained, tmp_path):
    during_run = GeneratedAtRunEnd.images[trained.name]
    from_cli = generated(trained, tmp_path, 2, seed=METRIC_SEED)
    for tensor, image in zip(during_run, from_cli):
        assert np.array_equal(tensor.permute(1, 2, 0).numpy(), image)


def test_compare_grids_show_each_latent_as_it_looks_alone(trained):
    generator, _, _ = load_generator(trained, load_plugins(entry_points=False), torch.device("cpu"))
    noise = torch.load(trained.checkpoints_dir / "epoch_0002.pt", weights_only=True)["fixed_noise"]
    [grid] = final_grids(compare([trained]).runs, load_plugins(entry_points=False))
    one_by_one = torch.cat([sample(generator, z[None]) for z in noise])
    tiles = np.asarray(Image.open(io.BytesIO(grid.png)))
    first_tile = tiles[2:18, 2:18]  # 2 px padding around 16x16 tiles
    assert np.array_equal(first_tile, one_by_one[0].permute(1, 2, 0).numpy())


def tiny_generator() -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(latent_dim=8, features=4, image_size=16, channels=3)


def test_sampling_leaves_the_generator_its_buffers_modes_and_torchs_random_state():
    generator = tiny_generator()
    generator(torch.randn(16, 8))  # training has moved the running statistics
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    rng_before = torch.get_rng_state()
    generate_images(generator, 5, seeded_rng(0), torch.device("cpu"))
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    assert all(m.training for m in generator.modules())
    assert all(m.momentum == 0.1 for m in generator.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_standing_statistics_follow_the_weights():
    """Doubling the first layer's weights doubles what its batch norm sees: statistics recomputed for the new
    weights normalise that away, stale ones (cached for the old weights) would not."""
    generator = tiny_generator()
    z = torch.randn(4, 8, generator=seeded_rng(1))
    first = sample(generator, z)
    with torch.no_grad():
        generator.net[0].weight.mul_(2.0)
    assert (sample(generator, z).int() - first.int()).abs().max() <= 1


class NormFree(nn.Module):
    """A plugin-style generator without batch norm, whose dropout must be off when sampling."""

    latent_dim = 8

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 3 * 16 * 16), nn.Dropout(0.5), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 3, 16, 16)


def test_a_generator_without_batch_norm_is_sampled_in_evaluation_mode():
    generator = NormFree()
    z = torch.randn(3, 8, generator=seeded_rng(2))
    assert torch.equal(sample(generator, z), sample(generator, z))
    assert generator.training


def test_a_score_records_how_its_images_were_sampled_so_older_scores_do_not_compare(write_recipe, train_recipe):
    run = train_recipe(write_recipe({"evaluators": [{"name": "swd", "num_samples": 32}]}))
    score = next(e for e in run.read_evaluations() if e["metric"] == "swd")
    assert score["sampling"] == PROTOCOL
    made_by_0_2_0 = {key: value for key, value in score.items() if key != "sampling"}
    assert protocol_differences(made_by_0_2_0, score) == [f"sampling: (absent) vs {PROTOCOL}"]


def whole_forward_statistics(generator: nn.Module) -> list[torch.Tensor]:
    """The standing statistics with every forward run to its end (what ganlab computed before it stopped
    each forward after the last batch norm)."""
    from unittest import mock

    from ganlab.training import sampling

    with mock.patch.object(sampling, "_last_norm_run", _nothing_found):
        return sampling.standing_statistics(generator)


def _nothing_found(*_):
    import contextlib

    return contextlib.nullcontext([])


class BufferAfterNorm(nn.Module):
    """A plugin-style generator whose output layer keeps a buffer it changes: its forward must run whole."""

    latent_dim = 8

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 48), nn.BatchNorm1d(48), nn.ReLU())
        self.out = nn.Linear(48, 3 * 4 * 4)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, z):
        self.calls += 1
        return self.out(self.body(z)).view(-1, 3, 4, 4)


def conditional_generator() -> nn.Module:
    from ganlab import Attribute, LabelSpace
    from ganlab.components.conditional import ConditionalDCGANGenerator

    return ConditionalDCGANGenerator(8, 4, 16, 3, LabelSpace((Attribute("a", ("x", "y", "z")),)), embed_dim=4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: DCGANGenerator(latent_dim=8, features=4, image_size=32, channels=3),
        conditional_generator,
        BufferAfterNorm,
    ],
    ids=["dcgan", "cdcgan", "buffer-after-norm"],
)
def test_standing_statistics_stop_each_forward_after_the_last_batch_norm_and_are_the_same_bit_for_bit(make):
    from ganlab.training.sampling import standing_statistics

    torch.manual_seed(0)
    generator = make()
    labels = [torch.zeros(4, 1, dtype=torch.long)] if hasattr(generator, "label_space") else []
    generator(torch.randn(4, 8), *labels)  # training has moved the running statistics
    calls = []
    handle = generator.register_forward_hook(lambda *_: calls.append(1))
    statistics = standing_statistics(generator)
    handle.remove()
    assert all(torch.equal(a, b) for a, b in zip(statistics, whole_forward_statistics(generator), strict=True))
    whole = isinstance(generator, BufferAfterNorm)
    assert len(calls) == (16 if whole else 1)  # the generator's own forward ends only when run whole
    if whole:
        named = dict(zip((name for name, _ in generator.named_buffers()), statistics))
        assert named["calls"].item() == generator.calls.item() + 16
