"""The one check of what a caller passes to ganlab's Python API (``ganlab.run``, ``RunResult.generate``,
``LabelSpace.from_dict``, ...). Python lets a wrong type through until it fails deep inside with an
AttributeError that names neither the function nor the parameter; checked at the door, every mistake is
a :class:`~ganlab.common.errors.GanlabError` naming the function, the parameter, what it was given and what it
takes, of the class the command doing the same work raises (a bad recipe or override is a RecipeError,
exit code 2; a bad run path a RunError, 5; any other bad argument an ArgumentError, 2, as the command line's
usage errors are), so a script can tell them apart by ``exit_code``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from .errors import ArgumentError, GanlabError, RecipeError, RunError

GLIMPSE = 60
"""Characters of a refused value's repr that a message shows."""


def plain(kind: type[GanlabError]) -> Callable[[str, str], GanlabError]:
    """An error of ``kind`` whose message is the function and the problem."""
    return lambda function, problem: kind(f"{function}: {problem}")


def in_recipe(function: str, problem: str) -> RecipeError:
    return RecipeError(function, [problem])


@dataclasses.dataclass(frozen=True)
class Accepts:
    """What one parameter takes: ``words`` says it in a message, ``fits`` tells a value that is one, and
    ``error`` makes the error that refuses the others."""

    words: str
    fits: Callable[[Any], bool]
    error: Callable[[str, str], GanlabError] = plain(ArgumentError)

    def or_none(self) -> Accepts:
        return Accepts(f"None or {self.words}", lambda value: value is None or self.fits(value), self.error)


def checked(function: str, parameter: str, value: Any, accepts: Accepts) -> Any:
    """``value``, once it is something ``parameter`` of ``function`` takes."""
    if not accepts.fits(value):
        raise accepts.error(function, f"{parameter} must be {accepts.words}; got {given(value)}")
    return value


def given(value: Any) -> str:
    """A refused value as Python shows it, and its type: ``['train.epochs=1'] (a list)``; an array or a
    tensor by its type, dtype and shape, which say more than its first numbers."""
    kind = type(value).__name__
    article = "an" if kind[0] in "aeiouAEIOU" else "a"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{article} {kind} of {dtype} and shape {tuple(shape)}"
    text = " ".join(repr(value).split())
    text = text if len(text) <= GLIMPSE else text[: GLIMPSE - 3] + "..."
    return text if value is None else f"{text} ({article} {kind})"


def describe(value: Any) -> str:
    """A value read from a file (JSON or TOML) by its kind there and a short glimpse of it, for a message that
    says what was found instead; :func:`given` words a value a Python caller passed."""
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }
    text = repr(value)
    kind = kinds.get(type(value), f"a {type(value).__name__}")
    return f"{kind} ({text if len(text) <= 40 else text[:37] + '...'})"


def is_path(value: Any) -> bool:
    """A str, or an ``os.PathLike`` (``pathlib.Path``) that stands for a str path (not for bytes)."""
    return isinstance(value, str) or (isinstance(value, os.PathLike) and isinstance(os.fspath(value), str))


def is_whole(value: Any) -> bool:
    """An int that is not a bool (``True`` is an int to Python, never a count to a user)."""
    return isinstance(value, int) and not isinstance(value, bool)


PATH = Accepts("a path (a str or an os.PathLike such as pathlib.Path)", is_path, plain(RunError))
TEXT = Accepts("a string", lambda value: isinstance(value, str))
FLAG = Accepts("True or False", lambda value: isinstance(value, bool))


def whole_number(low: int, high: int | None = None) -> Accepts:
    span = f"at least {low}" if high is None else f"from {low} to {high}"
    return Accepts(
        f"a whole number {span} (an int, not a bool)",
        lambda value: is_whole(value) and low <= value and (high is None or value <= high),
    )


def one_of(choices: tuple[str, ...]) -> Accepts:
    return Accepts(f"one of {', '.join(map(repr, choices))}", lambda value: isinstance(value, str) and value in choices)
