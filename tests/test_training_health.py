"""training-health: each failure is flagged with the step where it began, and healthy runs are not."""

from __future__ import annotations

import math
import re

import pandas as pd
import torch

from ganlab import PROBABILITY
from ganlab.evaluators.training_health import (
    collapse_flag,
    discriminator_wins_flag,
    mean_pairwise_distance,
    nonfinite_flag,
)

BCE_WIN = PROBABILITY.outright_win


BALANCED = {"d_real": 0.6, "d_fake": 0.4, "loss_d": 1.2, "loss_g": 1.0}


def log(steps: int, at: int | None = None, **late: float) -> pd.DataFrame:
    """A balanced metrics log of ``steps`` steps whose values change to ``late`` from step ``at`` on."""
    return pd.DataFrame(
        [
            {
                "step": step,
                "epoch": 1 + (step - 1) // 100,
                **BALANCED,
                **(late if at is not None and step >= at else {}),
            }
            for step in range(1, steps + 1)
        ]
    )


def test_a_balanced_run_raises_no_flag():
    frame = log(600)
    assert nonfinite_flag(frame) is None
    assert discriminator_wins_flag(frame, patience=100, win=BCE_WIN) is None


def test_the_first_non_finite_loss_is_flagged_at_its_step():
    frame = log(50, at=37, loss_g=math.nan)
    flag = nonfinite_flag(frame)
    assert flag.check == "non-finite" and flag.step == 37


def test_a_discriminator_that_wins_for_good_is_flagged_where_it_began():
    frame = log(600, at=301, d_real=0.9, d_fake=0.002, loss_g=9.0, loss_d=0.33)
    flag = discriminator_wins_flag(frame, patience=100, win=BCE_WIN)
    assert flag.check == "discriminator-wins"
    assert 295 <= flag.step <= 315  # the smoothing window blurs the onset by a few steps
    assert "to the end of the run" in flag.evidence
    assert "D(G(z)) about 0.0" in flag.evidence and "generator loss about 9" in flag.evidence
    assert "label smoothing" in flag.advice


def test_a_discriminator_streak_that_ends_says_when_the_generator_recovered():
    frame = log(600, at=101, d_real=0.9, d_fake=0.002, loss_g=9.0)
    frame.loc[frame["step"] > 400, list(BALANCED)] = list(BALANCED.values())
    flag = discriminator_wins_flag(frame, patience=100, win=BCE_WIN)
    assert 90 <= flag.step <= 115
    recovered = re.search(r"until step (\d+), when the generator recovered", flag.evidence)
    assert 385 <= int(recovered.group(1)) <= 410


def test_a_short_discriminator_streak_is_not_flagged():
    frame = log(600, at=551, d_real=0.9, d_fake=0.002, loss_g=9.0)
    assert discriminator_wins_flag(frame, patience=100, win=BCE_WIN) is None


def test_a_strong_discriminator_with_a_generator_that_still_learns_is_not_flagged():
    frame = log(600, at=101, d_real=0.87, d_fake=0.03, loss_g=4.5)
    assert discriminator_wins_flag(frame, patience=100, win=BCE_WIN) is None


def diversity(*ratios: float) -> list[dict]:
    return [{"epoch": i + 1, "step": 100 * (i + 1), "ratio": r} for i, r in enumerate(ratios)]


def test_diversity_lost_after_a_healthy_start_is_flagged_where_it_was_lost():
    flag = collapse_flag(diversity(0.8, 0.7, 0.2, 0.1, 0.6), ratio=0.35)
    assert flag.check == "collapse" and flag.step == 300
    assert "20% as much as two real images" in flag.evidence and "lost" in flag.evidence


def test_diversity_still_low_when_the_run_ends_is_flagged():
    assert collapse_flag(diversity(0.8, 0.7, 0.1), ratio=0.35).step == 300
    flag = collapse_flag(diversity(0.1, 0.1, 0.1), ratio=0.35)
    assert flag.step == 100 and "never reached" in flag.evidence and "had not regained it" in flag.evidence


def test_low_diversity_of_a_fresh_generator_that_grows_is_not_collapse():
    assert collapse_flag(diversity(0.1, 0.2, 0.5, 0.8), ratio=0.35) is None


def test_one_low_measurement_in_between_is_not_collapse():
    assert collapse_flag(diversity(0.6, 0.2, 0.7, 0.8), ratio=0.35) is None
    assert collapse_flag([], ratio=0.35) is None


def test_identical_images_have_no_diversity_and_different_ones_do():
    same = torch.full((8, 3, 32, 32), 128, dtype=torch.uint8)
    varied = torch.randint(0, 256, (8, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    assert mean_pairwise_distance(same) == 0.0
    assert mean_pairwise_distance(varied) > 1.0
