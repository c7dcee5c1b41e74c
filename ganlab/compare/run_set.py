"""Which runs a comparison is about, and what each is called on the page.

A user names runs one by one, gives the folder a sweep wrote its runs into, or a glob (``runs/sweep-*``,
quoted so the shell leaves it to us). A path given by name must be a run directory or a folder holding
some; a glob may also match other things (a notes file beside the runs), which are passed over.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from ..common.errors import RunError
from ..rundir.rundir import RunDir

GLOB_CHARACTERS = frozenset("*?[")


def is_run_directory(path: Path) -> bool:
    return (path / "meta.json").is_file()


def runs_in(path: Path) -> list[RunDir]:
    """``path`` itself if it is a run directory, else the run directories directly inside it, by name."""
    if is_run_directory(path):
        return [RunDir.open(path)]
    if path.is_dir():
        children = sorted(child for child in path.iterdir() if child.is_dir() and is_run_directory(child))
        if children:
            return [RunDir.open(child) for child in children]
        raise RunError(f"{str(path)!r} is not a run directory (no meta.json), and no folder in it is one")
    return [RunDir.open(path)]  # raises the error that says what is wrong with the path


def expand(arguments: Sequence[str | Path]) -> list[RunDir]:
    """Every run the arguments name, in the order given, each once."""
    found: list[RunDir] = []
    for argument in arguments:
        text = str(argument)
        if GLOB_CHARACTERS & set(text) and not Path(text).exists():
            matches = [RunDir.open(p) for p in map(Path, sorted(glob.glob(text))) if is_run_directory(p)]
            if not matches:
                raise RunError(f"{text!r} matches no run directory")
            found += matches
        else:
            found += runs_in(Path(text))
    by_path: dict[Path, RunDir] = {}
    for run in found:
        by_path.setdefault(run.path.resolve(), run)
    unique = list(by_path.values())
    if len(unique) < 2:
        named = ", ".join(repr(str(run.path)) for run in unique)
        raise RunError(f"compare needs two or more runs; {' '.join(map(str, arguments))!r} gives only {named}")
    return unique


def display_names(runs: Sequence[RunDir]) -> list[str]:
    """Each run's directory name; where two share one, their parent folders tell them apart, and a
    number where even those are the same."""
    names = [run.name for run in runs]
    names = [
        f"{run.path.resolve().parent.name}/{name}" if names.count(name) > 1 else name for run, name in zip(runs, names)
    ]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if names.count(name) == 1 else f"{name} ({seen[name]})")
    return unique
