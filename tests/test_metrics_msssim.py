"""MS-SSIM (Wang et al. 2003) and the diversity figure built on it."""

import pytest
import torch

from ganlab.data.synthetic import draw_faces
from ganlab.metrics.msssim import SCALE_WEIGHTS, mean_pairwise_ms_ssim, ms_ssim, scales_for

C1 = (0.01 * 255) ** 2


def flat(value: float, size: int) -> torch.Tensor:
    return torch.full((1, 3, size, size), float(value))


def test_ms_ssim_of_two_flat_images_is_the_luminance_term_by_hand():
    # Flat images have zero variance, so contrast-structure is C2/C2 = 1 and only luminance remains.
    luminance = (2 * 100 * 150 + C1) / (100**2 + 150**2 + C1)  # = 0.92309...
    assert float(ms_ssim(flat(100, 16), flat(150, 16))) == pytest.approx(luminance, rel=1e-6)


def test_ms_ssim_renormalises_the_weights_of_the_scales_that_fit():
    luminance = (2 * 100 * 150 + C1) / (100**2 + 150**2 + C1)
    coarsest_weight = SCALE_WEIGHTS[1] / (SCALE_WEIGHTS[0] + SCALE_WEIGHTS[1])  # 32 px: scales 32 and 16
    assert float(ms_ssim(flat(100, 32), flat(150, 32))) == pytest.approx(luminance**coarsest_weight, rel=1e-6)


def test_all_five_scales_fit_from_176_pixels():
    assert [scales_for(s) for s in (11, 16, 32, 64, 175, 176)] == [1, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="at least 11x11"):
        scales_for(10)


def test_ms_ssim_of_an_image_with_itself_is_one_and_it_is_symmetric():
    faces = torch.from_numpy(draw_faces(4, 64, seed=0)).float()
    others = torch.from_numpy(draw_faces(4, 64, seed=1)).float()
    assert torch.allclose(ms_ssim(faces, faces), torch.ones(4))
    assert torch.allclose(ms_ssim(faces, others), ms_ssim(others, faces))


def test_ms_ssim_falls_as_noise_is_added():
    faces = torch.from_numpy(draw_faces(4, 32, seed=0)).float()
    generator = torch.Generator().manual_seed(0)
    noisy = [(faces + torch.randn(faces.shape, generator=generator) * s).clamp(0, 255) for s in (5.0, 40.0)]
    mild, strong = ms_ssim(faces, noisy[0]), ms_ssim(faces, noisy[1])
    assert bool((strong < mild).all()) and bool((mild < 1).all())


def test_diversity_of_identical_images_is_one():
    one_face = torch.from_numpy(draw_faces(1, 32, seed=0)).expand(10, -1, -1, -1)
    assert mean_pairwise_ms_ssim(one_face, num_pairs=20, seed=0) == pytest.approx(1.0)


def test_diversity_of_different_faces_is_below_one_and_reproducible():
    faces = torch.from_numpy(draw_faces(40, 32, seed=0))
    value = mean_pairwise_ms_ssim(faces, num_pairs=50, seed=3)
    assert 0 < value < 0.9
    assert mean_pairwise_ms_ssim(faces, num_pairs=50, seed=3) == value
