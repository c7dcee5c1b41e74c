"""Options shared by several ``ganlab`` commands, in a module of their own so that each command's module
imports them without importing the group that gathers the commands."""

from pathlib import Path
from typing import Any

import click

from ..common.whole_numbers import FORM, parse_whole_number, shown


class WholeNumber(click.IntRange):
    """An integer option read as every whole number a person types is read (:mod:`ganlab.common.whole_numbers`),
    then held to its range: click's own ``int()`` would take '٣', '1_000' and '+3', and print 5,000 digits
    back in full."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            number = parse_whole_number(value.strip())
            if number is None:
                text = value.strip()
                digits = text.removeprefix("-")
                bounded = self.min is not None or self.max is not None
                if bounded and digits.isascii() and digits.isdigit() and len(text) <= 40:  # -1, 2**64: out of range
                    self.fail(f"{text} is not in the range {self.bounds()}", param, ctx)
                self.fail(f"{shown(value)} is not {FORM}", param, ctx)
            value = number
        return super().convert(value, param, ctx)

    def bounds(self) -> str:
        """The range as click words it: ``0<=x<=4294967295``, ``x>=1``."""
        if self.max is None:
            return f"x>={self.min}"
        return f"x<={self.max}" if self.min is None else f"{self.min}<=x<={self.max}"


class Truncations(click.ParamType):
    """One truncation psi, or with ``several`` a comma-separated list of them: each a finite number above 0."""

    name = "psi"

    def __init__(self, several: bool = False):
        self.several = several

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..training.sampling import truncation_problem

        if not isinstance(value, str):
            return value
        texts = value.split(",") if self.several else [value]
        values = []
        for text in texts:
            try:
                psi = float(text.strip())
            except ValueError:
                psi = text.strip()[:40]
            problem = truncation_problem(psi)
            if problem is not None:
                self.fail(problem, param, ctx)
            values.append(psi)
        return tuple(dict.fromkeys(values)) if self.several else values[0]  # each psi scored once


override_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe key; VALUE is read as TOML (repeatable).",
)


def out_option(receives: str) -> Any:
    """``--out``: the folder that receives what the command makes (``receives``: "the run directory")."""
    return click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=Path("runs"),
        show_default=True,
        help=f"Folder that receives {receives}.",
    )
