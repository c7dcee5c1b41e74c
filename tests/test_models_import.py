"""``ganlab import``: a generator trained elsewhere (pytorch/examples' DCGAN ``netG.pth``) becomes a run that
generates, evaluates, reports, compares and exports, and every file it refuses."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from torch import nn

import ganlab
from ganlab.cli.main import main
from ganlab.evaluators.metric_base import MetricEvaluator, Score

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "experiments" / "quickstart.toml"
DCGAN_CELEBA = ROOT / "experiments" / "dcgan_celeba.toml"
nz, ngf, ndf, nc = 16, 8, 8, 3
"""pytorch/examples' dcgan at test size: its 64x64 networks, latent 16, widths 8."""
SMALL = ("generator.latent_dim=16", "generator.features=8", "data.image_size=64", "data.num_images=64")
"""What fits the quickstart recipe to that netG.pth: latent 16, width 8, 64x64 images."""


# pytorch/examples dcgan/main.py: its Generator, Discriminator, weights_init and training step, as written there.
class Generator(nn.Module):
    def __init__(self, ngpu):
        super().__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. (nc) x 64 x 64
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ngpu):
        super().__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


def train_examples_dcgan(steps: int, folder: Path) -> Path:
    """A few of main.py's training steps on 64x64 images, then its ``torch.save(netG.state_dict(), ...)``."""
    torch.manual_seed(0)
    netG, netD = Generator(1), Discriminator(1)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
    for _ in range(steps):
        real = torch.rand(8, nc, 64, 64) * 2 - 1
        netD.zero_grad()
        label = torch.full((8,), 1.0)
        errD_real = criterion(netD(real), label)
        errD_real.backward()
        fake = netG(torch.randn(8, nz, 1, 1))
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()), label)
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake), label)
        errG.backward()
        optimizerG.step()
    path = folder / "netG.pth"
    torch.save(netG.state_dict(), path)
    return path


def cli(*args) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def set_options(*overrides: str) -> list[str]:
    return [a for override in overrides for a in ("--set", override)]


@pytest.fixture(scope="module")
def netG(tmp_path_factory) -> Path:
    return train_examples_dcgan(3, tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="module")
def imported(netG, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imported")
    result = cli("import", netG, "--recipe", QUICKSTART, *set_options(*SMALL), "--out", out, "--name", "netg")
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


def test_a_netG_pth_imports_with_its_names_matched_in_order(imported, netG):
    meta = json.loads((imported / "meta.json").read_text())
    assert meta["status"] == "imported" and meta["steps"] == 0
    assert meta["imported"]["names"] == "matched in order: main.* -> net.*"
    assert meta["imported"]["source"] == str(netG.resolve()) and meta["imported"]["format"] == "torch"
    assert "train.ema=0" in meta["overrides"]  # the weights are used as they are
    assert not (imported / "metrics.jsonl").exists()
    assert (imported / "samples" / "epoch_0000.png").exists()  # the grid of its fixed noise, for the report


def test_a_netG_saved_through_dataparallel_matches_too(netG, tmp_path):
    wrapped = {f"module.{key}": value for key, value in torch.load(netG, weights_only=True).items()}
    torch.save(wrapped, tmp_path / "netG.pth")
    result = cli("import", tmp_path / "netG.pth", "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "parameter names: matched in order: module.main.* -> net.*" in result.output


def test_the_imported_run_holds_the_netGs_weights_exactly(imported, netG, tmp_path):
    from safetensors.torch import load_file

    theirs = torch.load(netG, weights_only=True)
    assert cli("export", imported, "--format", "safetensors", "-o", tmp_path / "g.safetensors").exit_code == 0
    ours = load_file(tmp_path / "g.safetensors")
    for name, tensor in theirs.items():  # the parameters; batch norm's buffers hold standing statistics instead
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(ours[name.replace("main.", "net.", 1)], tensor), name
    images = ganlab.load_run(imported).generate(num=4, seed=3)
    assert [image.size for image in images] == [(64, 64)] * 4


def test_generate_report_evaluate_and_compare_work_on_the_imported_run(imported, netG, tmp_path):
    result = cli("generate", imported, "--num", 4, "-o", tmp_path / "g.png")
    assert result.exit_code == 0, result.output
    result = cli("report", imported)
    assert result.exit_code == 0, result.output
    page = (imported / "report.html").read_text()
    assert "imported (ganlab import): no training history, no losses" in page and "main.* -&gt; net.*" in page
    result = cli("evaluate", imported, "--metric", "swd", "--num-samples", 32)
    assert result.exit_code == 0, result.output
    assert "imported.pt  step 0  swd = " in result.output
    other = cli("import", netG, "--recipe", QUICKSTART, *set_options(*SMALL, "experiment.seed=1"), "--out", tmp_path)
    assert other.exit_code == 0, other.output
    result = cli("compare", imported, other.output.strip().splitlines()[-1], "-o", tmp_path / "compare.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "compare.html").read_text()
    assert "imported (ganlab import)" in page and "experiment.seed" in page
    assert "checkpoint imported.pt (epoch 0)" in page and "could not be loaded" not in page  # final grids drawn


def test_the_shipped_celeba_recipe_takes_a_netG_without_the_data_on_disk(netG, tmp_path):
    options = set_options("generator.latent_dim=16", "generator.features=8")
    result = cli("import", netG, "--recipe", DCGAN_CELEBA, *options, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    run = Path(result.output.strip().splitlines()[-1])
    assert cli("generate", run, "--num", 4, "-o", tmp_path / "g.png").exit_code == 0
    exported = cli("export", run, "--format", "onnx", "-o", tmp_path / "g.onnx")
    assert exported.exit_code == 0, exported.output
    card = json.loads((tmp_path / "g.onnx.card.json").read_text())
    assert card["imported"]["names"] == "matched in order: main.* -> net.*" and card["step"] == 0


def test_the_python_api_imports_to_a_run_result(netG, tmp_path):
    overrides = {"generator.latent_dim": 16, "generator.features": 8, "data.image_size": 64}
    run = ganlab.import_weights(netG, QUICKSTART, overrides, out=tmp_path)
    assert run.status == "imported" and len(run.generate(num=2)) == 2
    with pytest.raises(ganlab.GanlabError, match="import_weights: weights must be a path"):
        ganlab.import_weights(3, QUICKSTART)


def test_an_imported_run_cannot_be_resumed(imported):
    result = cli("run", "--resume", imported)
    assert result.exit_code == 6
    assert "was imported (ganlab import): its checkpoint holds a generator only" in result.output


def test_a_recipe_whose_generator_does_not_fit_names_the_parameters(netG, tmp_path):
    result = cli(
        "import", netG, "--recipe", QUICKSTART, *set_options(*SMALL, "generator.features=16"), "--out", tmp_path
    )
    assert result.exit_code == 6
    assert f"checkpoint {str(netG)!r}: its 'state dict' does not fit the 'dcgan' generator" in result.output
    assert 'Missing key(s) in state_dict: "net.0.weight"' in result.output and '"main.0.weight"' in result.output
    assert not list(tmp_path.glob("*/meta.json"))  # nothing is left of a refused import


def test_a_size_mismatch_under_the_generators_own_names_is_named_as_resume_names_it(tmp_path):
    weights = ganlab.DCGANGenerator(16, 8, 64, 3).state_dict()
    weights["net.1.weight"] = torch.ones(5)
    torch.save(weights, tmp_path / "g.pt")
    result = cli("import", tmp_path / "g.pt", "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 6
    assert "net.1.weight is [5] in the checkpoint, [64] here" in result.output


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda t: t.long(), "net.0.weight is torch.int64 in the file, where the generator holds floating-point"),
        (lambda t: t * float("nan"), "net.0.weight holds NaN or infinite values"),
        (lambda t: t.clone().fill_(float("inf")), "net.0.weight holds NaN or infinite values"),
    ],
    ids=["integers", "nan", "inf"],
)
def test_weights_that_would_make_no_images_are_refused_naming_the_parameter(tmp_path, spoil, said):
    weights = ganlab.DCGANGenerator(16, 8, 64, 3).state_dict()
    weights["net.0.weight"] = spoil(weights["net.0.weight"])
    torch.save(weights, tmp_path / "g.pt")
    result = cli("import", tmp_path / "g.pt", "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 6 and said in result.output and "g.pt" in result.output
    assert not list(tmp_path.glob("*/meta.json"))


def test_half_precision_weights_are_widened_as_they_load(tmp_path):
    weights = {
        k: v.half() if v.is_floating_point() else v for k, v in ganlab.DCGANGenerator(16, 8, 64, 3).state_dict().items()
    }
    torch.save(weights, tmp_path / "g.pt")
    result = cli("import", tmp_path / "g.pt", "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "stop", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "ctrl-c"]
)
def test_an_import_stopped_half_way_leaves_no_run_behind(tmp_path, monkeypatch, stop):
    import ganlab.models.importing as importing

    def stopped(*args):
        raise stop

    monkeypatch.setattr(importing, "save_grid", stopped)  # after meta.json and the checkpoint are written
    torch.save(ganlab.DCGANGenerator(16, 8, 64, 3).state_dict(), tmp_path / "g.pt")
    out = tmp_path / "runs"
    if isinstance(stop, OSError):
        result = cli("import", tmp_path / "g.pt", "--recipe", QUICKSTART, *set_options(*SMALL), "--out", out)
        assert result.exit_code == 5 and "No space left on device" in result.output
    else:
        with pytest.raises(KeyboardInterrupt):
            overrides = {"generator.latent_dim": 16, "generator.features": 8, "data.image_size": 64}
            ganlab.import_weights(tmp_path / "g.pt", QUICKSTART, overrides, out=out)
    assert list(out.iterdir()) == []


class Payload:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_a_pickle_with_arbitrary_objects_is_refused_unopened(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"main.0.weight": Payload()}))
    result = cli("import", path, "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 6 and "ganlab refuses to unpickle it" in result.output and "evil.pth" in result.output
    assert "unpickled!" not in result.output + capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ([torch.zeros(3)], "not a generator's state dict (parameter names to tensors); the file holds a list"),
        ({"epoch": 3, "netG": {"w": torch.zeros(1)}}, "entries that are not tensors: 'epoch' (int), 'netG' (dict)"),
        ({}, "the file holds nothing"),
    ],
)
def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path, content, said):
    torch.save(content, tmp_path / "w.pth")
    result = cli("import", tmp_path / "w.pth", "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 6 and said in result.output and "w.pth" in result.output


def test_a_truncated_file_is_refused_naming_it(netG, tmp_path):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(netG.read_bytes()[: netG.stat().st_size // 2])
    result = cli("import", cut, "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 6 and f"checkpoint {str(cut)!r} is corrupt or truncated" in result.output


def test_a_damaged_safetensors_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "g.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    result = cli("import", path, "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 6 and f"weights {str(path)!r} are not a readable safetensors file" in result.output


def test_a_file_over_the_size_bound_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.pth"
    with open(huge, "wb") as f:
        f.truncate((4 << 30) + 1)  # sparse: takes no room on disk
    result = cli("import", huge, "--recipe", QUICKSTART, *set_options(*SMALL), "--out", tmp_path)
    assert result.exit_code == 6 and "are 4,294,967,297 bytes, more than the 4,294,967,296" in result.output


def test_a_missing_weights_file_or_a_folder_is_refused(tmp_path):
    result = cli("import", tmp_path / "none.pth", "--recipe", QUICKSTART, "--out", tmp_path)
    assert result.exit_code == 6 and "none.pth' does not exist" in result.output
    (tmp_path / "folder.pth").mkdir()
    result = cli("import", tmp_path / "folder.pth", "--recipe", QUICKSTART, "--out", tmp_path)
    assert result.exit_code == 6 and "folder.pth' is a folder, not a weights file" in result.output


def test_a_safetensors_whose_recorded_recipe_was_edited_into_no_toml_is_refused_naming_it(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "g.safetensors"
    save_file(ganlab.DCGANGenerator(16, 8, 64, 3).state_dict(), path, {"ganlab:recipe": "this is [not toml"})
    result = cli("import", path, "--out", tmp_path)
    assert result.exit_code == 6 and f"weights {str(path)!r}: its ganlab:recipe is not a TOML recipe" in result.output
    assert "Traceback" not in result.output and not list(tmp_path.glob("*/meta.json"))


def test_a_file_without_a_recorded_recipe_needs_one(netG, tmp_path):
    result = cli("import", netG, "--out", tmp_path)
    assert result.exit_code == 2 and "records no recipe" in result.output and "with --recipe" in result.output


def test_a_conditional_recipe_is_refused(netG, tmp_path):
    recipe = ROOT / "experiments" / "cdcgan_quickstart.toml"
    result = cli("import", netG, "--recipe", recipe, "--out", tmp_path)
    assert (
        result.exit_code == 2
        and "'cdcgan' is conditional; ganlab import brings it in only from a safetensors file" in result.output
    )


class DiscriminatorScore(MetricEvaluator):
    """A metric that needs D: what it gets of an imported run."""

    def scores(self, run):
        return [Score("d-score", float(run.discriminate(run.generate(4, seed=0)).mean()), {})]


@dataclasses.dataclass
class NoSettings:
    pass


class DiscriminatorPlugin:
    @ganlab.hookimpl
    def ganlab_register(self, registry):
        registry.add(
            "evaluator", "d-score", lambda config, context: DiscriminatorScore(every=1), NoSettings, help="uses D"
        )


def test_a_metric_that_needs_the_discriminator_is_refused_on_an_imported_run(imported, register_plugin):
    register_plugin(DiscriminatorPlugin(), "d-score")
    result = cli("evaluate", imported, "--metric", "d-score")
    assert result.exit_code == 6
    assert "was imported (ganlab import) and holds a generator only; there is no trained discriminator" in result.output
