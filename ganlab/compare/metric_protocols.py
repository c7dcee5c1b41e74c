"""Whether the same metric from several runs was measured the same way.

An evaluation record is ``metric``, ``value``, where it was taken (step, epoch, time) and the protocol that
produced it: every other field (library version, feature extractor, weights hash, sample counts, reference
set fingerprint...). Nothing here knows a metric or a field by name, so a plugin's metric is checked like a
built-in one. Two FIDs whose protocols differ in any field are different measurements; the page says so.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from ..metrics.protocol import INFORMATIONAL_FIELDS, protocol_of
from ..report.core_sections import by_metric


@dataclasses.dataclass(frozen=True)
class ProtocolMismatch:
    metric: str
    fields: dict[str, tuple[str, ...]]
    """Each differing protocol field and, per run, the value its last record of the metric has ('' if none)."""

    def describe(self, names: Sequence[str]) -> str:
        return "; ".join(
            f"{field}: " + ", ".join(f"{name} {value or '(not recorded)'}" for name, value in zip(names, values))
            for field, values in self.fields.items()
        )


def protocol(record: dict[str, Any]) -> dict[str, str]:
    """The record's protocol fields as ganlab.metrics.protocol defines them, each as canonical text so that
    lists and tables compare by value."""
    return {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for k, v in protocol_of(record).items()
        if k not in INFORMATIONAL_FIELDS
    }


def shared_metrics(evaluations: Sequence[list[dict[str, Any]]]) -> list[str]:
    """Metrics every run recorded, in the first run's order."""
    groups = [by_metric(records) for records in evaluations]
    return [m for m in (groups[0] if groups else {}) if all(m in g for g in groups[1:])]


def protocol_mismatch(metric: str, evaluations: Sequence[list[dict[str, Any]]]) -> ProtocolMismatch | None:
    """How ``metric`` was measured differently across runs that recorded it; None if the same everywhere.

    Every record counts, not only the last: a run whose protocol changed along the way (resumed with
    another reference set) has values that compare with no other run's throughout.
    """
    per_run = [by_metric(records).get(metric, []) for records in evaluations]
    recorded = [records for records in per_run if records]
    fields = sorted({field for records in recorded for r in records for field in protocol(r)})
    differing = {}
    for field in fields:
        seen = {protocol(r).get(field, "") for records in recorded for r in records}
        if len(seen) > 1:
            differing[field] = tuple(protocol(records[-1]).get(field, "") if records else "" for records in per_run)
    return ProtocolMismatch(metric, differing) if differing else None
