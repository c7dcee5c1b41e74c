"""A run's checkpoints: when to write them, how they are written, which to trust, which to keep.

Every checkpoint is written atomically and then listed in ``checkpoints/manifest.json`` with its size
and SHA-256, so a file cut short by a crash or damaged on disk is recognised before it is loaded, and
the previous one is used instead. A file that is not in the manifest was never completely recorded and
is not trusted. Checkpoints are loaded with ``weights_only=True``: one that carries pickled objects is
refused, never run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch

from ..common.atomic import atomic_write, atomic_write_text
from ..common.config import param
from ..common.errors import CheckpointError, RunError
from ..common.files import read_json, unusual
from ..common.whole_numbers import FORM, parse_whole_number, shown

MANIFEST = "manifest.json"


@dataclasses.dataclass
class CheckpointConfig:
    """The ``[checkpoint]`` recipe section. A checkpoint is always written at the end of every epoch."""

    every_steps: int = param(0, "also checkpoint every N generator updates; 0: only at epoch ends", min=0)
    every_minutes: float = param(
        0.0,
        "also checkpoint when N minutes passed since the last one (looked at every train.log_every steps); 0: off",
        min=0,
    )
    keep_last: int = param(0, "keep only the newest K checkpoints (and the best); 0 keeps all", min=0)
    best_metric: str = param("", "evaluation metric (e.g. 'fid') whose best checkpoint is always kept")
    best_mode: Literal["min", "max"] = param("min", "whether a lower or a higher best_metric is better")


class CheckpointSchedule:
    """Decides when a run writes a checkpoint between epoch ends, by steps and by wall-clock minutes."""

    def __init__(self, config: CheckpointConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._clock = clock
        self._last = clock()

    def due_by_steps(self, step: int) -> bool:
        """Whether ``step`` is a multiple of ``every_steps``: the same answer in every process."""
        return bool(self.config.every_steps and step % self.config.every_steps == 0)

    @property
    def timed(self) -> bool:
        return bool(self.config.every_minutes)

    def due_by_clock(self) -> bool:
        """Whether ``every_minutes`` passed since the last checkpoint: each process's clock says its own."""
        return bool(self.timed and self._clock() - self._last >= self.config.every_minutes * 60)

    def written(self) -> None:
        """Restart the minutes count; called after every checkpoint, scheduled or not."""
        self._last = self._clock()


@dataclasses.dataclass(frozen=True)
class CheckpointRecord:
    """One manifest entry: what a complete checkpoint file looked like when it was written."""

    file: str
    size: int
    sha256: str
    step: int
    epoch: int
    metric: float | None = None

    def __post_init__(self) -> None:
        """A manifest edited by hand or damaged on disk must not pass for one that can be trusted: every
        field has its type (a bool is no count), so sorting and comparing records cannot fail later."""
        wrong = [
            f"{name} is {value!r}"
            for name, value, kinds in (
                ("file", self.file, str),
                ("size", self.size, int),
                ("sha256", self.sha256, str),
                ("step", self.step, int),
                ("epoch", self.epoch, int),
                ("metric", self.metric, (int, float, type(None))),
            )
            if not isinstance(value, kinds) or isinstance(value, bool)
        ]
        if wrong:
            raise TypeError(f"entry for {self.file!r}: " + ", ".join(wrong))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``: a checkpoint that carries pickled code is refused, never run. A
    special file (a named pipe would be waited on for ever) is refused before it is opened."""
    kind = unusual(Path(path))
    if kind is not None:
        raise CheckpointError(f"checkpoint {str(path)!r} {kind}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file") from None
    except Exception as e:
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds objects other than tensors and plain "
                "values; ganlab refuses to unpickle it"
            ) from None
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or truncated: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from None


IMPORTED = "imported"
"""The key of a checkpoint that ``ganlab import`` wrote: where its weights came from. Such a checkpoint holds
a generator only (no discriminator, optimizers, counters or random states)."""


def generator_only(state: dict[str, Any]) -> bool:
    """Whether a checkpoint holds a generator only (one that ``ganlab import`` wrote), so that nothing that
    needs the rest of a training state (resume) takes it for a training checkpoint."""
    return IMPORTED in state


def training_state(state: Any, path: Path) -> dict[str, Any]:
    """``state`` once it looks like what a ganlab run saves: a dict carrying the recipe it was trained with.

    Anything else (a bare tensor, a list, another program's state dict) is refused here, naming the file,
    before any part of it is taken for a network's weights."""
    if not isinstance(state, dict) or not isinstance(state.get("recipe"), dict):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a ganlab training checkpoint (it lacks the "
            "recipe, image shape or generator weights)"
        )
    return state


@contextlib.contextmanager
def fitting(path: Path, key: str, target: str) -> Iterator[None]:
    """Put the checkpoint's ``key`` into ``target`` (what the recipe builds with the installed ganlab and
    plugins) inside this block; whatever that raises means the checkpoint does not fit, as after an upgrade
    or a plugin that changed a network, and becomes a CheckpointError naming the file, the key and why.

    The one way every command (resume, evaluate, generate, compare) loads a part of a checkpoint, so a
    misfit is always exit 6 and never a traceback, whichever part and whichever command.
    """
    try:
        yield
    except CheckpointError:
        raise
    except Exception as e:  # a plugin's load_state_dict may raise anything; all of it means "does not fit"
        raise CheckpointError(
            f"checkpoint {str(path)!r}: its {key!r} does not fit {target} ({_misfit_reason(e)})"
        ) from None


_SIZE_MISMATCH = re.compile(
    r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[.*?\])\) from "
    r"checkpoint, the shape in current model is torch\.Size\((\[.*?\])\)\.?"
)


def _misfit_reason(error: Exception, shown: int = 5) -> str:
    """One line naming what does not fit: torch lists each mismatching parameter on a line of its own, all
    in the same long words, so each becomes ``name is [shape] in the checkpoint, [shape] here``."""
    if isinstance(error, KeyError):
        return f"the checkpoint has no {error.args[0]!r}" if error.args else "a key is missing"
    lines = [
        _SIZE_MISMATCH.sub(r"\1 is \2 in the checkpoint, \3 here", line.strip())
        for line in str(error).splitlines()
        if line.strip()
    ]
    if not lines:
        return type(error).__name__
    head, details = (lines[0], lines[1:]) if lines[0].endswith(":") else ("", lines)
    more = f"; and {len(details) - shown} more" if len(details) > shown else ""
    return f"{head} {'; '.join(details[:shown])}{more}".strip()


def whole_number(value: Any) -> int:
    """A counter (step, epoch) read from a checkpoint: a non-negative int, or a TypeError saying what it is."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a whole number of at least 0, got {value!r}")
    return value


def same_shape(value: Any, like: torch.Tensor) -> torch.Tensor:
    """``value`` if it is a tensor shaped like ``like`` (what the recipe makes), else a ValueError."""
    if not isinstance(value, torch.Tensor) or value.shape != like.shape:
        got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"expected a tensor of shape {list(like.shape)}, got {got}")
    return value


def check_optimizer_state(optimizer: torch.optim.Optimizer, network: torch.nn.Module) -> None:
    """Raise a ValueError naming each parameter whose loaded optimizer state does not fit it.

    ``Optimizer.load_state_dict`` compares only the numbers of groups and parameters, so moments of the
    wrong shape would fail at the first training step, after a resume has rewound the run's logs. Every
    state tensor must broadcast to its parameter: Adam's moments have its shape, factored ones (Adafactor's)
    broadcast to it.
    """
    names = {id(p): name for name, p in network.named_parameters()}
    problems = []
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for slot, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and not _broadcasts_to(value.shape, parameter.shape):
                    problems.append(
                        f"{slot} of {names.get(id(parameter), 'a parameter')} has shape "
                        f"{list(value.shape)}, the parameter {list(parameter.shape)}"
                    )
    if problems:
        raise ValueError("; ".join(problems))


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


class CheckpointStore:
    """The ``checkpoints/`` folder of one run and its manifest."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def records(self) -> list[CheckpointRecord]:
        """The manifest's entries, oldest first; an unreadable manifest is an error, never ignored."""
        if not self.manifest_path.exists():
            return []
        try:
            entries = read_json(self.manifest_path)["checkpoints"]
            records = [CheckpointRecord(**entry) for entry in entries]
        except (OSError, ValueError, KeyError, TypeError) as e:
            why = f"it {e}" if type(e) is ValueError else f"{type(e).__name__}: {e}"  # read_json's words
            raise CheckpointError(
                f"{str(self.manifest_path)!r} is unreadable ({why}); pass a checkpoint file explicitly"
            ) from None
        return sorted(records, key=lambda r: r.step)

    def _write_manifest(self, records: list[CheckpointRecord]) -> None:
        entries = [dataclasses.asdict(r) for r in sorted(records, key=lambda r: r.step)]
        atomic_write_text(self.manifest_path, json.dumps({"checkpoints": entries}, indent=2) + "\n")

    def save(self, filename: str, state: dict[str, Any], metric: float | None = None) -> Path:
        """Write ``state`` as ``filename`` atomically, then record it in the manifest.

        A failed write (disk full, folder not writable) leaves every earlier checkpoint and the manifest
        as they were, and says so.
        """
        path = self.directory / filename
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getbuffer()
        record = CheckpointRecord(filename, len(data), _sha256(data), int(state["step"]), int(state["epoch"]), metric)
        try:
            atomic_write(path, lambda f: f.write(data))
            self._write_manifest([r for r in self.records() if r.file != filename] + [record])
        except OSError as e:
            previous = [r.file for r in self.records() if r.file != filename]
            kept = f"the previous checkpoint {previous[-1]} is intact" if previous else "no earlier checkpoint"
            raise RunError(f"cannot write checkpoint {str(path)!r}: {e.strerror or e}; {kept}") from None
        return path

    def unlisted(self) -> list[str]:
        """Checkpoint files the manifest does not list: a write that never completed, or one that retention
        was removing when the process died. Nothing vouches for their contents."""
        listed = {r.file for r in self.records()}
        return [path.name for path in sorted(self.directory.glob("*.pt")) if path.name not in listed]

    def problem(self, record: CheckpointRecord) -> str | None:
        """Why ``record``'s file cannot be trusted (missing, wrong size, wrong hash), or None."""
        path = self.directory / record.file
        kind = unusual(path)  # a named pipe would be waited on for ever
        if kind is not None:
            return kind
        try:
            data = path.read_bytes()
        except OSError as e:
            return f"cannot be read ({e.strerror or e})"
        if len(data) != record.size:
            return f"is truncated or damaged ({len(data)} bytes, the manifest says {record.size})"
        if _sha256(data) != record.sha256:
            return "is damaged (its SHA-256 does not match the manifest)"
        return None

    def verify(self, record: CheckpointRecord) -> None:
        """Raise a CheckpointError naming ``record``'s file and its :meth:`problem`: the one manifest check
        that resume, evaluate and every other reader of a run's checkpoints trust."""
        problem = self.problem(record)
        if problem is not None:
            raise CheckpointError(f"checkpoint {record.file} {problem}")

    def load(self, record: CheckpointRecord, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """``record``'s checkpoint once :meth:`verify` passes; intact bytes that do not load as a plain
        checkpoint (pickled objects) are a CheckpointError naming the file too."""
        self.verify(record)
        try:
            return load_checkpoint(self.directory / record.file, map_location)
        except CheckpointError as e:
            raise CheckpointError(f"checkpoint {record.file} does not load ({e})") from None

    def newest_valid(self, warn: Callable[[str], None]) -> tuple[CheckpointRecord, dict[str, Any]] | None:
        """The newest checkpoint that :meth:`load` accepts; ``warn`` hears of each file passed over."""
        for name in self.unlisted():
            warn(f"checkpoint {name} is not in the manifest (its write never completed); ignored")
        for record in reversed(self.records()):
            try:
                return record, self.load(record)
            except CheckpointError as e:
                warn(f"{e}; using the one before it")
        return None

    def named(self, name: str, warn: Callable[[str], None]) -> tuple[Path, CheckpointRecord | None]:
        """The checkpoint a user names (:meth:`find`) with its manifest entry, once it passes :meth:`verify`.

        The user asked for this file, so a damaged one is an error, not something to pass over. A file the
        manifest does not list (a run from before manifests, an interrupted write) is allowed with a
        warning: the user vouches for it, nothing else can. So is any file when the manifest is unreadable,
        since naming a file is what that error advises.
        """
        path = self.find(name)
        try:
            record = next((r for r in self.records() if r.file == path.name), None)
        except CheckpointError:
            warn(
                f"checkpoint {path.name} cannot be checked, since {str(self.manifest_path)!r} is unreadable; "
                "using it as named"
            )
            return path, None
        if record is None:
            warn(
                f"checkpoint {path.name} is not in the manifest, so its size and hash cannot be checked; "
                "using it as named"
            )
        else:
            self.verify(record)
        return path, record

    def read(
        self, path: Path, record: CheckpointRecord | None, map_location: str | torch.device = "cpu"
    ) -> dict[str, Any]:
        """What :meth:`named` chose: through :meth:`load` when the manifest lists it, as it stands if not."""
        return self.load(record, map_location) if record is not None else load_checkpoint(path, map_location)

    def find(self, name: str) -> Path:
        """A checkpoint by file name (``epoch_0003.pt`` or ``epoch_0003``) or by epoch number (``3``).

        A path is refused, even one into another run: the manifest vouches only for this folder's files,
        and whatever is made from the checkpoint (scores in evaluations.jsonl, images) is taken as this run's.
        """
        files = sorted(p.name for p in self.directory.glob("*.pt") if p.is_file())
        available = ", ".join(files) or "none"
        if Path(name).name != name:
            raise CheckpointError(
                f"checkpoint {name!r} is a path; name a checkpoint in "
                f"{str(self.directory)!r} by file name or epoch number (available: {available})"
            )
        epoch = parse_whole_number(name)
        # looked up in the listing, never asked of the file system: a name too long for it is simply absent
        for candidate in [name, f"{name}.pt", *([f"epoch_{epoch:04d}.pt"] if epoch is not None else [])]:
            if candidate in files:
                return self.directory / candidate
        raise CheckpointError(
            f"no checkpoint {shown(name)} in {str(self.directory)!r}; name one by file name "
            f"or by epoch number ({FORM}); available: {available}"
        )

    def prune(self, config: CheckpointConfig) -> list[str]:
        """Apply retention: keep the newest ``keep_last`` and the best by ``best_metric``; return what went.

        The manifest forgets a checkpoint before its file is deleted, so a crash in between leaves an
        unlisted file, which is never trusted, rather than a listed file that is missing.
        """
        if not config.keep_last:
            return []
        records = self.records()
        keep = {r.file for r in records[-config.keep_last :]}
        scored = [r for r in records if r.metric is not None]
        if config.best_metric and scored:
            pick = min if config.best_mode == "min" else max
            keep.add(pick(scored, key=lambda r: r.metric).file)
        doomed = [r.file for r in records if r.file not in keep]
        if doomed:
            self._write_manifest([r for r in records if r.file in keep])
            for name in doomed:
                (self.directory / name).unlink(missing_ok=True)
        return doomed
