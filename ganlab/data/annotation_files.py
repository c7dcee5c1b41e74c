"""CelebA's annotation files (``list_attr_celeba``, ``list_eval_partition``) as they are found: the
official whitespace-separated .txt and Kaggle's .csv, often saved again on the way (CRLF line endings,
trailing blanks, a byte-order mark). One decoding and one way of splitting a line serve both files in
both layouts, so a quirk read in one is read in all."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ..common.errors import DataError, warn

Value = TypeVar("Value")

_WIDE_BOMS = {
    "UTF-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
    "UTF-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
}
"""The byte-order marks of text that is not UTF-8, UTF-32 first: its little-endian mark begins with
UTF-16's."""


Line = tuple[int, str, list[str]]
"""A line that holds something: its number in the file (1-based, as an editor shows it), its text, and
its fields. A plain tuple: CelebA's files have 202,599 lines, read at every start of a run."""


def decode(data: bytes, where: str, key: str) -> str:
    """The text of an annotation file, a UTF-8 byte-order mark dropped. DataError (prefixed ``key``, the
    recipe key that asked for the file) naming ``where`` for UTF-16 or UTF-32 text, which it says to
    save as UTF-8, and for anything else that is not UTF-8."""
    for encoding, marks in _WIDE_BOMS.items():
        if data.startswith(marks):
            raise DataError(
                f"{key}: {where} is {encoding} text (it starts with a {encoding} byte-order mark); "
                f"save it as UTF-8 and try again"
            )
    if b"\0" in data:
        raise DataError(
            f"{key}: {where} holds NUL bytes, as UTF-16 text without a byte-order mark does; save it as UTF-8 text"
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{key}: {where} line {line} is not UTF-8 text (byte {e.start}); is it the right file?"
        ) from None


def lines(text: str) -> Iterator[Line]:
    """The lines of ``text`` that hold a field, numbered as an editor numbers them (CRLF and LF alike),
    their fields split at commas (Kaggle's .csv) or runs of blanks (the official .txt). One at a time:
    holding the fields of every line at once slows the reading of CelebA's 200,000 rows by half."""
    for number, text_line in enumerate(text.split("\n"), 1):
        fields = text_line.replace(",", " ").split()
        if fields:
            yield number, text_line, fields


def quoted(line: Line, width: int = 120) -> str:
    """A line's text quoted for a message, without its line ending, cut at ``width`` characters."""
    return repr(line[1].rstrip()[:width])


def one_row_per_image(
    rows: Iterable[tuple[int, str, Value]], key: str, where: str, disagreement: Callable[[Value, Value], str | None]
) -> dict[str, Value]:
    """``{image: value}`` of rows ``(line number, image, value)``. An image listed again is read once, with
    one warning for all such repeats, when ``disagreement`` finds nothing between its rows; when it names
    what differs, the file is refused naming both lines: either row could be the image's."""
    found: dict[str, Value] = {}
    first_line: dict[str, int] = {}
    repeated = []
    for number, image, value in rows:
        if image not in found:
            found[image], first_line[image] = value, number
            continue
        differ = disagreement(found[image], value)
        if differ is not None:
            raise DataError(
                f"{key}: {where} line {number}: a second row for {image!r}, which disagrees with "
                f"its first (line {first_line[image]}) on {differ}; keep the right one"
            )
        repeated.append((image, first_line[image], number))
    if repeated:
        image, first, again = repeated[0]
        warn(
            f"{key}: {where} line {again} lists {image!r} again, as line {first} does; such repeats "
            f"({len(repeated)} in all) are read once"
        )
    return found
