"""Whole numbers typed by people: an attribute's index in ``--condition``, a checkpoint's epoch, an array
index in ``--set``, the image count atop an attribute file, a step in a log they may have edited.

All of them are read by :func:`parse_whole_number`, never by ``str.isdigit`` and ``int``: ``isdigit`` is
true of '²' and '٣', which ``int`` refuses or reads as 3, and ``int`` raises on more than 4300 digits.
Each caller turns None into its own error, naming the text (through :func:`shown`), where it came from
and :data:`FORM`.
"""

from __future__ import annotations

import re

MAX_DIGITS = 18
"""The most digits a whole number may have: more than any count or index ganlab reads, few enough that
every such number fits an int64."""

FORM = f"a whole number (digits 0-9, at most {MAX_DIGITS} of them)"
"""What :func:`parse_whole_number` accepts, in the words an error message gives."""

_DIGITS = re.compile(f"[0-9]{{1,{MAX_DIGITS}}}")


def parse_whole_number(text: str) -> int | None:
    """``text`` as a non-negative integer when it is :data:`FORM` (no sign, space or underscore); None
    otherwise."""
    return int(text) if _DIGITS.fullmatch(text) else None


def shown(text: str, width: int = 80) -> str:
    """``text`` quoted for a message, cut short when it is long: a 5,000-digit number is named, not
    printed."""
    if len(text) <= width:
        return repr(text)
    return f"{text[: width - 10]!r}... ({len(text)} characters)"
