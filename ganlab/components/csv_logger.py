"""The ``csv`` logger: the run's step records and evaluations as two CSV files, written as they happen,
for a spreadsheet or ``pandas.read_csv`` to follow a long run before its report exists."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import IO, Any

from ..common.config import param
from ..common.errors import ConfigError
from ..common.whole_numbers import parse_whole_number
from ..contracts.engine import BuildContext, RunView
from ..contracts.loggers import Logger
from ..registry.registry import component

EVALUATION_COLUMNS = ("step", "epoch", "metric", "value", "time", "details")
"""An evaluation's protocol differs from metric to metric, so it goes into one column as JSON."""


@dataclasses.dataclass
class CsvLoggerConfig:
    folder: str = param("csv", "folder of the run directory the files go in: steps.csv and evaluations.csv")


class CsvLogger(Logger):
    def __init__(self, config: CsvLoggerConfig):
        self.folder = config.folder
        self.files: dict[str, tuple[IO[str], csv.writer]] = {}

    def start(self, run: RunView) -> None:
        """Open both files for appending, first cutting the rows of steps after ``run.step`` (a resumed run
        writes them again), so the files end as an uninterrupted run's would."""
        folder = run.run_dir.path / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = {"steps": folder / "steps.csv", "evaluations": folder / "evaluations.csv"}
        for path in self.paths.values():
            _drop_rows_after(path, run.step)

    def log_steps(self, records: list[dict[str, float]]) -> None:
        self._write("steps", list(records[0]), records)

    def log_evaluation(self, record: dict[str, Any]) -> None:
        details = {k: v for k, v in record.items() if k not in EVALUATION_COLUMNS}
        self._write("evaluations", list(EVALUATION_COLUMNS), [{**record, "details": json.dumps(details)}])

    def _write(self, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` (flushed at once, for whoever watches the file), the header first in a new file."""
        if name not in self.files:
            path = self.paths[name]
            new = not path.exists() or path.stat().st_size == 0
            handle = path.open("a", newline="", encoding="utf-8")
            writer = csv.DictWriter(handle, columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            self.files[name] = (handle, writer)
        handle, writer = self.files[name]
        writer.writerows(rows)
        handle.flush()

    def finish(self, status: str) -> None:
        for handle, _ in self.files.values():
            handle.close()
        self.files.clear()


def _drop_rows_after(path: Path, step: int) -> None:
    """Rewrite ``path`` without its rows of steps after ``step``, atomically (a crash leaves either file)."""
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or "step" not in rows[0]:
        return
    column = rows[0].index("step")
    kept = [rows[0]] + [row for row in rows[1:] if not _logged_after(row, column, step)]
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(kept)
    os.replace(temporary, path)


def _logged_after(row: list[str], column: int, step: int) -> bool:
    """Whether ``row`` was logged after ``step``. A row whose step is not a whole number (the file edited by
    hand) is kept: when it was logged cannot be told, and dropping it would lose what it holds."""
    logged = parse_whole_number(row[column]) if column < len(row) else None
    return logged is not None and logged > step


@component(
    "logger",
    "csv",
    config=CsvLoggerConfig,
    help="steps.csv and evaluations.csv in the run directory, written as the run goes",
)
def build(config: CsvLoggerConfig, context: BuildContext) -> CsvLogger:
    folder = Path(config.folder)
    if folder.is_absolute() or ".." in folder.parts or not folder.parts:
        raise ConfigError("folder", f'must be a folder inside the run directory, such as "csv"; got {config.folder!r}')
    return CsvLogger(config)
