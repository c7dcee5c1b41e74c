"""The domain errors the CLI turns into short messages and exit codes instead of tracebacks.

Every user-facing failure is a subclass of :class:`GanlabError`. Each class carries the process exit code
so scripts can tell a bad recipe from missing data without parsing text.
"""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """Tell the user of a problem that does not stop the command: one line on standard error."""
    print(f"ganlab: warning: {message}", file=sys.stderr, flush=True)


class GanlabError(Exception):
    """Base of every error that is the user's to fix; the CLI prints it without a traceback."""

    exit_code = 1


class ArgumentError(GanlabError, TypeError, ValueError):
    """A function of ganlab's Python API was given an argument of a type or value it does not take: what
    the command line refuses as a usage error, with the same exit code. Also the TypeError or ValueError
    Python code expects of a bad argument, so an ``except ValueError`` around a call keeps working."""

    exit_code = 2


class RecipeError(GanlabError):
    """A recipe (or an override) is malformed or names something that does not exist.

    Holds every problem found, so the user fixes them all in one go instead of one per run.
    """

    exit_code = 2

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ConfigError(GanlabError):
    """A component's configuration is valid TOML but impossible (e.g. an image size a model cannot make).

    ``key`` is the dotted recipe key the problem belongs to, relative to the component's section, so the
    recipe loader can report it in the same ``file: section.key: message`` form as type errors.
    """

    exit_code = 2

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


class DataError(GanlabError):
    """Training data is missing, empty or unreadable."""

    exit_code = 3


class PluginError(GanlabError):
    """A plugin failed to load or register (raised only in strict mode; otherwise reported and skipped)."""

    exit_code = 4


class RunError(GanlabError):
    """A run directory is missing, not a run, locked by another process, or cannot be written."""

    exit_code = 5


class CheckpointError(GanlabError):
    """A checkpoint is corrupt, truncated, or carries something other than plain tensors and values."""

    exit_code = 6


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its type's name when it has none): what a one-line error says
    of a library's exception, whose message often runs on for lines."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
