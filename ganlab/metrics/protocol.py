"""What makes two scores comparable: the flat protocol dict stored beside every score.

An evaluation record in ``evaluations.jsonl`` is ``{metric, value, step, epoch, time, **protocol}``. The
protocol is every key that is not a result field. Its keys, by metric family:

- all: ``metric``; ``num_generated`` and ``num_reference`` (images on each side); ``reference`` (the
  sha256 fingerprint of the reference set: source, transform, image size, count, sample seed, and which
  part of its source a data set trained on a subset is: ``held-out`` or ``training subset``) and
  ``reference_source`` (the same, readable: ``held-out of /data/faces (100 of 1500 images, 64px)``);
  ``seed`` (of the latent vectors and the reference sample);
  ``sampling`` (how the generated images were made: :data:`SAMPLING`).
- fid, kid, precision, recall, density, coverage, memorised_fraction, nn_ratio_median (every score of
  Inception features): ``library`` ("torch-fidelity", whose extractor makes the features),
  ``library_version``, ``feature_extractor``, ``feature_layer``, ``network_sha256``
  (:func:`ganlab.metrics.weights.network_digest` of the Inception network) and ``network_source`` (where
  that network came from, readable); kid adds ``kid_subsets`` and ``kid_subset_size``; precision and
  recall add ``neighborhood``; density and coverage add ``implementation`` (ganlab's code of the
  formulas), ``nearest_k`` and ``higher_is_better`` (true); memorised_fraction and nn_ratio_median, whose
  reference is always the training data, add ``implementation`` (the copy ratio's definition), and
  memorised_fraction ``threshold`` and ``higher_is_better`` (false).
- swd and its per-level ``swd_<size>px`` scores: ``implementation``, ``patch_size``,
  ``patches_per_image``, ``projections``, ``min_level``, ``scale``.
- diversity and diversity_real: ``implementation``, ``num_pairs``, ``scales``.

:func:`protocol_of` and :data:`INFORMATIONAL_FIELDS` are the one definition of what counts: the metric
report sections and ``ganlab compare`` both decide comparability with them.
"""

from __future__ import annotations

from typing import Any

RESULT_FIELDS = frozenset({"value", "std", "step", "epoch", "time", "checkpoint"})
"""Record keys that are results or bookkeeping, not part of how the score was made."""

INFORMATIONAL_FIELDS = frozenset({"reference_source", "network_source"})
"""Protocol keys shown to users but implied by others (``reference`` fingerprints the source,
``network_sha256`` the network)."""

STANDING_SEED = 20_240_613
"""Seed of the latents the standing statistics are computed over: fixed, so they never depend on a request."""
STANDING_BATCHES = 16
STANDING_BATCH_SIZE = 64
"""16 batches of 64 latents (BigGAN's 16 accumulations, at DCGAN's batch size)."""
LATENT_BLOCK = 256
"""Seeded latents are drawn this many at a time (``seeded_latents`` in :mod:`ganlab.training.sampling`)."""
SAMPLING = (
    f"eval mode, standing batch-norm statistics ({STANDING_BATCHES}x{STANDING_BATCH_SIZE} latents, "
    f"seed {STANDING_SEED}), latents in blocks of {LATENT_BLOCK}"
)
"""How generated images are made, as a metric's protocol records it (its ``sampling`` field): scores of
images made another way (training-mode batch statistics, as ganlab 0.2.0 sampled) are not comparable."""


def protocol_of(record: dict[str, Any]) -> dict[str, Any]:
    """The protocol part of an evaluation record."""
    return {k: v for k, v in record.items() if k not in RESULT_FIELDS}


def protocol_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Why scores made under protocols ``a`` and ``b`` are not comparable; empty when they are.

    Accepts whole evaluation records too (result fields are ignored). Each difference reads
    ``key: A vs B``, with ``(absent)`` for a key only one side has.
    """
    pa, pb = protocol_of(a), protocol_of(b)
    problems = []
    for key in sorted((pa.keys() | pb.keys()) - INFORMATIONAL_FIELDS):
        va, vb = pa.get(key, "(absent)"), pb.get(key, "(absent)")
        if va != vb:
            problems.append(f"{key}: {va} vs {vb}")
    return problems
