"""Nearest neighbours in feature space: density and coverage (Naeem et al. 2020) and each generated image's
nearest training image with its copy ratio (Alaa et al. 2022).

Distances are Euclidean, computed in float64 blocks of rows: ``|a|^2 + |b|^2 - 2 a.b`` cancels badly for
near-identical vectors, and a near copy is exactly what the copy ratio looks for, so float32 would blur
it; blocks of :data:`BLOCK_ELEMENTS` distances keep 10k x 10k sets (and larger) within a few hundred MB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

BLOCK_ELEMENTS = 2**24
"""Distances held at once: 128 MiB of float64 (10k x 10k images come in 6 blocks)."""


def distance_blocks(
    a: torch.Tensor, b: torch.Tensor, block_elements: int = BLOCK_ELEMENTS
) -> Iterator[tuple[int, torch.Tensor]]:
    """The Euclidean distances from each row of ``a`` to each row of ``b``, as (first row, float64 block
    of consecutive rows of ``a`` by all of ``b``), ``block_elements`` distances or so at a time."""
    b = b.double()
    b_squared = (b * b).sum(1)
    rows = max(1, block_elements // max(1, len(b)))
    for start in range(0, len(a), rows):
        block = a[start : start + rows].double()
        squared = (block * block).sum(1, keepdim=True) + b_squared - 2 * block @ b.T
        yield start, squared.clamp_(min=0).sqrt_()


def knn_radii(features: torch.Tensor, k: int, block_elements: int = BLOCK_ELEMENTS) -> torch.Tensor:
    """Each row's distance to its ``k``-th nearest other row (NND_k of Naeem et al.), float64 (N,)."""
    if not 1 <= k < len(features):
        raise ValueError(f"the {k}-th nearest neighbour needs k >= 1 and more than k rows, got {len(features)}")
    radii = torch.empty(len(features), dtype=torch.float64)
    for start, block in distance_blocks(features, features, block_elements):
        rows = torch.arange(len(block))
        block[rows, start + rows] = float("inf")  # a row is not its own neighbour
        radii[start : start + len(block)] = block.kthvalue(k, dim=1).values
    return radii


def density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int, block_elements: int = BLOCK_ELEMENTS
) -> tuple[float, float]:
    """Density and coverage of ``fake`` features against ``real`` ones (Naeem et al. 2020, "Reliable
    Fidelity and Diversity Metrics for Generative Models", ICML), with B(x, r) the open ball and NND_k(x)
    the distance from real x to its k-th nearest other real sample:

    - density = 1/(kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]: how many real neighbourhoods each fake
      sample falls in, over k; about 1 when fakes are distributed like the reals, above 1 when they crowd
      into dense real regions, and unlike precision not fooled by a single real outlier's large ball;
    - coverage = 1/N sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]: the share of real samples with a fake
      one in their neighbourhood, a diversity measure bounded by 1.

    N real samples X_i, M fake samples Y_j. Matches the authors' reference code (``prdc``), strict ``<``.
    """
    radii = knn_radii(real, k, block_elements)
    inside = 0
    nearest_fake = torch.full((len(real),), float("inf"), dtype=torch.float64)
    for _, block in distance_blocks(fake, real, block_elements):
        inside += int((block < radii).sum())
        nearest_fake = torch.minimum(nearest_fake, block.min(dim=0).values)
    return inside / (k * len(fake)), float((nearest_fake < radii).double().mean())


@dataclasses.dataclass(frozen=True)
class NearestTraining:
    """Per generated sample (row j): its nearest training sample (``index``, a row of the training
    features), the ``distance`` to it, and the copy ``ratio`` of that distance to the training sample's own
    distance to its nearest other training sample."""

    index: torch.Tensor
    distance: torch.Tensor
    ratio: torch.Tensor


def nearest_training(
    generated: torch.Tensor, training: torch.Tensor, block_elements: int = BLOCK_ELEMENTS
) -> NearestTraining:
    """Each generated sample's nearest training sample and its copy ratio

        ratio_j = d(Y_j, X_i*) / d(X_i*, nearest other X),   X_i* the training sample nearest Y_j,

    the quantity behind the authenticity of Alaa et al. 2022 ("How Faithful is your Synthetic Data?
    Sample-level Metrics for Evaluating and Auditing Generative Models", ICML): Y_j is inauthentic (a
    copy) when it is closer to X_i* than any other training sample is, ratio_j < 1. New samples of the
    data distribution itself have ratios around 1 (a median of 1.04 to 1.09 for Gaussians in 16 to 256
    dimensions, yet with 13 to 31% of them below 1), so a ratio well below 1 marks a near copy, and an
    exact one scores about 0 (rounding aside). A distance of 0 is a ratio of 0 even against a training
    sample duplicated in the training data, whose own distance is 0 too.
    """
    own = knn_radii(training, 1, block_elements)
    distance = torch.empty(len(generated), dtype=torch.float64)
    index = torch.empty(len(generated), dtype=torch.long)
    for start, block in distance_blocks(generated, training, block_elements):
        nearest = block.min(dim=1)
        distance[start : start + len(block)] = nearest.values
        index[start : start + len(block)] = nearest.indices
    ratio = torch.where(distance == 0, 0.0, distance / own[index])
    return NearestTraining(index, distance, ratio)
