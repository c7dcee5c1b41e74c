"""Labels from the data: CelebA's attribute file in every layout ganlab reads, image-folder's class
sub-folders, and synthetic faces drawn with the attributes a recipe asks for."""

from __future__ import annotations

import hashlib

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
