"""``synthetic-faces``: procedurally drawn, face-like images that need no download.

Each image is a cartoon face with its own skin tone, face shape, hair colour and style, eye colour and
spacing, brows, nose, mouth and background gradient, drawn at 2x and box-filtered down for clean edges.
The set is a pure function of (seed, count, size): the same recipe always trains on the same pictures.

With ``attributes`` the faces are labelled: each chosen attribute (glasses, a smiling or neutral mouth,
a hair colour) is drawn per face, independently, from a generator of its own, so the unlabelled set keeps
its pixels and a face's other features are the same whichever attributes are chosen. Each value is
equally likely unless ``frequencies`` says otherwise: a rare attribute (CelebA's Eyeglasses, on 6.7% of
the faces) can be reproduced without a download.
It is varied enough that a GAN must learn structure (two eyes above a mouth inside a face) and colour
statistics, yet simple enough that a small DCGAN on two CPU cores shows recognisable faces in minutes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from ..common.config import param, seed_param
from ..common.errors import ConfigError
from ..common.hints import did_you_mean
from ..common.labels import Attribute, LabelSpace
from ..contracts.engine import BuildContext
from ..machine.memory import Need
from ..registry.registry import component

_SKIN = np.array(
    [[255, 224, 196], [241, 194, 160], [224, 172, 125], [198, 134, 88], [141, 85, 50], [95, 58, 36]], dtype=np.float32
)
_HAIR = np.array(
    [[20, 16, 14], [70, 42, 24], [120, 78, 40], [214, 178, 110], [165, 60, 30], [150, 150, 150]], dtype=np.float32
)
HAIR_COLOURS = {"black": 0, "brown": 2, "blond": 3, "red": 4, "grey": 5}
"""The hair attribute's values and their ``_HAIR`` rows: the palette less its dark brown, too close to
black for a label a classifier could be held to."""
ATTRIBUTES = (Attribute("glasses"), Attribute("smile"), Attribute("hair", tuple(HAIR_COLOURS)))
"""What a synthetic face can be labelled with, in the order the labels are drawn."""
LABEL_STREAM = 1
"""Seeds the labels' generator apart from the drawing's: ``default_rng((seed, LABEL_STREAM))``."""
_IRIS = np.array([[70, 40, 20], [40, 90, 160], [60, 120, 70], [30, 25, 20]], dtype=np.float32)


@dataclasses.dataclass
class SyntheticFacesConfig:
    image_size: int = param(32, "side of the square images in pixels", min=8, max=16384)
    num_images: int = param(4096, "how many different faces the data set holds", min=1)
    seed: int = seed_param(0, "seed of the drawing; the same seed always gives the same faces")
    attributes: list[str] = param(
        [], "labels to draw the faces with: glasses, smile, hair (its colour); empty: unlabelled"
    )
    frequencies: dict[str, float | dict[str, float]] = param(
        {},
        "how often a chosen attribute's values occur: glasses = 0.067 (the share of faces where a binary "
        "attribute is 1), or hair = {black = 0.5, blond = 0.5} (each value's share, summing to 1; values "
        "left out never occur); an attribute left out has its values equally often",
    )

    def memory_needs(self, context: BuildContext) -> list[Need]:
        """The host memory the data set takes while it is drawn: the finished images with their labels (every
        attribute is drawn, as int64, and then the chosen ones copied), and a chunk's canvases
        (:data:`DRAWING_BYTES_PER_PIXEL`)."""
        pixels, drawn_at_once = self.image_size**2, min(CHUNK, self.num_images)
        label_bytes = 2 * 8 * len(ATTRIBUTES) if self.attributes else 0
        labelled = " with their labels" if self.attributes else ""
        return [
            Need(
                "num_images",
                f"{self.num_images:,} images of 3x{self.image_size}x{self.image_size}{labelled}",
                self.num_images * (3 * pixels + label_bytes),
            ),
            Need(
                "image_size",
                f"drawing {drawn_at_once} faces at a time",
                drawn_at_once * DRAWING_BYTES_PER_PIXEL * pixels,
            ),
        ]


def label_space(names: list[str]) -> LabelSpace | None:
    """The labels ``names`` choose, in their order; None for none. Raises ConfigError (key ``attributes``)
    for a name that is not one of :data:`ATTRIBUTES` or is given twice."""
    attributes = tuple(known_attribute(name, "attributes") for name in names)
    if len(set(names)) != len(names):
        raise ConfigError("attributes", f"an attribute is named twice in {names}")
    return LabelSpace(attributes) if names else None


def known_attribute(name: str, key: str) -> Attribute:
    """The attribute of :data:`ATTRIBUTES` called ``name``; raises ConfigError (``key``), with the close
    names, for any other name."""
    known = {a.name: a for a in ATTRIBUTES}
    if name not in known:
        raise ConfigError(
            key,
            f"unknown attribute {name!r}" + (did_you_mean(name, known) or f"; synthetic faces have {', '.join(known)}"),
        )
    return known[name]


def value_shares(space: LabelSpace | None, frequencies: dict[str, float | dict[str, float]]) -> dict[str, np.ndarray]:
    """The probability of each value of every attribute ``frequencies`` sets, by name, in value order.

    A number is the share of 1s of a binary attribute; a table gives each value's share by its name, the
    values left out at 0, summing to 1. Raises ConfigError (key ``frequencies``) for an attribute that is
    unknown or not chosen, a number for an attribute of more than two values, an unknown value, a share
    outside [0, 1], or shares that do not sum to 1."""
    chosen = {a.name: a for a in space.attributes} if space is not None else {}
    shares = {}
    for name, given in frequencies.items():
        if name not in chosen:
            known_attribute(name, "frequencies")
            raise ConfigError(
                "frequencies",
                f"{name!r} is not among the chosen attributes ("
                f"{', '.join(chosen) or 'none'}); add it to attributes or leave it out here",
            )
        attribute = chosen[name]
        if not isinstance(given, dict):
            if len(attribute.values) != 2:
                raise ConfigError(
                    "frequencies",
                    f"{name} = {given}: a number is the share of 1s of a binary "
                    f"attribute; give each of {name}'s values its share, e.g. {name} = "
                    f"{{{attribute.values[0]} = 0.5, {attribute.values[1]} = 0.5}}",
                )
            given = {attribute.values[1]: given, attribute.values[0]: 1 - given}
        for value, share in given.items():
            if value not in attribute.values:
                raise ConfigError(
                    "frequencies",
                    f"{name} has no value {value!r}"
                    + (did_you_mean(value, attribute.values) or f"; its values are {', '.join(attribute.values)}"),
                )
            if not 0 <= share <= 1:
                raise ConfigError("frequencies", f"{name}: {share} is not a share of the faces (0 to 1)")
        total = sum(given.values())
        if abs(total - 1) > SHARES_SUM_TOLERANCE:
            raise ConfigError("frequencies", f"{name}: the shares of its values sum to {total:g}, not 1")
        shares[name] = np.array([given.get(value, 0.0) for value in attribute.values]) / total
    return shares


SHARES_SUM_TOLERANCE = 1e-6
"""How far from 1 a table of shares may sum (0.1 + 0.2 + 0.7 is 0.9999999999999999 in floating point)."""


def draw_labels(count: int, seed: int, space: LabelSpace, shares: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """int64 ``(count, A)`` labels of ``space``'s attributes, independent, each value equally likely
    unless ``shares`` (:func:`value_shares`) gives an attribute's values their probabilities.

    Every known attribute is drawn whichever are chosen, each value equally likely, so a face's glasses do
    not depend on whether its smile is labelled too; an attribute with shares is then drawn again, from a
    generator of its own (``default_rng((seed, LABEL_STREAM, its index in ATTRIBUTES + 1))``), which
    leaves the other attributes' labels as they were without it."""
    rng = np.random.default_rng((seed, LABEL_STREAM))
    every = np.stack([rng.integers(0, len(a.values), size=count) for a in ATTRIBUTES], axis=1)
    for index, attribute in enumerate(ATTRIBUTES):
        if attribute.name in (shares or {}):
            own = np.random.default_rng((seed, LABEL_STREAM, index + 1))
            every[:, index] = own.choice(len(attribute.values), size=count, p=shares[attribute.name])
    return every[:, [[a.name for a in ATTRIBUTES].index(name) for name in space.names]]


def _ellipse(x, y, cx, cy, rx, ry):
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2


CHUNK = 256
"""Faces drawn at once. Changing it changes the faces a seed draws, and with them every run's data."""

DRAWING_BYTES_PER_PIXEL = 5 * 3 * 4 * 4
"""Working memory of drawing one face, per pixel of the finished image: about five float32 RGB canvases
(the image and the temporaries of painting one feature) at twice the size."""


def draw_faces(
    count: int, size: int, seed: int, chunk: int = CHUNK, traits: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """``count`` faces as uint8 (N, 3, size, size), drawn in chunks to bound memory.

    ``traits`` fixes attributes by name (``{"smile": values}``, one value index per face); a face's
    attributes left out are drawn as in the unlabelled set (no glasses, any mouth, a blend of hair colours).
    """
    traits = traits or {}
    rng = np.random.default_rng(seed)
    out = np.empty((count, 3, size, size), dtype=np.uint8)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        out[start : start + n] = _draw_chunk(
            rng, n, size, {name: values[start : start + n] for name, values in traits.items()}
        )
    return out


def _draw_chunk(rng: np.random.Generator, n: int, size: int, traits: dict[str, np.ndarray]) -> np.ndarray:
    s = size * 2
    grid = (np.arange(s, dtype=np.float32) + 0.5) / s
    y = grid[None, :, None]
    x = grid[None, None, :]

    def u(lo, hi):
        return rng.uniform(lo, hi, size=(n, 1, 1)).astype(np.float32)

    def pick(palette, jitter):
        idx = rng.integers(0, len(palette), size=n)
        a = palette[idx]
        b = palette[np.minimum(idx + 1, len(palette) - 1)]
        t = rng.uniform(0, 1, size=(n, 1)).astype(np.float32)
        colour = a + (b - a) * t + rng.normal(0, jitter, size=(n, 3)).astype(np.float32)
        return np.clip(colour, 0, 255)[:, :, None, None]

    top = rng.uniform(40, 230, size=(n, 3, 1, 1)).astype(np.float32)
    bottom = np.clip(top * u(0.5, 1.1)[:, None] + u(-30, 30)[:, None], 0, 255)
    img = top + (bottom - top) * y[:, None]  # background gradient (n,3,s,s)
    img = np.broadcast_to(img, (n, 3, s, s)).copy()

    cx, cy = u(0.44, 0.56), u(0.50, 0.58)
    rx, ry = u(0.25, 0.33), u(0.32, 0.40)
    skin = pick(_SKIN, 8)
    hair = pick(_HAIR, 10)
    if "hair" in traits:
        hair = _HAIR[np.array(list(HAIR_COLOURS.values()))[traits["hair"]]][:, :, None, None]

    def paint(mask, colour):
        m = mask[:, None].astype(np.float32)
        img[:] = img * (1 - m) + colour * m

    # hair behind the head: long styles reach below the jaw
    hair_len = u(-0.15, 0.35)
    behind = (_ellipse(x, y, cx, cy - 0.05, rx * 1.18, ry * 1.08) < 1) & (y < cy + ry * hair_len)
    paint(behind, hair)
    face_d = _ellipse(x, y, cx, cy, rx, ry)
    face = face_d < 1
    shade = np.clip(1.0 - 0.25 * face_d, 0.7, 1.0)[:, None]  # darker towards the edge
    paint(face, skin * shade)
    # fringe over the forehead, with a side parting
    hairline = cy - ry * u(0.35, 0.7)
    parting = (x - cx) * u(-0.6, 0.6)
    paint(face & (y < hairline + parting), hair)

    eye_y = cy - ry * u(0.05, 0.2)
    eye_dx = rx * u(0.38, 0.5)
    eye_rx, eye_ry = rx * u(0.16, 0.22), ry * u(0.07, 0.11)
    iris = pick(_IRIS, 10)
    look = u(-0.3, 0.3) * eye_rx
    brow_lift = ry * u(0.16, 0.24)
    for side in (-1.0, 1.0):
        ex = cx + side * eye_dx
        paint(_ellipse(x, y, ex, eye_y, eye_rx, eye_ry) < 1, np.full((1, 3, 1, 1), 245, np.float32))
        paint(_ellipse(x, y, ex + look, eye_y, eye_ry * 0.95, eye_ry * 0.95) < 1, iris)
        paint(_ellipse(x, y, ex + look, eye_y, eye_ry * 0.45, eye_ry * 0.45) < 1, np.full((1, 3, 1, 1), 10, np.float32))
        paint(_ellipse(x, y, ex, eye_y - brow_lift, eye_rx * 1.1, ry * 0.025) < 1, hair * 0.8)

    paint(_ellipse(x, y, cx, cy + ry * 0.18, rx * 0.09, ry * 0.14) < 1, skin * 0.82)  # nose
    mouth_y = cy + ry * u(0.48, 0.6)
    mouth_w, mouth_h = rx * u(0.25, 0.45), ry * u(0.04, 0.1)
    smile = u(-0.5, 1.5) * mouth_h
    lips = np.clip(skin * 0.6 + np.array([90, 0, 10], np.float32)[None, :, None, None], 0, 255)
    if "smile" in traits:  # a wide, curved, open smile showing teeth, or a short straight mouth
        smiling = traits["smile"].astype(bool)[:, None, None]
        mouth_w = np.where(smiling, rx * 0.5, rx * 0.28)
        mouth_h = np.where(smiling, ry * 0.11, ry * 0.035)
        smile = np.where(smiling, mouth_h * 1.6, 0.0)
    mouth = _ellipse(x, y + smile * ((x - cx) / mouth_w) ** 2, cx, mouth_y, mouth_w, mouth_h) < 1
    paint(mouth & face, lips)
    if "smile" in traits:
        teeth = (
            _ellipse(
                x, y + smile * ((x - cx) / mouth_w) ** 2, cx, mouth_y - mouth_h * 0.2, mouth_w * 0.8, mouth_h * 0.5
            )
            < 1
        )
        paint(teeth & face & smiling, np.full((1, 3, 1, 1), 250, np.float32))
    if "glasses" in traits:  # dark frames round both eyes and a bridge between them, tinted lenses
        wearing = traits["glasses"].astype(bool)[:, None, None]
        frame = np.full((1, 3, 1, 1), 25, np.float32)
        for side in (-1.0, 1.0):
            ex = cx + side * eye_dx
            rim = _ellipse(x, y, ex, eye_y, eye_rx * 1.75, eye_ry * 3.2)
            lens = rim < 0.55
            m = (lens & wearing)[:, None].astype(np.float32)
            img[:] = img * (1 - 0.35 * m) + frame * 0.35 * m
            paint((rim < 1) & ~lens & wearing, frame)
        bridge = (np.abs(y - eye_y) < ry * 0.035) & (np.abs(x - cx) < eye_dx - eye_rx * 1.5)
        paint(bridge & wearing, frame)

    img = img.reshape(n, 3, size, 2, size, 2).mean(axis=(3, 5))  # 2x2 box filter: anti-aliased edges
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


class SyntheticFaces:
    """The drawn faces held in memory as one uint8 tensor, so batches are plain gathers; with
    ``attributes``, their labels beside them (``label_space``, ``labels``)."""

    def __init__(self, config: SyntheticFacesConfig):
        self.config = config
        self.label_space = label_space(config.attributes)
        shares = value_shares(self.label_space, config.frequencies)
        traits = {}
        if self.label_space is not None:
            labels = draw_labels(config.num_images, config.seed, self.label_space, shares)
            self.labels = torch.from_numpy(labels)
            traits = dict(zip(self.label_space.names, labels.T))
        self.images = torch.from_numpy(draw_faces(config.num_images, config.image_size, config.seed, traits=traits))
        self.image_size = config.image_size
        self.channels = 3

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]

    def get_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return self.images[indices]

    def describe(self) -> dict[str, Any]:
        """What decides the pixels (the metrics' reference fingerprint is made of it): frequencies too, when
        set, since they decide which faces wear glasses."""
        labelled = {} if self.label_space is None else self.label_space.to_dict()
        if self.config.frequencies:
            labelled["frequencies"] = self.config.frequencies
        return {
            "source": "synthetic-faces",
            "count": len(self),
            "image_size": self.image_size,
            "seed": self.config.seed,
            **labelled,
        }


@component(
    "dataset",
    "synthetic-faces",
    config=SyntheticFacesConfig,
    help="built-in procedurally drawn faces; no download, deterministic by seed",
)
def build(config: SyntheticFacesConfig, context: BuildContext) -> SyntheticFaces:
    value_shares(label_space(config.attributes), config.frequencies)
    return SyntheticFaces(config)
