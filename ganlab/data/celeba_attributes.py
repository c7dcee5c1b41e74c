"""CelebA's attribute file: 40 binary attributes per image, read into the labels ``data.attributes`` chooses.

Two layouts exist. The official ``list_attr_celeba.txt``: the image count on the first line, the 40
names on the second, then ``000001.jpg  -1  1 ...`` (one or more spaces). Kaggle's ``list_attr_celeba.csv``:
a header ``image_id,5_o_Clock_Shadow,...`` and rows ``000001.jpg,-1,1,...``. In both, -1 is "no" and 1
"yes": label values 0 and 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConfigError, DataError
from ..labels import Attribute, LabelSpace
from ..plugins.hints import did_you_mean

ATTRIBUTE_FILES = ("list_attr_celeba.txt", "list_attr_celeba.csv")
VALUES = {"-1": 0, "1": 1}


@dataclasses.dataclass(frozen=True)
class AttributeTable:
    """Every attribute of every image the file lists."""

    where: str                    # the file (``archive:member`` inside a zip), for messages
    names: tuple[str, ...]        # the file's attribute names, in its column order
    rows: dict[str, np.ndarray]   # image file name -> int8 values (0/1), one per name


def parse_attributes(text: str, where: str) -> AttributeTable:
    """The table in either layout. Raises DataError naming ``where`` and the line of a malformed row."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DataError(f"data.attributes: {where} is empty")
    kaggle = lines[0][1].startswith("image_id")
    if kaggle:
        header, body, declared = lines[0], lines[1:], None
        names = tuple(f.strip() for f in header[1].split(",")[1:])
    else:
        if len(lines) < 2 or not lines[0][1].strip().isdigit():
            raise DataError(f"data.attributes: {where} line {lines[0][0]}: expected the number of images "
                            f"(the official list_attr_celeba.txt) or a header 'image_id,...' (Kaggle's .csv), "
                            f"got {lines[0][1][:80]!r}")
        declared, header, body = int(lines[0][1]), lines[1], lines[2:]
        names = tuple(header[1].split())
    rows = {}
    for number, line in body:
        fields = [f.strip() for f in line.split(",")] if kaggle else line.split()
        values = [VALUES.get(f) for f in fields[1:]]
        if len(fields) != len(names) + 1 or None in values:
            raise DataError(f"data.attributes: {where} line {number}: expected an image name and "
                            f"{len(names)} values of -1 or 1, got {line[:120]!r}")
        rows[fields[0]] = np.array(values, dtype=np.int8)
    if declared is not None and declared != len(rows):
        raise DataError(f"data.attributes: {where} line {lines[0][0]}: the file says it lists {declared} "
                        f"images but lists {len(rows)}; it may be truncated, download it again")
    return AttributeTable(where, names, rows)


def choose(table: AttributeTable, attributes: list[str]) -> tuple[LabelSpace, list[int]]:
    """The label space of ``attributes`` and their columns in the file; ConfigError (key ``attributes``)
    for a name the file does not have, with the close ones."""
    for name in attributes:
        if name not in table.names:
            raise ConfigError("attributes", f"{table.where} has no attribute {name!r}" + (
                did_you_mean(name, table.names) or f"; it has {', '.join(table.names)}"))
    if len(set(attributes)) != len(attributes):
        raise ConfigError("attributes", f"an attribute is named twice in {attributes}")
    return (LabelSpace(tuple(Attribute(name) for name in attributes)),
            [table.names.index(name) for name in attributes])


def labels_of(table: AttributeTable, columns: list[int], images: list[str]) -> np.ndarray:
    """int64 ``(len(images), A)`` labels of ``images`` (file names), in their order; DataError naming the
    first image the file has no row for."""
    missing = [name for name in images if name not in table.rows]
    if missing:
        raise DataError(f"data.attributes: {table.where} has no row for {len(missing)} of the "
                        f"{len(images)} images, e.g. {missing[0]!r}; it does not belong to these images")
    return np.stack([table.rows[name][columns] for name in images]).astype(np.int64)
