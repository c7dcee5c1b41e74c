"""The Fréchet distance ganlab gets from torch-fidelity, checked against closed forms."""

import numpy as np
import pytest
import torch

from ganlab.metrics.inception import frechet_distance, statistics


def gaussian(mean: np.ndarray, cov: np.ndarray) -> dict[str, torch.Tensor]:
    return {"mu": torch.from_numpy(mean), "sigma": torch.from_numpy(cov)}


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # a random rotation
    a, b = rng.uniform(0.5, 3.0, 6), rng.uniform(0.5, 3.0, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # Covariances sharing eigenvectors: sqrt(S1 S2) = Q diag(sqrt(a b)) Q^T.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    got = frechet_distance(gaussian(mu1, q @ np.diag(a) @ q.T), gaussian(mu2, q @ np.diag(b) @ q.T))
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_shifted_identical_gaussians_is_the_squared_shift():
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    got = frechet_distance(gaussian(np.zeros(2), cov), gaussian(np.array([3.0, 4.0]), cov))
    assert got == pytest.approx(25.0, rel=1e-9)


def test_fid_of_a_feature_set_against_itself_is_zero():
    features = torch.randn(500, 32, generator=torch.Generator().manual_seed(0)) * 3 + 1
    stats = statistics(features)
    assert frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-6)


def test_fid_grows_with_the_distance_between_feature_sets():
    features = torch.randn(500, 32, generator=torch.Generator().manual_seed(0))
    near, far = (frechet_distance(statistics(features), statistics(features + shift)) for shift in (0.1, 1.0))
    assert 0 < near < far
    assert far == pytest.approx(32 * 1.0**2, rel=1e-6)
