"""CelebA's attribute file: 40 binary attributes per image, read into the labels ``data.attributes`` chooses.

Two layouts exist. The official ``list_attr_celeba.txt``: the image count on the first line, the 40
names on the second, then ``000001.jpg  -1  1 ...`` (one or more spaces). Kaggle's ``list_attr_celeba.csv``:
a header ``image_id,5_o_Clock_Shadow,...`` and rows ``000001.jpg,-1,1,...``. In both, -1 is "no" and 1
"yes": label values 0 and 1. Copies in the wild mix them (a .txt whose header starts with ``image_id``, or
without the count), and :mod:`.annotation_files` reads them all alike.

An image listed twice is read once when both rows agree (with a warning) and refused when they do not,
since either could be its labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np

from ..common.errors import ConfigError, DataError
from ..common.hints import did_you_mean
from ..common.labels import Attribute, LabelSpace
from ..common.whole_numbers import FORM, parse_whole_number
from .annotation_files import Line, decode, lines, one_row_per_image, quoted

ATTRIBUTE_FILES = ("list_attr_celeba.txt", "list_attr_celeba.csv")
VALUES = {"-1": 0, "1": 1}
KEY = "data.attributes"
"""The recipe key that asks for the file, which every message about it starts with."""


@dataclasses.dataclass(frozen=True)
class AttributeTable:
    """Every attribute of every image the file lists."""

    where: str  # the file (``archive:member`` inside a zip), for messages
    names: tuple[str, ...]  # the file's attribute names, in its column order
    rows: dict[str, np.ndarray]  # image file name -> int8 values (0/1), one per name


def parse_attributes(data: bytes, where: str) -> AttributeTable:
    """The table in either layout. Raises DataError naming ``where`` and the line of what is wrong."""
    found = lines(decode(data, where, KEY))
    first = next(found, None)
    if first is None:
        raise DataError(f"{KEY}: {where} is empty")
    declared = image_count(first, where) if len(first[2]) == 1 else None
    header = next(found, None) if declared is not None else first
    if header is None:
        raise DataError(f"{KEY}: {where} has no line of attribute names after the count on line {first[0]}")
    names = header_names(header, where)
    rows = read_rows(found, names, where)
    if declared is not None and declared != len(rows):
        raise DataError(wrong_count(first[0], declared, len(rows), where))
    return AttributeTable(where, names, rows)


def image_count(line: Line, where: str) -> int:
    """The count of images atop the official layout; DataError naming the line when it is not one."""
    count = parse_whole_number(line[2][0])
    if count is None:
        raise DataError(
            f"{KEY}: {where} line {line[0]}: expected the number of images ({FORM}: the official "
            f"list_attr_celeba.txt) or a header of attribute names (Kaggle's "
            f"'image_id,5_o_Clock_Shadow,...'), got {quoted(line, 80)}"
        )
    return count


def header_names(line: Line, where: str) -> tuple[str, ...]:
    """The attribute names of the header line, less the ``image_id`` that Kaggle's (and some copies of the
    official file) put first; DataError when the line is an image's row instead (no header at all)."""
    number, _, fields = line
    if len(fields) > 1 and all(field in VALUES for field in fields[1:]):
        raise DataError(
            f"{KEY}: {where} line {number}: expected the attribute names (the header, e.g. "
            f"'5_o_Clock_Shadow Arched_Eyebrows ...'), got an image's row {quoted(line, 80)}"
        )
    names = tuple(fields[1:] if fields[0] == "image_id" else fields)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DataError(
            f"{KEY}: {where} line {number}: the header names {', '.join(map(repr, twice))} twice; "
            f"which column is which cannot be told"
        )
    return names


def read_rows(body: Iterable[Line], names: tuple[str, ...], where: str) -> dict[str, np.ndarray]:
    """Each image's values (0/1, one per name); an image's second row as :func:`one_row_per_image` reads it."""

    def rows() -> Iterator[tuple[int, str, np.ndarray]]:
        for line in body:
            number, _, fields = line
            values = [VALUES.get(field) for field in fields[1:]]
            if len(values) != len(names) or None in values:
                raise DataError(
                    f"{KEY}: {where} line {number}: expected an image name and {len(names)} values "
                    f"of -1 or 1, got {quoted(line)}"
                )
            yield number, fields[0], np.array(values, dtype=np.int8)

    def disagreement(first: np.ndarray, again: np.ndarray) -> str | None:
        differ = [name for name, a, b in zip(names, first, again) if a != b]
        if not differ:
            return None
        return ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")

    return one_row_per_image(rows(), KEY, where, disagreement)


def wrong_count(number: int, declared: int, listed: int, where: str) -> str:
    """What to say when the count atop the file (on line ``number``) is not the number of images it lists."""
    why = (
        "it may be truncated: download it again"
        if listed < declared
        else "correct the count or remove the rows that were added"
    )
    return f"{KEY}: {where} line {number}: the file says it lists {declared} images but has rows for {listed}; {why}"


def choose(table: AttributeTable, attributes: list[str]) -> tuple[LabelSpace, list[int]]:
    """The label space of ``attributes`` and their columns in the file; ConfigError (key ``attributes``)
    for a name the file does not have, with the close ones."""
    for name in attributes:
        if name not in table.names:
            raise ConfigError(
                "attributes",
                f"{table.where} has no attribute {name!r}"
                + (did_you_mean(name, table.names) or f"; it has {', '.join(table.names)}"),
            )
    if len(set(attributes)) != len(attributes):
        raise ConfigError("attributes", f"an attribute is named twice in {attributes}")
    return (LabelSpace(tuple(Attribute(name) for name in attributes)), [table.names.index(name) for name in attributes])


def labels_of(table: AttributeTable, columns: list[int], images: list[str]) -> np.ndarray:
    """int64 ``(len(images), A)`` labels of ``images`` (file names), in their order; DataError naming the
    first image the file has no row for."""
    missing = [name for name in images if name not in table.rows]
    if missing:
        raise DataError(
            f"{KEY}: {table.where} has no row for {len(missing)} of the "
            f"{len(images)} images, e.g. {missing[0]!r}; it does not belong to these images"
        )
    return np.stack([table.rows[name][columns] for name in images]).astype(np.int64)
