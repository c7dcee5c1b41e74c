"""The nearest-neighbour formulas, checked against the papers' definitions written out directly in numpy:
density and coverage (Naeem et al. 2020) and the copy ratio behind authenticity (Alaa et al. 2022)."""

import numpy as np
import pytest
import torch

from ganlab.metrics.neighbours import density_coverage, knn_radii, nearest_training


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def paper_density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Naeem et al. 2020, eq. (3) and (4): NND_k(X_i) is X_i's distance to its k-th nearest other real
    sample; B(x, r) the open ball; density = 1/(kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))],
    coverage = 1/N sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]."""
    nnd = np.sort(distances(real, real), axis=1)[:, k]  # column 0 is the sample itself
    inside = distances(fake, real) < nnd[None, :]  # [j, i]: Y_j in B(X_i, NND_k(X_i))
    return inside.sum() / (k * len(fake)), inside.any(axis=0).mean()


def paper_copy_ratio(generated: np.ndarray, training: np.ndarray) -> np.ndarray:
    """Alaa et al. 2022: the training sample X* nearest Y, and d(Y, X*) / d(X*, its nearest other X)."""
    to_training = distances(generated, training)
    nearest = to_training.argmin(axis=1)
    own = np.sort(distances(training, training), axis=1)[:, 1]
    return to_training.min(axis=1) / own[nearest]


def features(n: int, d: int = 8, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


@pytest.mark.parametrize("block_elements", [7, 64, 2**24], ids=["a row per block", "blocks", "one block"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_density_and_coverage_equal_the_papers_definitions(k, block_elements):
    real, fake = features(40), features(30, seed=1, shift=0.3)
    ours = density_coverage(real, fake, k, block_elements)
    expected = paper_density_coverage(real.double().numpy(), fake.double().numpy(), k)
    assert ours == pytest.approx(expected, abs=1e-12)
    assert 0 < ours[0] and 0 < ours[1] < 1


def test_identical_sets_have_full_coverage_and_a_density_of_one():
    # Each real ball B(X_i, NND_k) holds X_i and its k - 1 nearest others: k fakes, so density is exactly 1.
    real = features(50)
    assert density_coverage(real, real.clone(), k=5) == pytest.approx((1.0, 1.0))


def test_sets_far_apart_have_no_density_and_no_coverage():
    assert density_coverage(features(50), features(50, seed=1, shift=1000.0), k=5) == (0.0, 0.0)


def test_a_collapsed_generator_keeps_density_but_loses_coverage():
    real = features(200)
    collapsed = real[:1].repeat(100, 1)
    density, coverage = density_coverage(real, collapsed, k=5)
    assert coverage < 0.1  # only the few real neighbourhoods that hold the one it copies
    assert density > 0


def test_knn_radii_are_the_kth_nearest_other_sample_and_refuse_too_few_samples():
    x = features(20)
    expected = np.sort(distances(x.double().numpy(), x.double().numpy()), axis=1)[:, 3]
    assert knn_radii(x, 3, block_elements=30).numpy() == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="more than k rows"):
        knn_radii(features(5), 5)


@pytest.mark.parametrize("block_elements", [9, 2**24])
def test_the_copy_ratio_equals_the_definition(block_elements):
    training, generated = features(60, d=16), features(25, d=16, seed=1)
    found = nearest_training(generated, training, block_elements)
    t, g = training.double().numpy(), generated.double().numpy()
    assert found.ratio.numpy() == pytest.approx(paper_copy_ratio(g, t), rel=1e-9)
    assert found.index.tolist() == distances(g, t).argmin(axis=1).tolist()
    assert found.distance.numpy() == pytest.approx(distances(g, t).min(axis=1), rel=1e-9)


def test_copies_of_training_samples_have_ratios_near_zero_and_new_samples_near_one():
    training = features(300, d=32)
    copies = training[[4, 9, 150]] + 1e-4 * features(3, d=32, seed=2)
    new = features(100, d=32, seed=3)
    found = nearest_training(torch.cat([copies, training[:1], new]), training)
    assert found.index[:4].tolist() == [4, 9, 150, 0]
    assert found.ratio[:3].max() < 1e-3 and found.ratio[3] < 1e-6
    assert (found.ratio[4:] > 0.5).all() and 0.8 < found.ratio[4:].median() < 1.5
