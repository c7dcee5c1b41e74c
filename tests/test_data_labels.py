"""Labels from the data: CelebA's attribute file in every layout ganlab reads, image-folder's class
sub-folders, and synthetic faces drawn with the attributes a recipe asks for."""

from __future__ import annotations

import hashlib

import pytest
import torch
from data_layouts import (
    attribute_csv,
    attribute_rows,
    attribute_txt,
    celeba_files,
    jpeg_bytes,
    partition_text,
    write_folder,
    write_recipe_with_data,
    write_zip,
)

from ganlab.common.errors import ConfigError, DataError
from ganlab.contracts.engine import BuildContext
from ganlab.data import celeba, folder, synthetic
from ganlab.data.synthetic import draw_faces

UNLABELLED_FACES_SHA256 = {
    (300, 32, 0): "b64469add497993535d9c4275ee07d24b5ca0e24de166e2cf0ee0cb464768549",
    (8, 16, 7): "5951f5dc7cf01af90555bf71e4b8d51e632bf9dd18678bf4d30f3e591e41439b",
}
"""Pinned before faces could be drawn with attributes: the unlabelled set, which every existing run trains
on, must stay pixel for pixel what it was."""


def test_unlabelled_synthetic_faces_are_the_pixels_they_always_were():
    for (count, size, seed), digest in UNLABELLED_FACES_SHA256.items():
        assert hashlib.sha256(draw_faces(count, size, seed).tobytes()).hexdigest() == digest


# -- celeba -----------------------------------------------------------------------------------------------

CONTEXT = BuildContext(seed=0, device=torch.device("cpu"))
SMILING, EYEGLASSES = 3, 1  # their columns in data_layouts.CELEBA_ATTRIBUTES


@pytest.fixture
def build_celeba(tmp_path):
    def build(root, **settings):
        config = celeba.CelebAConfig(
            root=str(root), image_size=16, crop=40, workers=1, cache_dir=str(tmp_path / "cache"), **settings
        )
        return celeba.build(config, CONTEXT)

    return build


def expected(rows, images, columns):
    """The 0/1 labels of 1-based image numbers ``images`` in ``columns`` of -1/1 ``rows``."""
    return torch.tensor([[int(rows[i - 1][c] == 1) for c in columns] for i in images])


def test_the_official_attribute_file_labels_the_images_beside_it(tmp_path, build_celeba):
    rows = attribute_rows(6)
    write_folder(tmp_path / "celeba", celeba_files(6, "img_align_celeba/"))
    (tmp_path / "celeba" / "list_attr_celeba.txt").write_text(attribute_txt(rows))
    dataset = build_celeba(tmp_path / "celeba", attributes=["Smiling", "Eyeglasses"])
    assert dataset.label_space.names == ("Smiling", "Eyeglasses")
    assert dataset.labels.dtype == torch.int64
    assert torch.equal(dataset.labels, expected(rows, range(1, 7), [SMILING, EYEGLASSES]))
    assert dataset.describe()["attributes"] == [
        {"name": "Smiling", "values": ["0", "1"]},
        {"name": "Eyeglasses", "values": ["0", "1"]},
    ]


def test_kaggle_s_zip_and_csv_label_the_images_of_the_chosen_split(tmp_path, build_celeba):
    rows = attribute_rows(6)
    files = celeba_files(6, "img_align_celeba/img_align_celeba/")
    files["list_attr_celeba.csv"] = attribute_csv(rows).encode()
    files["list_eval_partition.csv"] = (
        "image_id,partition\n" + partition_text([0, 0, 0, 1, 1, 2]).replace(" ", ",")
    ).encode()
    dataset = build_celeba(write_zip(tmp_path / "archive.zip", files), split="valid", attributes=["Smiling"])
    assert len(dataset) == 2
    assert torch.equal(dataset.labels, expected(rows, [4, 5], [SMILING]))


def test_a_smiling_face_keeps_its_label_when_an_unreadable_image_before_it_is_skipped(tmp_path, build_celeba):
    rows = [[-1] * 5 for _ in range(4)]
    rows[2][SMILING] = 1  # 000003.jpg smiles
    files = celeba_files(4)
    files["000002.jpg"] = b"not a jpeg"
    write_folder(tmp_path / "img_align_celeba", files)
    (tmp_path / "list_attr_celeba.txt").write_text(attribute_txt(rows))
    dataset = build_celeba(tmp_path, attributes=["Smiling"])
    assert len(dataset) == 3
    assert dataset.labels[:, 0].tolist() == [0, 1, 0]
    same_face = build_celeba(tmp_path / "img_align_celeba").get_batch(torch.tensor([1]))
    assert torch.equal(dataset.get_batch(torch.tensor([1])), same_face)


def test_choosing_other_attributes_reuses_the_image_cache(tmp_path, build_celeba):
    write_folder(tmp_path / "img_align_celeba", celeba_files(3))
    (tmp_path / "list_attr_celeba.txt").write_text(attribute_txt(attribute_rows(3)))
    smiling = build_celeba(tmp_path, attributes=["Smiling"])
    male = build_celeba(tmp_path, attributes=["Male"])
    assert smiling.cache_path == male.cache_path == build_celeba(tmp_path).cache_path
    assert not torch.equal(smiling.labels, male.labels)


def test_a_misspelt_attribute_is_refused_with_the_close_names(tmp_path, build_celeba):
    write_folder(tmp_path / "img_align_celeba", celeba_files(2))
    (tmp_path / "list_attr_celeba.txt").write_text(attribute_txt(attribute_rows(2)))
    with pytest.raises(ConfigError, match="'Smilling'.*did you mean 'Smiling'") as error:
        build_celeba(tmp_path, attributes=["Smilling"])
    assert error.value.key == "attributes"


def test_validate_names_the_recipe_key_of_a_misspelt_attribute(tmp_path, run_cli):
    write_folder(tmp_path / "img_align_celeba", celeba_files(2))
    (tmp_path / "list_attr_celeba.txt").write_text(attribute_txt(attribute_rows(2)))
    recipe = write_recipe_with_data(
        tmp_path / "r.toml",
        {
            "name": "celeba",
            "root": str(tmp_path),
            "image_size": 16,
            "crop": 40,
            "attributes": ["eyeglasses"],
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    result = run_cli("validate", recipe)
    assert result.exit_code == 2
    assert "r.toml: data.attributes:" in result.output and "did you mean 'Eyeglasses'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "layout, bad_line, line_number",
    [
        ("txt", "000002.jpg  1 -1  1  0  1", 4),  # 0 is not a CelebA value
        ("txt", "000002.jpg  1 -1  1", 4),  # too few values
        ("csv", "000002.jpg,1,-1,1,1,1,1", 3),  # too many
    ],
)
def test_a_malformed_row_is_refused_with_its_file_and_line(tmp_path, build_celeba, layout, bad_line, line_number):
    text = (attribute_txt if layout == "txt" else attribute_csv)(attribute_rows(3)).splitlines()
    text[line_number - 1] = bad_line
    write_folder(tmp_path / "img_align_celeba", celeba_files(3))
    path = tmp_path / f"list_attr_celeba.{layout}"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=f"{path.name} line {line_number}: expected an image name and 5 values"):
        build_celeba(tmp_path, attributes=["Smiling"])


def test_an_image_without_a_row_is_refused_naming_it(tmp_path, build_celeba):
    write_folder(tmp_path / "img_align_celeba", celeba_files(4))
    (tmp_path / "list_attr_celeba.txt").write_text(attribute_txt(attribute_rows(4)).replace("000004.jpg", "000009.jpg"))
    with pytest.raises(DataError, match="no row for 1 of the 4 images, e.g. '000004.jpg'"):
        build_celeba(tmp_path, attributes=["Smiling"])


def test_attributes_without_an_attribute_file_say_where_it_was_looked_for(tmp_path, build_celeba):
    write_folder(tmp_path / "img_align_celeba", celeba_files(2))
    with pytest.raises(DataError, match="list_attr_celeba.txt.*none found at") as error:
        build_celeba(tmp_path, attributes=["Smiling"])
    assert str(tmp_path / "list_attr_celeba.txt") in str(error.value)
    assert not hasattr(build_celeba(tmp_path), "labels")


# -- image-folder -----------------------------------------------------------------------------------------
@pytest.fixture
def build_folder(tmp_path):
    def build(root, **settings):
        config = folder.ImageFolderConfig(
            root=str(root), image_size=16, workers=1, cache_dir=str(tmp_path / "cache"), **settings
        )
        return folder.build(config, CONTEXT)

    return build


def test_class_folders_label_each_image_with_its_sorted_folder_name(tmp_path, build_folder):
    faces = jpeg_bytes(5)
    files = {
        "dogs/a.jpg": faces[0],
        "cats/b.jpg": faces[1],
        "cats/deeper/c.jpg": faces[2],
        "owls/d.jpg": faces[3],
        "dogs/e.jpg": faces[4],
    }
    dataset = build_folder(write_zip(tmp_path / "pets.zip", files), labels="folders")
    assert [a.values for a in dataset.label_space.attributes] == [("cats", "dogs", "owls")]
    # names sorted: cats/b, cats/deeper/c, dogs/a, dogs/e, owls/d
    assert dataset.labels[:, 0].tolist() == [0, 0, 1, 1, 2]


def test_class_folders_refuse_images_lying_in_the_root(tmp_path, build_folder):
    faces = jpeg_bytes(3)
    write_folder(tmp_path / "pets", {"cats/a.jpg": faces[0], "dogs/b.jpg": faces[1], "stray.jpg": faces[2]})
    with pytest.raises(DataError, match="1 images lie directly in .*'stray.jpg'"):
        build_folder(tmp_path / "pets", labels="folders")


def test_class_folders_refuse_a_single_class(tmp_path, build_folder):
    write_folder(tmp_path / "pets", {"cats/a.jpg": jpeg_bytes(1)[0]})
    with pytest.raises(DataError, match="one class folder only \\('cats'\\)"):
        build_folder(tmp_path / "pets", labels="folders")


# -- synthetic-faces --------------------------------------------------------------------------------------
def faces(num_images=64, **settings):
    return synthetic.build(synthetic.SyntheticFacesConfig(image_size=16, num_images=num_images, **settings), CONTEXT)


def test_labelled_synthetic_faces_are_reproducible_and_their_labels_independent_of_the_choice():
    both = faces(attributes=["hair", "glasses"])
    again = faces(attributes=["hair", "glasses"])
    assert torch.equal(both.images, again.images) and torch.equal(both.labels, again.labels)
    glasses_only = faces(attributes=["glasses"])
    assert torch.equal(glasses_only.labels[:, 0], both.labels[:, 1])
    assert set(both.labels[:, 0].tolist()) == set(range(len(synthetic.HAIR_COLOURS)))
    assert both.describe()["attributes"][0] == {"name": "hair", "values": list(synthetic.HAIR_COLOURS)}


def test_the_drawn_attribute_is_what_changes_the_face():
    plain = faces(attributes=["glasses"])
    differs = (plain.images != faces().images).flatten(1).any(dim=1)
    assert torch.equal(differs, plain.labels[:, 0].bool())  # only faces with glasses differ


def test_unlabelled_synthetic_faces_have_no_labels():
    assert faces().label_space is None and not hasattr(faces(), "labels")
    assert "attributes" not in faces().describe()


def test_an_unknown_synthetic_attribute_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="'smiling'.*did you mean 'smile'"):
        faces(attributes=["smiling"])
    with pytest.raises(ConfigError, match="synthetic faces have glasses, smile, hair"):
        faces(attributes=["beard"])


LABELLED_FACES_SHA256 = {
    ("glasses", "smile", "hair"): (
        "1d57442eb8f64c1394af8da983005aeace481298addd5b7afb16a375aae0a77d",
        "c1237b9e8484b7b81b785fe67bc9d62696897554e232290ff954c4dc9e38e8f6",
    ),
    ("hair", "glasses"): (
        "a3394c4ac493b88c5d3aaaebbefd23a1cbd779a32b90e1e636a7405b0feb51f4",
        "6960441d55ddfd1d5b78c7f9e723148411e8481092eefcf75fb89c8af80e6f85",
    ),
}
"""(images, labels) of 300 labelled 16x16 faces of seed 3, pinned before frequencies could be set: the
default frequencies keep every labelled run's data as it was."""


def test_labelled_synthetic_faces_at_the_default_frequencies_are_the_faces_and_labels_they_always_were():
    for attributes, (images, labels) in LABELLED_FACES_SHA256.items():
        data = synthetic.SyntheticFaces(
            synthetic.SyntheticFacesConfig(image_size=16, num_images=300, seed=3, attributes=list(attributes))
        )
        assert hashlib.sha256(data.images.numpy().tobytes()).hexdigest() == images
        assert hashlib.sha256(data.labels.numpy().tobytes()).hexdigest() == labels


def test_frequencies_make_an_attribute_rare_and_leave_the_others_labels_alone():
    chosen = ["glasses", "smile", "hair"]
    shares = {"glasses": 0.067, "hair": {"black": 0.5, "blond": 0.5}}
    rare = faces(4000, attributes=chosen, frequencies=shares)
    assert abs(rare.labels[:, 0].float().mean() - 0.067) < 0.012
    assert torch.bincount(rare.labels[:, 2], minlength=5)[[1, 3, 4]].sum() == 0
    assert abs((rare.labels[:, 2] == 0).float().mean() - 0.5) < 0.03
    assert torch.equal(rare.labels[:, 1], faces(4000, attributes=chosen).labels[:, 1])
    assert torch.equal(rare.labels, faces(4000, attributes=chosen, frequencies=shares).labels)


def test_a_rare_attribute_changes_only_the_faces_that_have_it():
    rare = faces(attributes=["glasses"], frequencies={"glasses": 0.2})
    differs = (rare.images != faces().images).flatten(1).any(dim=1)
    assert torch.equal(differs, rare.labels[:, 0].bool()) and 0 < differs.sum() < 32


def test_frequencies_are_part_of_the_description_that_fingerprints_the_faces_only_when_set():
    assert faces(attributes=["glasses"], frequencies={"glasses": 0.2}).describe()["frequencies"] == {"glasses": 0.2}
    assert "frequencies" not in faces(attributes=["glasses"]).describe()


def test_an_even_frequency_table_draws_what_a_number_draws():
    number = faces(attributes=["glasses"], frequencies={"glasses": 0.25})
    table = faces(attributes=["glasses"], frequencies={"glasses": {"0": 0.75, "1": 0.25}})
    assert torch.equal(number.labels, table.labels)


@pytest.mark.parametrize(
    "frequencies, attributes, message",
    [
        ({"glases": 0.1}, ["glasses"], "unknown attribute 'glases' \\(did you mean 'glasses'\\?\\)"),
        ({"glasses": 0.1}, ["smile"], "'glasses' is not among the chosen attributes \\(smile\\)"),
        ({"glasses": 1.5}, ["glasses"], "glasses: 1.5 is not a share of the faces \\(0 to 1\\)"),
        ({"glasses": -0.1}, ["glasses"], "glasses: -0.1 is not a share"),
        ({"glasses": float("nan")}, ["glasses"], "glasses: nan is not a share"),
        ({"hair": 0.3}, ["hair"], "hair = 0.3: a number is the share of 1s of a binary attribute"),
        ({"hair": {"black": 0.5, "blond": 0.4}}, ["hair"], "hair: the shares of its values sum to 0.9, not 1"),
        ({"hair": {"black": 0.5, "blonde": 0.5}}, ["hair"], "hair has no value 'blonde' \\(did you mean 'blond'\\?\\)"),
    ],
)
def test_bad_frequencies_are_refused_naming_the_key_and_what_is_wrong(frequencies, attributes, message):
    with pytest.raises(ConfigError, match=message) as error:
        faces(attributes=attributes, frequencies=frequencies)
    assert error.value.key == "frequencies"


def test_validate_names_the_recipe_key_of_bad_frequencies(tmp_path, run_cli):
    recipe = write_recipe_with_data(
        tmp_path / "r.toml",
        {
            "name": "synthetic-faces",
            "image_size": 16,
            "num_images": 64,
            "attributes": ["glasses"],
            "frequencies": {"glasses": 2},
        },
    )
    result = run_cli("validate", recipe)
    assert result.exit_code == 2
    assert "r.toml: data.frequencies: glasses: 2.0 is not a share of the faces (0 to 1)" in result.output
    wrong_type = write_recipe_with_data(
        tmp_path / "t.toml",
        {
            "name": "synthetic-faces",
            "image_size": 16,
            "num_images": 64,
            "attributes": ["glasses"],
            "frequencies": {"glasses": "rare"},
        },
    )
    assert "data.frequencies.glasses: expected float | table of float" in run_cli("validate", wrong_type).output
