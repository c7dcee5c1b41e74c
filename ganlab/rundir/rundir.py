"""The run directory: the only place a run lives, and everything needed to rebuild its report.

Layout::

    recipe.toml         the resolved recipe; runnable as is
    meta.json           status, times, seed, device, versions, plugins, overrides, error, and what the
                        loss's scores are (``scores``: a ganlab.ScoreKind)
    metrics.jsonl       one JSON object per generator update: losses, mean D(x) and D(G(z)) as those scores
    evaluations.jsonl   one JSON object per evaluation result (metric, value, step, protocol)
    checkpoints/        state dicts only, written atomically
    samples/            the fixed-noise grid after every epoch
    evaluators/<name>/  each evaluator's own files (``hooks/<name>/`` in a run of ganlab 0.4: read until 0.6)
    report.html

A run directory is never overwritten or deleted; a process holds an exclusive lock while writing it.
Every JSON-lines file in it, the evaluators' included, is a log whose records carry the ``step`` they were
made at: that is what lets a resume cut all of them back to its checkpoint (:meth:`RunDir.rewind`).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import re
import tempfile
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..common.arguments import PATH, checked
from ..common.atomic import atomic_write_text
from ..common.errors import RunError, warn
from ..common.files import read_json, unusual
from ..common.labels import in_column_order
from ..common.whole_numbers import shown
from .checkpoints import CheckpointRecord, CheckpointStore
from .records import ANY_RECORD, EVALUATION_RECORD, META, METRIC_RECORD, Shape, describe

EVALUATORS = "evaluators"
OLD_EVALUATORS = "hooks"  # until 0.6: the evaluators' folder of run directories that ganlab 0.4 wrote
RUN_FILES = ("meta.json", "recipe.toml", "metrics.jsonl", "evaluations.jsonl", "report.html")
"""The files a run writes directly in its directory."""
STATUSES = ("running", "finished", "failed", "interrupted", "diverged", "imported")
"""The engine's own statuses of a run (``imported``: made by ``ganlab import``, not trained); any other word
is one a component ended the run early with (``pruned``: :meth:`ganlab.RunView.end_early`)."""


def ended_early(status: str) -> bool:
    """Whether a run's status is one a component ended it early with: a complete run, like a finished one."""
    return status not in STATUSES


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_GRID = re.compile(r"epoch_(\d+)\.png$")
NOT_JSON = object()
"""What :meth:`RunDir.json_lines` gives for a line that is not JSON at all."""
MAX_DETAILS = 5
"""How many skipped lines a warning explains one by one; the rest it only numbers."""


def safe_name(name: str) -> str:
    """A run name that is one plain path component: no separators, no '..', no leading dot."""
    cleaned = _UNSAFE.sub("-", name).strip(".-") or "run"
    return cleaned[:80]


def _step_of(record: Any) -> float:
    """The step a log record says it was made at; 0 when it does not say (a plugin's log from before 0.2,
    or a line that is not a JSON object), so that a rewind to a checkpoint keeps it rather than failing."""
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, (int, float)) else 0


def skipped_lines(skipped: list[tuple[int, str]]) -> str:
    """'skipped lines 3, 7-9: line 3 is ...; ...': every line number, the first few with their reason."""
    numbers = [number for number, _ in skipped]
    reasons = "; ".join(f"line {number} {problem}" for number, problem in skipped[:MAX_DETAILS])
    more = f"; and {len(skipped) - MAX_DETAILS} more" if len(skipped) > MAX_DETAILS else ""
    noun = "line" if len(numbers) == 1 else "lines"
    return f"skipped {noun} {line_ranges(numbers)}, which ganlab cannot read: {reasons}{more}"


def line_ranges(numbers: list[int]) -> str:
    """Ascending line numbers as ranges: [3, 7, 8, 9] is '3, 7-9'."""
    ranges: list[list[int]] = []
    for number in numbers:
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def ensure_writable_folder(folder: Path, context: str = "") -> None:
    """Create ``folder`` if need be and prove it takes new files by making and removing one; a RunError
    (prefixed with ``context``) says which folder and why not: a file in its place, a read-only mount, no
    permission. Probing is the only test that holds for every user: root passes every permission check."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{context}{str(folder)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe, name = tempfile.mkstemp(prefix=".ganlab-write-test-", dir=folder)
        os.close(probe)
        os.unlink(name)
    except OSError as e:
        raise RunError(f"{context}cannot write in {str(folder)!r}: {e.strerror or e}") from None


def numbered_json(lines: list[str]) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of every line, :data:`NOT_JSON` for one that is not JSON; blank lines and
    a final line cut short by a crash are left out."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
            if number < len(lines):
                yield number, NOT_JSON


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def exclusive_lock(lock_file: Path, what: str, busy: str = "written") -> int:
    """An exclusive lock on ``lock_file`` (made if missing), held until the returned descriptor is
    closed: what keeps two ganlab processes from writing one run, or running one sweep, at once. A
    RunError names ``what`` when another process holds it ("being ``busy`` by another ganlab process"),
    when the file cannot be opened for writing, or when the file system has no locks (some network mounts)."""
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunError(
            f"cannot write to {what}: {e.strerror or e} (its lock file {str(lock_file)!r} cannot be opened for writing)"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunError(f"{what} is being {busy} by another ganlab process") from None
    except OSError as e:
        os.close(fd)
        raise RunError(f"cannot lock {what}: {e.strerror or e}") from None
    return fd


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_fd: int | None = None
        self.read_problems: dict[str, str] = {}
        """What was passed over in each file read so far (file name: why), each also warned about once."""

    # -- creating and opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, out: Path, name: str, stamped: bool = True) -> RunDir:
        """A new, empty run directory ``out/NAME-YYYYmmdd-HHMMSS`` (suffixed -2, -3... if taken), locked.

        Not ``stamped``, it is ``out/NAME`` exactly, and a RunError if that is taken: a sweep names its
        runs so that running it again finds them."""
        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create output folder {str(out)!r}: {e.strerror or e}") from None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"{safe_name(name)}-{stamp}" if stamped else safe_name(name)
        for attempt in range(1, 1000 if stamped else 2):
            path = out / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                path.mkdir()  # atomic: fails if another run took the name first
            except FileExistsError:
                if not stamped:
                    raise RunError(f"{str(path)!r} already exists; a run directory is never overwritten") from None
                continue
            except OSError as e:
                raise RunError(f"cannot create run directory in {str(out)!r}: {e.strerror or e}") from None
            run = cls(path)
            run.lock()
            for sub in ("checkpoints", "samples", EVALUATORS):
                (path / sub).mkdir()
            return run
        raise RunError(f"no free run directory name for {base!r} in {str(out)!r}")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        path = Path(checked("ganlab.RunDir.open", "path", path, PATH))
        try:
            is_folder = path.is_dir()
        except OSError as e:  # a name longer than the file system takes, a loop of links
            raise RunError(f"{shown(str(path))} is not a run directory ({e.strerror or e})") from None
        if not is_folder:
            raise RunError(f"{str(path)!r} is not a run directory (no such folder)")
        kind = unusual(path / "meta.json")
        if kind is not None:
            raise RunError(f"{str(path)!r} is not a run directory as ganlab writes them: its meta.json {kind}")
        if not (path / "meta.json").is_file():
            raise RunError(f"{str(path)!r} is not a run directory (no meta.json)")
        return cls(path)

    def lock(self) -> None:
        """Take the run's write lock; a second process writing the same run is refused, and so is a run
        that cannot be written at all (a read-only mount, a folder without write permission)."""
        self._lock_fd = exclusive_lock(self.path / ".lock", f"run {str(self.path)!r}")

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def prepare_for_writing(self) -> None:
        """Make the run's folders again where they are missing (a user moved ``checkpoints/`` away to
        restart the run) and make sure each can be written, the run directory's own and its evaluators' included;
        a RunError names the first that cannot. Called before a command changes any of the run's files, so
        a place it cannot write stops it while everything is still as it was."""
        evaluators = self.evaluators_dir
        evaluator_folders = sorted(p for p in evaluators.iterdir() if p.is_dir()) if evaluators.is_dir() else []
        for folder in (self.path, self.checkpoints_dir, self.samples_dir, evaluators, *evaluator_folders):
            ensure_writable_folder(folder, f"run {str(self.path)!r}: ")
        for name in (*RUN_FILES, *self.logs()):
            if (self.path / name).is_dir():
                raise RunError(f"run {str(self.path)!r}: {name} is a folder; it must be the run's file")

    # -- paths ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def recipe_path(self) -> Path:
        return self.path / "recipe.toml"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    def grid_path(self, epoch: int) -> Path:
        """The fixed-noise grid of ``epoch``: saved when it completed, or where the run stopped inside it."""
        return self.samples_dir / f"epoch_{epoch:04d}.png"

    @property
    def grid_rows_path(self) -> Path:
        """A conditional run's grid rows: a JSON list of each row's condition (``"Smiling=1, Male=0"``)."""
        return self.samples_dir / "rows.json"

    @property
    def evaluators_dir(self) -> Path:
        """The folder of the evaluators' own files: ``evaluators/``, or the old folder of a run directory
        that ganlab 0.4 or before wrote, so that such a run keeps one layout when it is resumed."""
        old = self.path / OLD_EVALUATORS
        return old if old.is_dir() and not (self.path / EVALUATORS).exists() else self.path / EVALUATORS

    def evaluator_dir(self, name: str) -> Path:
        """Evaluator ``name``'s own folder, made on first use."""
        path = self.evaluators_dir / safe_name(name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def hook_dir(self, name: str) -> Path:  # until 0.6
        """Deprecated name of :meth:`evaluator_dir`, kept for plugins written for ganlab 0.4 until 0.6."""
        warnings.warn(
            "RunDir.hook_dir is deprecated: use RunDir.evaluator_dir (the old name works until 0.6)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.evaluator_dir(name)

    def _in_layout(self, filename: str) -> str:
        """Log ``filename`` (relative to the run directory) with its evaluators' folder spelt as this run
        directory spells it: ganlab spells it ``evaluators/NAME/FILE``, a run of ganlab 0.4 keeps it under
        the old folder name, and a plugin written for 0.4 may still spell that one."""
        first, slash, rest = filename.partition("/")
        if not slash or first not in (EVALUATORS, OLD_EVALUATORS):
            return filename
        if first == OLD_EVALUATORS and self.evaluators_dir.name == EVALUATORS:  # until 0.6
            warnings.warn(
                f"{filename}: the evaluators' folder is {EVALUATORS}/ now; the old name is read as it until 0.6",
                DeprecationWarning,
                stacklevel=3,
            )
        return f"{self.evaluators_dir.name}/{rest}"

    # -- meta -----------------------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        """meta.json as written, every field kept (:meth:`update_meta` writes back what it does not change)."""
        try:
            meta = read_json(self.path / "meta.json")
        except OSError as e:
            raise RunError(f"{str(self.path)!r}: meta.json is unreadable: {e.strerror or e}") from None
        except ValueError as e:
            raise RunError(f"{str(self.path)!r}: meta.json is unreadable: it {e}") from None
        if not isinstance(meta, dict):
            raise RunError(f"{str(self.path)!r}: meta.json is unreadable: it holds {describe(meta)}, not a JSON object")
        return meta

    def read_checked_meta(self) -> dict[str, Any]:
        """meta.json for reading back: a field of the wrong type (an edit by hand, an older version) is left
        out, as if it were missing, with a warning naming it; an older run's label spaces come in the
        current form, in column order where it can be recovered (:meth:`_label_spaces_in_order`)."""
        meta = self.read_meta()
        wrong = META.wrong_fields(meta)
        if wrong:
            self._passed_over(
                "meta.json", "treated as missing: " + "; ".join(f"{name!r} is {what}" for name, what in wrong.items())
            )
        return self._label_spaces_in_order({name: value for name, value in meta.items() if name not in wrong})

    def _label_spaces_in_order(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` with its label spaces (``label_space``, ``labels.space``) in the form
        LabelSpace.to_dict writes. Earlier versions of ganlab wrote them as ``{name: values}``, the names
        sorted; their column order is taken from the run's recipe (``data.attributes``, what celeba and
        synthetic-faces label with, in order), and a table whose order cannot be recovered is left for
        LabelSpace.from_dict to refuse."""
        if "label_space" not in meta and "labels" not in meta:
            return meta
        order = self._recipe_attributes()
        meta = dict(meta)
        if "label_space" in meta:
            meta["label_space"] = in_column_order(meta["label_space"], order)
        if "space" in meta.get("labels", {}):
            meta["labels"] = {**meta["labels"], "space": in_column_order(meta["labels"]["space"], order)}
        return meta

    def _recipe_attributes(self) -> list[str] | None:
        """The run's ``data.attributes`` as its recipe.toml gives them; None where it gives none."""
        try:
            data = tomllib.loads(self.recipe_path.read_text("utf-8")).get("data")
        except (OSError, ValueError, RecursionError):
            return None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        return attributes if isinstance(attributes, list) and all(isinstance(a, str) for a in attributes) else None

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_text(self.path / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        meta = self.read_meta()
        meta.update(changes)
        self.write_meta(meta)
        return meta

    # -- logs -----------------------------------------------------------------------------------------
    def append_jsonl(self, filename: str, records: list[dict[str, Any]]) -> None:
        """Add ``records`` to log ``filename``; a log that cannot be written is a RunError naming it."""
        if not records:
            return
        filename = self._in_layout(filename)
        try:
            with open(self.path / filename, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(r, allow_nan=True) + "\n" for r in records))
                f.flush()
        except OSError as e:
            raise RunError(f"cannot write to run {str(self.path)!r}: its log {filename}: {e.strerror or e}") from None

    def json_lines(self, filename: str) -> Iterator[tuple[int, Any]]:
        """(line number, JSON value) of every line of log ``filename`` (see :func:`numbered_json`); bytes
        that are not UTF-8 read as replacement characters, so that the rest of the file is still read."""
        return numbered_json(self._log_lines(self._in_layout(filename), exact=False))

    def read_jsonl(self, filename: str, shape: Shape = ANY_RECORD) -> list[dict[str, Any]]:
        """The records of ``filename`` that have ``shape``; every other line is skipped, and one warning
        names the file and those lines."""
        filename = self._in_layout(filename)
        records, skipped = [], []
        for number, value in self.json_lines(filename):
            problem = "is not JSON" if value is NOT_JSON else shape.problem(value)
            if problem is None:
                records.append(value)
            else:
                skipped.append((number, problem))
        if skipped:
            self._passed_over(filename, skipped_lines(skipped))
        return records

    def _log_lines(self, filename: str, exact: bool = True) -> list[str]:
        """The lines of log ``filename`` (none if it does not exist). ``exact`` (for rewriting the log)
        refuses bytes that are not UTF-8 instead of replacing them, so that a rewrite never changes a line
        it keeps. One that cannot be read is a RunError naming it, never a traceback."""
        path = self.path / filename
        kind = unusual(path)
        if kind is not None:
            raise RunError(f"{str(path)!r} {kind}; ganlab writes its logs as files")
        if not path.exists():
            return []
        try:
            return path.read_bytes().decode("utf-8", errors="strict" if exact else "replace").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
            raise RunError(f"run {str(self.path)!r}: its log {filename} cannot be read ({why})") from None

    def _kept_lines(self, filename: str, step: int) -> tuple[list[str], int]:
        """The records of log ``filename`` made up to ``step``, as lines, and how many lines are left out."""
        lines = self._log_lines(filename)
        kept = [
            json.dumps(r, allow_nan=True) for _, r in numbered_json(lines) if r is not NOT_JSON and _step_of(r) <= step
        ]
        return kept, len(lines) - len(kept)

    def _write_lines(self, filename: str, lines: list[str]) -> None:
        atomic_write_text(self.path / filename, "".join(line + "\n" for line in lines))

    def _passed_over(self, filename: str, why: str) -> None:
        """Warn, once per file, that some of it was passed over; the report lists it too."""
        if filename in self.read_problems:
            return
        self.read_problems[filename] = why
        warn(f"{self.path / filename}: {why}")

    def truncate_jsonl(self, filename: str, step: int) -> int:
        """Drop the records logged after ``step`` (and a torn last line); return how many were dropped.

        A resumed run repeats the steps after its checkpoint, so what the crashed process logged for them
        must go, or they would appear twice.
        """
        filename = self._in_layout(filename)
        if not (self.path / filename).exists():
            return 0
        kept, dropped = self._kept_lines(filename, step)
        self._write_lines(filename, kept)
        return dropped

    def logs(self) -> list[str]:
        """Every JSON-lines log of the run, relative to its directory: its own and its evaluators'."""
        paths = [*self.path.glob("*.jsonl"), *self.evaluators_dir.rglob("*.jsonl")]
        return sorted(str(p.relative_to(self.path)) for p in paths)

    def rewind(self, checkpoint: CheckpointRecord | None) -> None:
        """Drop what the run wrote after ``checkpoint``: every log record of a later step, and the grids of
        later epochs; with no checkpoint the run starts over, so nothing it logged or drew is kept.

        The resumed run writes all of it again, so the directory ends as an uninterrupted run's would,
        even when the resume stops sooner than the run it continues (a lowered ``train.max_steps``).
        """
        last_step, last_epoch = (checkpoint.step, checkpoint.epoch) if checkpoint else (-1, 0)
        kept = {log: self._kept_lines(log, last_step)[0] for log in self.logs()}  # all read before any is cut
        for log, lines in kept.items():
            self._write_lines(log, lines)
        for epoch, path in self.sample_grids():
            if epoch > last_epoch:
                path.unlink()

    def read_metrics(self) -> list[dict[str, Any]]:
        return self.read_jsonl("metrics.jsonl", METRIC_RECORD)

    def read_evaluations(self) -> list[dict[str, Any]]:
        return self.read_jsonl("evaluations.jsonl", EVALUATION_RECORD)

    # -- checkpoints ----------------------------------------------------------------------------------
    @property
    def checkpoint_store(self) -> CheckpointStore:
        return CheckpointStore(self.checkpoints_dir)

    def save_checkpoint(self, filename: str, state: dict[str, Any], metric: float | None = None) -> Path:
        """Write ``state`` (state dicts and plain values only) atomically as ``checkpoints/filename``."""
        return self.checkpoint_store.save(filename, state, metric)

    def checkpoints(self) -> list[Path]:
        return sorted(self.checkpoints_dir.glob("*.pt"))

    def samples(self) -> list[Path]:
        return sorted(self.samples_dir.glob("epoch_*.png"))

    def sample_grids(self) -> list[tuple[int, Path]]:
        """(epoch, path) of every saved progress grid, in epoch order."""
        return sorted((int(m.group(1)), p) for p in self.samples() if (m := _GRID.search(p.name)))
