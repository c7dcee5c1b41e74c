"""Sliced Wasserstein distance over Laplacian-pyramid patches."""

import pytest
import torch

from ganlab.data.synthetic import draw_faces
from ganlab.metrics.swd import laplacian_pyramid, level_sizes, swd


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return torch.from_numpy(draw_faces(48, 32, seed=0))


def perturbed(images: torch.Tensor, sigma: float) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(1)) * sigma
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def test_swd_of_a_set_with_itself_is_zero_at_every_level(faces):
    assert swd(faces, faces.clone()) == {32: 0.0, 16: 0.0}


def test_swd_grows_with_the_strength_of_a_perturbation(faces):
    mild, strong = swd(faces, perturbed(faces, 4.0)), swd(faces, perturbed(faces, 32.0))
    assert all(0 < mild[size] < strong[size] for size in (32, 16))


def test_swd_is_symmetric(faces):
    other = torch.from_numpy(draw_faces(48, 32, seed=1))
    assert swd(faces, other) == swd(other, faces)


def test_swd_tells_different_face_sets_apart_less_than_faces_from_noise(faces):
    other_faces = torch.from_numpy(draw_faces(48, 32, seed=1))
    noise = torch.randint(0, 256, faces.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    assert swd(faces, other_faces)[16] < swd(faces, noise)[16]


def test_pyramid_levels_run_from_full_resolution_down_to_16_pixels():
    assert level_sizes(64) == [64, 32, 16]
    assert level_sizes(16) == [16]
    with pytest.raises(ValueError, match="at least 16x16"):
        level_sizes(8)


def test_laplacian_pyramid_of_a_flat_image_has_empty_bands_and_keeps_the_mean():
    flat = torch.full((1, 3, 32, 32), 120, dtype=torch.uint8)
    band, residual = laplacian_pyramid(flat, 2)
    assert band.abs().max() < 1e-4
    assert torch.allclose(residual, torch.full((1, 3, 16, 16), 120.0))


def test_swd_refuses_sets_of_different_shapes(faces):
    with pytest.raises(ValueError, match="same shape"):
        swd(faces, faces[:10])
