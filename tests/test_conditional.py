"""Conditional generation through the engine: labels from the data set to the discriminator, the
generator's labels drawn from the data's label distribution, the conditional DCGAN networks, sampling and
``generate --condition``. The data set is tests/labelled_data.py's colour blocks."""

from __future__ import annotations

import json

import labelled_data
import pytest
import torch
from labelled_data import CONDITIONAL, ColourBlocks, ColourBlocksConfig
from PIL import Image

from ganlab import Attribute, LabelSpace
from ganlab.components.conditional import ConditionalDCGANGenerator, ProjectionDiscriminator
from ganlab.data.loader import BatchLoader
from ganlab.machine.distributed import World
from ganlab.recipes.recipe import load_recipe
from ganlab.rundir.rundir import RunDir
from ganlab.training.assemble import build
from ganlab.training.conditioning import BalancedLabels, LabelDistribution, grid_conditions
from ganlab.training.loop import Trainer, latent_source

SPACE = ColourBlocks.label_space


def test_the_projection_head_is_linear_of_the_features_plus_each_label_embedding_s_inner_product():
    torch.manual_seed(0)
    d = ProjectionDiscriminator(4, 16, 3, SPACE, norm="none")
    with torch.no_grad():
        d.linear.weight.fill_(0.01)
        d.linear.bias.fill_(0.5)
        d.embeddings[0].weight.copy_(torch.arange(3.0)[:, None].expand(3, 128) / 100)
        d.embeddings[1].weight.copy_(torch.tensor([[-1.0], [2.0]]).expand(2, 128) / 100)
    images, labels = torch.rand(5, 3, 16, 16) * 2 - 1, torch.tensor([[0, 0], [1, 1], [2, 0], [2, 1], [0, 1]])
    phi = d.trunk(images).flatten(1)
    expected = (
        0.01 * phi.sum(1) + 0.5 + (labels[:, 0] / 100.0 + torch.where(labels[:, 1] == 1, 0.02, -0.01)) * phi.sum(1)
    )
    assert torch.allclose(d(images, labels), expected, atol=1e-5)


@pytest.mark.parametrize("init", ["dcgan-normal", "none"])
def test_a_new_projection_discriminator_scores_like_the_dcgan_one_whatever_the_labels(plugins, init):
    """Its label term starts at zero: N(0, 1) embeddings over phi's 2048 features made D's first BCE loss
    about 13 and its output a random function of the labels, and conditioning did not train."""
    torch.manual_seed(0)
    d = ProjectionDiscriminator(16, 16, 3, SPACE)
    entry = plugins.registry.get("init", init)
    entry.factory(entry.config(), None)(d)
    images = torch.rand(6, 3, 16, 16) * 2 - 1
    unconditional = d.linear(d.trunk(images)).flatten()
    for labels in (torch.tensor([[0, 0]] * 6), torch.tensor([[2, 1]] * 6)):
        assert torch.equal(d(images, labels), unconditional)


def test_the_conditional_generator_draws_other_images_for_other_labels():
    g = ConditionalDCGANGenerator(8, 4, 16, 3, SPACE, embed_dim=4).eval()
    z = torch.randn(1, 8).repeat(3, 1)
    images = g(z, torch.tensor([[0, 0], [1, 0], [0, 1]]))
    assert not torch.allclose(images[0], images[1]) and not torch.allclose(images[0], images[2])
    assert torch.allclose(g(z[:1], torch.tensor([[1, 0]])), images[1:2], atol=1e-6)


def test_a_new_conditional_generator_s_faces_vary_with_z_far_more_than_with_the_labels():
    """Labels that weighed as much as z from the start took over: one face per condition, whatever z."""
    torch.manual_seed(0)
    g = ConditionalDCGANGenerator(64, 8, 16, 3, SPACE, embed_dim=16)
    for module in g.modules():  # as the dcgan-normal init scheme leaves them (it skips embeddings)
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, 0.0, 0.02)
    g.eval()
    z, labels = torch.randn(64, 64), torch.randint(0, 2, (64, 2))
    with torch.no_grad():
        over_z = g(z, labels[:1].repeat(64, 1)).var(0).mean()
        over_labels = g(z[:1].repeat(64, 1), labels).var(0).mean()
    assert over_z > 10 * over_labels


@pytest.mark.parametrize("path", ["resident", "get_batch", "dataloader"])
def test_the_loader_carries_each_image_s_own_labels_on_every_path(path):
    data = ColourBlocks(ColourBlocksConfig(num_images=40, image_size=4, get_batch=path != "dataloader"))
    loader = BatchLoader(data, 8, seed=1, residency="always" if path == "resident" else "never")
    assert (loader.resident is not None) == (path == "resident")
    batches = list(loader.epoch(1, start=1))
    assert len(batches) == 4
    for images, labels in batches:
        assert torch.equal(images, torch.stack([data.image(row) for row in labels]))


def test_processes_together_see_the_labels_of_one_process_s_batches():
    data = ColourBlocks(ColourBlocksConfig(num_images=40, image_size=4))
    whole = list(BatchLoader(data, 8, seed=2).epoch(0))
    parts = [list(BatchLoader(data, 8, seed=2, shard=(rank, 2)).epoch(0)) for rank in range(2)]
    for i, batch in enumerate(whole):
        assert torch.equal(torch.cat([parts[0][i].labels, parts[1][i].labels]), batch.labels)
        assert torch.equal(torch.cat([parts[0][i].images, parts[1][i].images]), batch.images)


def test_the_generator_s_labels_follow_the_data_s_label_distribution():
    data = ColourBlocks(ColourBlocksConfig(num_images=600, seed=3))
    drawn = LabelDistribution.of(SPACE, data.labels).draw(60_000, torch.Generator().manual_seed(0))
    for column in range(2):
        expected = torch.bincount(data.labels[:, column]).double() / len(data)
        assert torch.allclose(torch.bincount(drawn[:, column]).double() / len(drawn), expected, atol=0.01)
    pairs = lambda labels: torch.bincount(labels[:, 0] * 2 + labels[:, 1], minlength=6).double() / len(labels)  # noqa: E731
    assert torch.allclose(pairs(drawn), pairs(data.labels), atol=0.01)


def test_balanced_generator_labels_ask_for_each_value_that_occurs_equally_often():
    data = ColourBlocks(ColourBlocksConfig(num_images=600, seed=3))
    data.labels[data.labels[:, 0] == 2, 0] = 0  # no blue block: blue is never asked for
    balanced = BalancedLabels.of(LabelDistribution.of(SPACE, data.labels))
    drawn = balanced.draw(60_000, torch.Generator().manual_seed(0))
    shares = lambda column, size: torch.bincount(drawn[:, column], minlength=size).double() / len(drawn)  # noqa: E731
    assert torch.allclose(shares(0, 3), torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64), atol=0.01)
    assert torch.allclose(shares(1, 2), torch.tensor([0.5, 0.5], dtype=torch.float64), atol=0.01)
    pairs = torch.bincount(drawn[:, 0] * 2 + drawn[:, 1], minlength=6).double() / len(drawn)  # independent
    assert torch.allclose(pairs[[0, 1, 2, 3]], torch.full((4,), 0.25, dtype=torch.float64), atol=0.01)


def test_several_processes_draw_the_latents_and_labels_one_process_draws():
    labels = LabelDistribution.of(SPACE, ColourBlocks(ColourBlocksConfig()).labels)

    def draws(world: World) -> list[tuple[torch.Tensor, torch.Tensor]]:
        source = latent_source(8, torch.device("cpu"), torch.Generator().manual_seed(5), world, labels)
        return [source(16 // world.size) for _ in range(3)]

    one = draws(World())
    two = [draws(World(rank=r, size=2)) for r in range(2)]
    for step, (z, y) in enumerate(one):
        assert torch.equal(torch.cat([two[0][step][0], two[1][step][0]]), z)
        assert torch.equal(torch.cat([two[0][step][1], two[1][step][1]]), y)


def test_an_unconditional_run_draws_only_its_latents():
    rng_a, rng_b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    z, labels = latent_source(8, torch.device("cpu"), rng_a, World())(16)
    assert labels is None
    assert torch.equal(z, torch.randn(16, 8, generator=rng_b))
    assert torch.equal(rng_a.get_state(), rng_b.get_state())


@pytest.fixture
def conditional_recipe(register_plugin, write_recipe):
    """The tiny recipe on the colour blocks with the conditional networks, its data set registered."""
    register_plugin(labelled_data)
    return lambda changes=None: write_recipe(merge_all(CONDITIONAL, changes or {}))


def merge_all(base: dict, changes: dict) -> dict:
    out = {**base}
    for key, value in changes.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.mark.parametrize(
    "loss", [{"loss": {"name": "bce"}}, {"loss": {"name": "wgan-gp"}, "discriminator": {"norm": "layer"}}]
)
def test_a_conditional_run_trains_with_its_loss_and_grids_one_row_per_condition(
    conditional_recipe, train_recipe, register_plugin, loss
):
    if loss["loss"]["name"] == "wgan-gp":
        register_plugin(pytest.importorskip("ganlab_wgan"), "wgan")
    run = train_recipe(conditional_recipe(loss))
    meta = run.read_meta()
    assert meta["status"] == "finished"
    assert meta["label_space"] == {
        "attributes": [{"name": "colour", "values": ["red", "green", "blue"]}, {"name": "bright", "values": ["0", "1"]}]
    }
    rows = json.loads(run.grid_rows_path.read_text())
    assert rows == [f"colour={c}, bright={b}" for c in ("red", "green", "blue") for b in "01"]
    with Image.open(run.grid_path(2)) as grid:  # 16 latents: 6 rows of 2, with 2 px padding
        assert grid.size == (2 + 2 * 18, 2 + 6 * 18)


def test_wgan_gp_refuses_the_projection_discriminator_with_batch_norm(conditional_recipe, register_plugin, run_cli):
    register_plugin(pytest.importorskip("ganlab_wgan"), "wgan")
    result = run_cli("validate", conditional_recipe({"loss": {"name": "wgan-gp"}}))
    assert result.exit_code == 2 and "batch norm" in result.output


@pytest.mark.parametrize("section", ["generator", "discriminator"])
def test_a_conditional_network_on_unlabelled_data_is_refused_naming_its_section(write_recipe, run_cli, section):
    result = run_cli("validate", write_recipe({section: CONDITIONAL[section]}))
    assert result.exit_code == 2
    assert f"{section}: {CONDITIONAL[section]['name']!r} is conditional" in result.output
    assert "has no labels" in result.output and "Traceback" not in result.output


def test_labelled_data_with_unconditional_networks_trains_unconditionally_with_a_warning(
    register_plugin, write_recipe, run_cli
):
    register_plugin(labelled_data)
    result = run_cli("validate", write_recipe({"data": {"name": "colour-blocks"}}))
    assert result.exit_code == 0
    assert "has labels (colour, bright), but neither network takes them" in result.stderr


def test_the_live_run_generates_for_the_labels_asked_and_gives_real_images_labels(
    write_recipe, register_plugin, tmp_path
):
    registered = register_plugin(labelled_data)
    run = Trainer(
        build(load_recipe(write_recipe(CONDITIONAL), registered.registry)), RunDir(tmp_path), registered, progress=False
    )
    assert run.label_space == SPACE
    real, labels = run.real_images(10, seed=4), run.real_labels(10, seed=4)
    assert torch.equal(real, torch.stack([run.dataset.image(row) for row in labels]))
    asked = torch.tensor([[2, 1]] * 4)
    assert torch.equal(run.generate(4, seed=1, labels=asked), run.generate(4, seed=1, labels=asked))
    assert not torch.equal(run.generate(4, seed=1, labels=asked), run.generate(4, seed=1, labels=asked - 1))
    assert run.discriminate(real, labels).shape == (10,)
    with pytest.raises(ValueError, match="labels"):
        run.discriminate(real)


@pytest.mark.parametrize("generator_labels", ["data", "balanced"])
def test_a_conditional_run_resumed_ends_bit_for_bit_as_one_left_alone(
    conditional_recipe, train_recipe, run_cli, generator_labels
):
    recipe = conditional_recipe(
        {"train": {"epochs": 3, "d_steps": 2, "batch_size": 8, "generator_labels": generator_labels}}
    )
    whole = train_recipe(recipe)
    stopped = train_recipe(recipe, "train.max_steps=5", "experiment.name=stopped")
    result = run_cli("run", "--resume", stopped.path, "--set", "train.max_steps=0", "--no-progress")
    assert result.exit_code == 0, result.output
    assert [r["loss_d"] for r in stopped.read_metrics()] == [r["loss_d"] for r in whole.read_metrics()]
    last = lambda run: torch.load(sorted(run.checkpoints_dir.glob("epoch_*.pt"))[-1], weights_only=True)  # noqa: E731
    a, b = last(whole), last(stopped)
    for key in ("generator", "discriminator"):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key])
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])
    assert run_grid_bytes(whole) == run_grid_bytes(stopped)


def run_grid_bytes(run: RunDir) -> list[bytes]:
    return [path.read_bytes() for _, path in run.sample_grids()]


@pytest.fixture
def conditional_run(conditional_recipe, train_recipe):
    return train_recipe(conditional_recipe())


def test_generate_makes_one_row_per_condition_with_the_same_latents(conditional_run, run_cli, tmp_path):
    result = run_cli(
        "generate",
        conditional_run.path,
        "--num",
        4,
        "-o",
        tmp_path / "rows.png",
        "--condition",
        "colour=red,bright=1",
        "--condition",
        "colour=blue,bright=1",
        "--condition",
        "colour=red,bright=1",
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "rows.png") as grid:
        assert grid.size == (2 + 4 * 18, 2 + 3 * 18)
        rows = [grid.crop((0, 18 * r, grid.width, 18 * r + 20)).tobytes() for r in range(3)]
    assert rows[0] == rows[2] and rows[0] != rows[1]


def test_generate_draws_the_attributes_a_condition_leaves_out_with_the_seed(conditional_run, run_cli, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = run_cli(
            "generate",
            conditional_run.path,
            "--num",
            6,
            "--seed",
            seed,
            "--condition",
            "bright=1",
            "--out-dir",
            tmp_path / name,
        )
        assert result.exit_code == 0, result.output
    files = lambda name: [p.read_bytes() for p in sorted((tmp_path / name).glob("*.png"))]  # noqa: E731
    assert files("a") == files("b") and files("a") != files("c")


@pytest.mark.parametrize(
    "condition, named",
    [
        ("colour=purple", "colour is one of red, green, blue"),
        ("colur=red", "did you mean"),
        ("colour", "expected ATTRIBUTE=VALUE"),
    ],
)
def test_generate_refuses_a_bad_condition_naming_it(conditional_run, run_cli, tmp_path, condition, named):
    result = run_cli("generate", conditional_run.path, "-o", tmp_path / "x.png", "--condition", condition)
    assert result.exit_code == 2
    assert named in result.output and condition in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.png").exists()


def test_generate_refuses_a_condition_for_an_unconditional_run(write_recipe, train_recipe, run_cli, tmp_path):
    run = train_recipe(write_recipe())
    result = run_cli("generate", run.path, "-o", tmp_path / "x.png", "--condition", "Smiling=1")
    assert result.exit_code == 2 and "unconditional" in result.output


def test_a_grid_of_many_combinations_shows_each_value_once_against_the_most_common_face():
    space = LabelSpace((Attribute("glasses"), Attribute("smile"), Attribute("hair", ("black", "blond", "red"))))
    labels = torch.tensor([[0, 1, 0]] * 5 + [[1, 0, 1], [0, 0, 2], [1, 1, 1]])
    rows = grid_conditions(LabelDistribution.of(space, labels)).tolist()
    assert rows == [[0, 1, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1], [0, 1, 2]]
