"""An evaluator's own files under ``evaluators/<name>/`` of a run directory (``RunDir.evaluators_dir``).

Evaluators keep nothing that matters only in memory: a resumed run builds fresh evaluator objects, and the report
is rebuilt from the run directory alone, so every measurement is appended to a file as soon as it exists.
Reading never creates anything, so a report can be built from a read-only copy of a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..rundir.records import ANY_RECORD, Shape
from ..rundir.rundir import RunDir


class EvaluatorFiles:
    def __init__(self, name: str):
        self.name = name

    def path(self, run_dir: RunDir, filename: str) -> Path:
        """Where ``filename`` lives; the evaluator's folder is not created (see :meth:`writable`)."""
        return run_dir.evaluators_dir / self.name / filename

    def writable(self, run_dir: RunDir, filename: str) -> Path:
        return run_dir.evaluator_dir(self.name) / filename

    def append(self, run_dir: RunDir, filename: str, records: list[dict[str, Any]]) -> None:
        run_dir.evaluator_dir(self.name)
        run_dir.append_jsonl(f"evaluators/{self.name}/{filename}", records)

    def read(self, run_dir: RunDir, filename: str, shape: Shape = ANY_RECORD) -> list[dict[str, Any]]:
        """The log's records of ``shape``; others are skipped with a warning (see ``RunDir.read_jsonl``)."""
        return run_dir.read_jsonl(f"evaluators/{self.name}/{filename}", shape)


def latest_per_step(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per training step, the last one written, in step order.

    A resume now drops the records made after its checkpoint, but a run resumed by an earlier ganlab
    holds a step twice wherever it measured that step again; the newer record wins, so the report never
    shows a step twice.
    """
    by_step = {int(r["step"]): r for r in records if "step" in r}
    return [by_step[s] for s in sorted(by_step)]
