"""Built-in components: DCGAN shapes and one training step, loss formulas, init schemes, data sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganlab.common.errors import ConfigError, DataError
from ganlab.components.dcgan import DCGANDiscriminator, DCGANGenerator, _depth
from ganlab.components.inits import NormalConfig, build_dcgan_normal
from ganlab.components.losses import MinimaxBCE, NonSaturatingBCE
from ganlab.contracts.engine import BuildContext
from ganlab.data.folder import ImageFolderConfig
from ganlab.data.folder import build as build_image_folder
from ganlab.data.synthetic import SyntheticFaces, SyntheticFacesConfig


@pytest.mark.parametrize("size", [16, 32, 64])
def test_generator_maps_latents_to_images_in_range(size):
    g = DCGANGenerator(latent_dim=10, features=4, image_size=size, channels=3)
    images = g(torch.randn(5, 10))
    assert images.shape == (5, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1


@pytest.mark.parametrize("size", [16, 32, 64])
def test_discriminator_gives_one_logit_per_image(size):
    d = DCGANDiscriminator(features=4, image_size=size, channels=3)
    assert d(torch.randn(5, 3, size, size)).shape == (5,)


def test_dcgan_64_is_the_classic_architecture():
    g = DCGANGenerator(latent_dim=100, features=64, image_size=64, channels=3)
    d = DCGANDiscriminator(features=64, image_size=64, channels=3)
    widths = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [512, 256, 128, 64, 3]
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]
    assert isinstance(g.net[-1], nn.Tanh)
    assert not isinstance(d.net[1], nn.BatchNorm2d), "no batch norm on the discriminator's first layer"
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in d.modules())
    assert sum(p.numel() for p in g.parameters()) == 3_576_704  # as in the PyTorch DCGAN tutorial
    assert sum(p.numel() for p in d.parameters()) == 2_765_568


@pytest.mark.parametrize("size", [8, 48, 100])
def test_sizes_dcgan_cannot_make_are_config_errors(size):
    with pytest.raises(ConfigError, match=f"not {size}"):
        _depth(size)


def test_one_discriminator_and_one_generator_step_change_both_networks():
    torch.manual_seed(0)
    g = DCGANGenerator(8, 4, 16, 3)
    d = DCGANDiscriminator(4, 16, 3)
    loss = NonSaturatingBCE(real_label=0.9)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    g_before = [p.clone() for p in g.parameters()]
    d_before = [p.clone() for p in d.parameters()]
    real = torch.rand(8, 3, 16, 16) * 2 - 1
    fake = g(torch.randn(8, 8))
    loss_d = loss.discriminator_loss(d(real), d(fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    assert all(p.grad is None or not torch.any(p.grad != 0) for p in g.parameters())
    loss_g = loss.generator_loss(d(fake))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    assert all(not torch.equal(a, b) for a, b in zip(g_before, g.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, d.parameters()))


def test_bce_losses_match_their_formulas_on_known_logits():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 0.0, 1.0])
    sig = torch.sigmoid
    smoothed = NonSaturatingBCE(real_label=0.9)
    expected_d = (-(0.9 * torch.log(sig(real)) + 0.1 * torch.log(1 - sig(real)))).mean() - torch.log(
        1 - sig(fake)
    ).mean()
    assert torch.allclose(smoothed.discriminator_loss(real, fake), expected_d)
    assert torch.allclose(smoothed.generator_loss(fake), -torch.log(sig(fake)).mean())
    assert torch.allclose(MinimaxBCE().generator_loss(fake), torch.log(1 - sig(fake)).mean())


def test_bce_on_logits_is_finite_for_extreme_logits():
    extreme = torch.tensor([1e4, -1e4])
    loss = NonSaturatingBCE()
    assert torch.isfinite(loss.discriminator_loss(extreme, extreme))
    assert torch.isfinite(loss.generator_loss(extreme))
    assert torch.isfinite(MinimaxBCE().generator_loss(extreme))


def test_minimax_generator_gradient_saturates_where_non_saturating_does_not():
    """The reason DCGAN uses the non-saturating loss: when D confidently rejects fakes, minimax gives G
    almost no gradient."""
    logits = torch.tensor([-8.0], requires_grad=True)
    MinimaxBCE().generator_loss(logits).backward()
    minimax_grad = logits.grad.abs().item()
    logits.grad = None
    NonSaturatingBCE().generator_loss(logits).backward()
    assert minimax_grad < 1e-3 < logits.grad.abs().item()


def test_dcgan_normal_init_has_the_paper_statistics():
    torch.manual_seed(0)
    g = DCGANGenerator(100, 64, 64, 3)
    build_dcgan_normal(NormalConfig(), BuildContext(0, torch.device("cpu")))(g)
    conv = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    bn = torch.cat([m.weight for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(conv.mean().item()) < 1e-3 and math.isclose(conv.std().item(), 0.02, rel_tol=0.02)
    assert math.isclose(bn.mean().item(), 1.0, abs_tol=0.005)
    assert all(torch.all(m.bias == 0) for m in g.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("name", ["xavier", "kaiming", "orthogonal", "none"])
def test_every_init_scheme_builds_and_applies(plugins, name):
    entry = plugins.registry.get("init", name)
    g = DCGANGenerator(8, 4, 16, 3)
    entry.factory(entry.config(), BuildContext(0, torch.device("cpu")))(g)
    assert torch.isfinite(g(torch.randn(2, 8))).all()


def test_synthetic_faces_are_deterministic_by_seed_and_varied():
    a = SyntheticFaces(SyntheticFacesConfig(image_size=16, num_images=32, seed=3))
    b = SyntheticFaces(SyntheticFacesConfig(image_size=16, num_images=32, seed=3))
    c = SyntheticFaces(SyntheticFacesConfig(image_size=16, num_images=32, seed=4))
    assert a.images.dtype == torch.uint8 and a.images.shape == (32, 3, 16, 16)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    per_image_means = a.images.float().mean(dim=(1, 2, 3))
    assert per_image_means.std() > 5, "faces and backgrounds must differ between images"
    assert torch.equal(a.get_batch(torch.tensor([3, 1])), a.images[[3, 1]])


def test_synthetic_face_has_a_skin_coloured_centre_and_dark_eyes():
    face = SyntheticFaces(SyntheticFacesConfig(image_size=64, num_images=1, seed=0)).images[0].float()
    centre = face[:, 34:38, 30:34].mean(dim=(1, 2))  # cheek/nose area
    assert centre[0] >= centre[2], "skin is warmer (more red than blue)"
    eye_row = face[:, 24:34, 10:54].mean(dim=0)
    assert eye_row.min() < 60, "the pupils are dark"


def _save(path, size, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def image_folder(**config):
    return build_image_folder(ImageFolderConfig(**config), BuildContext(0, torch.device("cpu")))


def test_image_folder_reads_nested_images_as_uint8(tmp_path):
    _save(tmp_path / "photos" / "a" / "wide.png", (40, 20), (255, 0, 0))
    _save(tmp_path / "photos" / "b" / "c" / "tall.jpg", (20, 40), (0, 0, 255))
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    data = image_folder(root=str(tmp_path / "photos"), image_size=16, cache_dir=str(tmp_path / "cache"))
    assert len(data) == 2
    first = data[0]
    assert first.dtype == torch.uint8 and first.shape == (3, 16, 16)
    assert first[0].float().mean() > 250 and first[2].float().mean() < 5


def test_image_folder_crop_takes_the_centre(tmp_path):
    array = np.zeros((30, 30, 3), np.uint8)
    array[10:20, 10:20] = 255  # white centre square, black border
    (tmp_path / "photos").mkdir()
    Image.fromarray(array).save(tmp_path / "photos" / "x.png")
    data = image_folder(
        root=str(tmp_path / "photos"), image_size=8, crop=10, resize_filter="box", cache_dir=str(tmp_path / "cache")
    )
    assert data[0].float().mean() == 255


def test_image_folder_missing_root_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        image_folder(root=str(tmp_path / "nowhere"))
