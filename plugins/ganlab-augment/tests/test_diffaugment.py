"""DiffAugment: differentiable, the same draws for real and generated batches, each policy part doing
what it says and nothing else, reproducible from a seed, unknown parts refused at build."""

from __future__ import annotations

import ganlab_augment
import pytest
import torch
from ganlab_augment import DiffAugment, DiffAugmentConfig, build_diffaugment

from ganlab import BuildContext, ConfigError

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"), image_size=32, channels=3)


def faces(n: int = 16, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random colour images in [-1, 1], like downscaled photos."""
    low = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False)


def seeded(augment, images, seed=0):
    torch.manual_seed(seed)
    return augment(images)


def test_gradients_reach_the_images_through_every_part():
    augment = DiffAugment(("color", "translation", "cutout"))
    images = faces(2, 8).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: seeded(augment, x), (images,))
    seeded(augment, images).square().sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_real_and_generated_batches_get_the_same_kind_of_draws():
    augment = DiffAugment(("translation",))
    real, fake = faces(8, seed=1), faces(8, seed=2)
    real_out, fake_out = seeded(augment, real), seeded(augment, fake)
    assert real_out.shape == real.shape and fake_out.shape == fake.shape
    assert not torch.equal(real_out, real) and not torch.equal(fake_out, fake)
    # the same random state moves both by the same offsets: which pixels are uncovered (0) agrees
    assert torch.equal(seeded(augment, torch.ones_like(real)), seeded(augment, torch.ones_like(fake)))


def shifted(image: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``image`` moved down by ``rows`` and right by ``cols``, uncovered pixels 0."""
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    out[:, max(rows, 0) : h + min(rows, 0), max(cols, 0) : w + min(cols, 0)] = image[
        :, max(-rows, 0) : h - max(rows, 0), max(-cols, 0) : w - max(cols, 0)
    ]
    return out


def test_translation_shifts_each_image_by_at_most_the_ratio_with_zero_fill():
    images = faces(32)
    out = seeded(DiffAugment(("translation",), translation_ratio=0.125), images)
    offsets = set()
    for image, moved in zip(images, out):
        matches = [(r, c) for r in range(-4, 5) for c in range(-4, 5) if torch.equal(shifted(image, r, c), moved)]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 10  # offsets differ from image to image


def test_cutout_zeros_a_square_of_the_ratio_s_side_and_nothing_else():
    out = seeded(DiffAugment(("cutout",), cutout_ratio=0.5), torch.ones(64, 3, 32, 32))
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out[:, :1].expand_as(out), out)  # the same hole in every channel
    whole_squares = 0
    for image in out[:, 0]:
        rows, cols = torch.nonzero(image == 0, as_tuple=True)
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert (image[top:bottom, left:right] == 0).all() and len(rows) == (bottom - top) * (right - left)
        assert bottom - top <= 16 and right - left <= 16
        inside = top > 0 and left > 0 and bottom < 32 and right < 32
        if inside:
            assert (bottom - top, right - left) == (16, 16)
            whole_squares += 1
    assert whole_squares > 0


def test_color_changes_brightness_saturation_and_contrast_only():
    images = faces(32)
    out = seeded(DiffAugment(("color",)), images)
    grey, out_grey = images.mean(1, keepdim=True), out.mean(1, keepdim=True)
    for x, g, y, yg in zip(images, grey, out, out_grey):
        # each pixel's colour deviation from its grey is scaled by one factor per image (saturation x contrast)
        colour_scale = ((y - yg) * (x - g)).sum() / (x - g).square().sum()
        torch.testing.assert_close(y - yg, colour_scale * (x - g), atol=1e-5, rtol=0)
        assert 0 <= colour_scale < 3
        # and the grey is an affine function of the old one (brightness, contrast): no pixel moved
        a = torch.stack([g.flatten(), torch.ones(g.numel())], 1)
        fit = torch.linalg.lstsq(a, yg.flatten()).solution
        torch.testing.assert_close(a @ fit, yg.flatten(), atol=1e-5, rtol=0)
        assert 0.5 - 1e-5 <= fit[0] < 1.5
    assert not torch.allclose(out, images)


def test_a_seed_reproduces_the_augmentation_and_another_changes_it():
    augment, images = DiffAugment(("color", "translation", "cutout")), faces()
    assert torch.equal(seeded(augment, images, seed=3), seeded(augment, images, seed=3))
    assert not torch.equal(seeded(augment, images, seed=3), seeded(augment, images, seed=4))


def test_the_default_policy_is_the_paper_s():
    augment = build_diffaugment(DiffAugmentConfig(), CONTEXT)
    assert augment.policy == ("color", "translation", "cutout")


@pytest.mark.parametrize(
    "policy, problem",
    [
        (
            "color,transltion",
            "unknown part 'transltion' (did you mean 'translation'?); known parts: color, translation, cutout",
        ),
        ("color,flip", "unknown part 'flip'; known parts: color, translation, cutout"),
        (" , ", "names no part; known parts: color, translation, cutout"),
        ("cutout,cutout", "names 'cutout' more than once"),
    ],
)
def test_a_policy_naming_an_unknown_part_is_refused_at_build(policy, problem):
    with pytest.raises(ConfigError) as e:
        build_diffaugment(DiffAugmentConfig(policy=policy), CONTEXT)
    assert (e.value.key, e.value.message) == ("policy", problem)


def test_ganlab_list_shows_both_augmentations(register_plugin, run_cli):
    register_plugin(ganlab_augment)
    result = run_cli("list", "augment")
    assert result.exit_code == 0, result.output
    assert "diffaugment" in result.output and "ada" in result.output and "policy" in result.output
