"""CelebA's attribute and partition files as users have them: copies saved on Windows, with a byte-order
mark, an ``image_id`` header in the .txt, Kaggle's .csv; and the broken ones (an image listed twice,
UTF-16 text, a count that is not a number) refused naming the file and the line (exit code 3)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from data_layouts import (
    CELEBA_ATTRIBUTES,
    attribute_csv,
    attribute_rows,
    attribute_txt,
    celeba_files,
    partition_text,
    write_folder,
    write_recipe_with_data,
)

from ganlab.contracts.engine import BuildContext
from ganlab.data import celeba

SMILING, EYEGLASSES = CELEBA_ATTRIBUTES.index("Smiling"), CELEBA_ATTRIBUTES.index("Eyeglasses")
ROWS = attribute_rows(6)
EXPECTED = torch.tensor([[int(row[SMILING] == 1), int(row[EYEGLASSES] == 1)] for row in ROWS])
"""The Smiling and Eyeglasses labels of the six images, as the official file gives them."""


def windows(text: str) -> str:
    return text.replace("\n", "\r\n")


def with_image_id_header(text: str) -> str:
    count, header, rest = text.split("\n", 2)
    return "\n".join([count, "image_id " + header, rest])


def without_count(text: str) -> str:
    return text.split("\n", 1)[1]


def with_trailing_blanks(text: str) -> str:
    return text.replace("\n", "  \t\n")


def utf8_bom(text: str) -> str:
    return "\ufeff" + text


COPIES: dict[str, tuple[str, Callable[[str], str]]] = {
    "public .txt: image_id header, CRLF": ("txt", lambda text: windows(with_image_id_header(text))),
    ".txt without its count": ("txt", without_count),
    ".txt with trailing blanks": ("txt", with_trailing_blanks),
    ".txt with a UTF-8 BOM": ("txt", utf8_bom),
    "Kaggle .csv with a UTF-8 BOM and CRLF": ("csv", lambda text: windows(utf8_bom(text))),
}


def write_celeba(root, layout: str, attributes: bytes) -> None:
    """Six images, and ``attributes`` as their list_attr_celeba.txt or .csv."""
    write_folder(root / "img_align_celeba", celeba_files(6))
    (root / f"list_attr_celeba.{layout}").write_bytes(attributes)


def official(layout: str, rows: list[list[int]] = ROWS) -> str:
    return (attribute_txt if layout == "txt" else attribute_csv)(rows)


@pytest.fixture
def data_info(tmp_path, run_cli):
    """``ganlab data info`` on a celeba recipe labelled with Smiling and Eyeglasses from ``tmp_path``."""
    recipe = write_recipe_with_data(
        tmp_path / "r.toml",
        {
            "name": "celeba",
            "root": str(tmp_path),
            "image_size": 16,
            "crop": 40,
            "attributes": ["Smiling", "Eyeglasses"],
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    return lambda: run_cli("data", "info", recipe)


@pytest.mark.parametrize("copy", COPIES)
def test_a_copy_of_the_attribute_file_labels_the_images_as_the_official_file_does(tmp_path, copy):
    layout, change = COPIES[copy]
    write_celeba(tmp_path, layout, change(official(layout)).encode())
    dataset = celeba.build(
        celeba.CelebAConfig(
            root=str(tmp_path),
            image_size=16,
            crop=40,
            workers=1,
            cache_dir=str(tmp_path / "cache"),
            attributes=["Smiling", "Eyeglasses"],
        ),
        BuildContext(seed=0, device=torch.device("cpu")),
    )
    assert torch.equal(dataset.labels, EXPECTED)


def test_a_partition_file_saved_with_a_bom_and_crlf_selects_the_split(tmp_path, run_cli):
    write_celeba(tmp_path, "txt", official("txt").encode())
    (tmp_path / "list_eval_partition.txt").write_bytes(  # the BOM is on image 1's line
        windows(utf8_bom(partition_text([1, 0, 0, 1, 1, 2]))).encode()
    )
    recipe = write_recipe_with_data(
        tmp_path / "valid.toml",
        {
            "name": "celeba",
            "root": str(tmp_path),
            "image_size": 16,
            "crop": 40,
            "split": "valid",
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    result = run_cli("data", "prepare", recipe)
    assert result.exit_code == 0, result.output
    assert "3 images ready" in result.stderr


@pytest.mark.parametrize(
    "repeat, exit_code, said",
    [
        (
            "000002.jpg 2\n",
            3,
            "list_eval_partition.txt line 7: a second row for '000002.jpg', which disagrees with its "
            "first (line 2) on its partition (0 and 2); keep the right one",
        ),
        (
            "000002.jpg 0\n",
            0,
            "list_eval_partition.txt line 7 lists '000002.jpg' again, as line 2 does; such repeats "
            "(1 in all) are read once",
        ),
    ],
)
def test_an_image_listed_twice_in_the_partition_file_is_read_as_in_the_attribute_file(
    tmp_path, run_cli, repeat, exit_code, said
):
    write_celeba(tmp_path, "txt", official("txt").encode())
    (tmp_path / "list_eval_partition.txt").write_text(partition_text([1, 0, 0, 1, 1, 2]) + repeat)
    recipe = write_recipe_with_data(
        tmp_path / "valid.toml",
        {
            "name": "celeba",
            "root": str(tmp_path),
            "image_size": 16,
            "crop": 40,
            "split": "valid",
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    result = run_cli("data", "prepare", recipe)
    assert result.exit_code == exit_code, result.output
    assert f"data.split: {tmp_path / 'list_eval_partition.txt'}" in result.output and said in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "encoding, said",
    [
        ("utf-16", "is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8"),
        ("utf-32", "is UTF-32 text (it starts with a UTF-32 byte-order mark); save it as UTF-8"),
        ("utf-16-le", "holds NUL bytes, as UTF-16 text without a byte-order mark does; save it as UTF-8"),
    ],
)
def test_an_attribute_file_in_utf_16_or_32_is_refused_saying_to_save_it_as_utf_8(tmp_path, data_info, encoding, said):
    write_celeba(tmp_path, "txt", official("txt").encode(encoding))
    result = data_info()
    assert result.exit_code == 3
    assert f"data.attributes: {tmp_path / 'list_attr_celeba.txt'} {said}" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("layout, first_line", [("txt", 4), ("csv", 3)])
def test_two_rows_for_one_image_that_disagree_are_refused_naming_both_lines(tmp_path, data_info, layout, first_line):
    lines = official(layout).splitlines()
    flipped = official(layout, [ROWS[0], [-value for value in ROWS[1]]]).splitlines()[first_line - 1]
    write_celeba(tmp_path, layout, "\n".join([*lines, flipped]).encode())
    result = data_info()
    assert result.exit_code == 3
    assert (
        f"list_attr_celeba.{layout} line {len(lines) + 1}: a second row for '000002.jpg', which disagrees "
        f"with its first (line {first_line}) on 5_o_Clock_Shadow, Eyeglasses, Male and 2 more"
    ) in result.output
    assert "truncated" not in result.output


def test_a_row_repeated_as_it_was_is_read_once_with_a_warning(tmp_path, data_info):
    lines = official("txt").splitlines()
    write_celeba(tmp_path, "txt", "\n".join([*lines, lines[3]]).encode())
    result = data_info()
    assert result.exit_code == 0, result.output
    assert (
        f"ganlab: warning: data.attributes: {tmp_path / 'list_attr_celeba.txt'} line 9 lists '000002.jpg' "
        f"again, as line 4 does; such repeats (1 in all) are read once"
    ) in result.stderr


@pytest.mark.parametrize("count", ["²", "9" * 5000, "6.0"])
def test_a_count_line_that_is_not_a_whole_number_is_refused_naming_the_line(tmp_path, data_info, count):
    write_celeba(tmp_path, "txt", (count + "\n" + without_count(official("txt"))).encode())
    result = data_info()
    assert result.exit_code == 3
    assert (
        "list_attr_celeba.txt line 1: expected the number of images (a whole number (digits 0-9, at "
        "most 18 of them): the official list_attr_celeba.txt)"
    ) in result.output
    assert "4300" not in result.output and "Traceback" not in result.output


def test_a_count_larger_than_the_rows_says_the_file_may_be_truncated(tmp_path, data_info):
    write_celeba(tmp_path, "txt", ("7\n" + without_count(official("txt"))).encode())
    result = data_info()
    assert result.exit_code == 3
    assert (
        "list_attr_celeba.txt line 1: the file says it lists 7 images but has rows for 6; it may be "
        "truncated: download it again"
    ) in result.output


def test_a_file_without_its_header_is_refused_naming_the_row_it_found_instead(tmp_path, data_info):
    write_celeba(tmp_path, "txt", "\n".join(official("txt").splitlines()[2:]).encode())
    result = data_info()
    assert result.exit_code == 3
    assert (
        "list_attr_celeba.txt line 1: expected the attribute names (the header, e.g. "
        "'5_o_Clock_Shadow Arched_Eyebrows ...'), got an image's row '000001.jpg"
    ) in result.output


def test_a_header_that_names_an_attribute_twice_is_refused(tmp_path, data_info):
    lines = official("txt").splitlines()
    lines[1] = lines[1].replace("Eyeglasses", "Smiling")
    write_celeba(tmp_path, "txt", "\n".join(lines).encode())
    result = data_info()
    assert result.exit_code == 3
    assert "list_attr_celeba.txt line 2: the header names 'Smiling' twice" in result.output


def test_text_that_is_not_utf_8_is_refused_naming_its_line(tmp_path, data_info):
    write_celeba(tmp_path, "txt", official("txt").replace("000003.jpg", "00000\xe9.jpg").encode("latin-1"))
    result = data_info()
    assert result.exit_code == 3
    assert "list_attr_celeba.txt line 5 is not UTF-8 text" in result.output
