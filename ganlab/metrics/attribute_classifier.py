"""The judge of the attribute-control metric: a small CNN trained, in-process, on the run's own labelled
real images to tell each attribute's value, so the metric needs no downloaded weights and fits any data
set's labels (CelebA's attributes, class folders, the synthetic faces' glasses).

Images are resized to :data:`INPUT_SIZE` first, which keeps training a few seconds on two CPU cores for a
few hundred images whatever the run's image size. Training draws its random numbers inside a forked
random state, so a run's training (and resume) is untouched by it.

Each attribute's loss weighs its values by their inverse frequency (:func:`balancing_weights`): trained
unweighted, a classifier of a rare value learns to answer the common one. On synthetic faces with
glasses on 6.7% of them it found 80% of the faces with glasses (0.995 held-out accuracy, against 0.933
for always answering "no"), so a generator that drew exactly the faces asked for scored 0.91 instead of
about 1, and a trained generator's imperfect glasses were missed more often still.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

INPUT_SIZE = 32
ARCHITECTURE = (
    "3 conv 4x4/2 (16-32-64) + linear, 32x32 input, Adam 2e-3, batch 64, cross-entropy weighted "
    "by inverse value frequency"
)
"""Recorded in the protocol: control accuracies judged by another classifier do not compare."""
BATCH = 64


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> float in [-1, 1] at ``INPUT_SIZE`` (area-averaged down, bilinear up)."""
    x = images.float() / 127.5 - 1
    if x.shape[-1] > INPUT_SIZE:
        return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="area")
    if x.shape[-1] < INPUT_SIZE:
        return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return x


class AttributeClassifier(nn.Module):
    """One logit per value of each attribute, from shared convolutional features."""

    def __init__(self, sizes: tuple[int, ...], channels: int):
        super().__init__()
        self.sizes = sizes
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 4, 2, 1),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.head = nn.Linear(64 * (INPUT_SIZE // 8) ** 2, sum(sizes))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The logits of each attribute, ``(N, values)`` per attribute."""
        return list(torch.split(self.head(self.features(x)), list(self.sizes), dim=1))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """int64 ``(N, A)``: the most likely value of each attribute of each uint8 image."""
        self.eval()
        device = next(self.parameters()).device
        out = [
            torch.stack([logits.argmax(1) for logits in self(to_input(batch).to(device))], dim=1).cpu()
            for batch in images.split(256)
        ]
        return torch.cat(out)


@dataclasses.dataclass(frozen=True)
class TrainedClassifier:
    model: AttributeClassifier
    held_out_accuracy: tuple[float, ...]  # per attribute, on images it never trained on
    held_out_recall: tuple[tuple[float | None, ...], ...]
    """Per attribute and value, the share of the held-out images with that value found to have it; None
    for a value no held-out image has."""

    @property
    def balanced_accuracy(self) -> tuple[float, ...]:
        """Per attribute, the mean recall of the values the held-out images have: the accuracy on images
        with each value equally often, which is what requests balanced per attribute are judged with."""
        return tuple(
            sum(r for r in recalls if r is not None) / sum(r is not None for r in recalls)
            for recalls in self.held_out_recall
        )


def balancing_weights(labels: torch.Tensor, size: int) -> torch.Tensor:
    """The loss weight of each of an attribute's ``size`` values, given its training ``labels``: inversely
    proportional to the value's count, so every value that occurs weighs as much in the loss as any other
    (1 each when they are equally frequent); 0 for a value that does not occur."""
    counts = torch.bincount(labels, minlength=size).float()
    present = counts > 0
    return torch.where(present, len(labels) / (present.sum() * counts.clamp(min=1)), torch.zeros(()))


def recall(found: torch.Tensor, labels: torch.Tensor, size: int) -> tuple[float | None, ...]:
    """Per value of an attribute, the share of the images labelled with it that were ``found`` to have it."""
    return tuple(float((found[labels == v] == v).float().mean()) if (labels == v).any() else None for v in range(size))


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    sizes: tuple[int, ...],
    held_out: float,
    epochs: int,
    seed: int,
    device: torch.device,
) -> TrainedClassifier:
    """Train on all but the last ``held_out`` fraction of ``images`` (uint8) and ``labels`` (int64 (N, A)),
    seeded by ``seed``, each attribute's values weighted by :func:`balancing_weights`; report per-attribute
    accuracy and per-value recall on that last fraction."""
    split = len(images) - max(1, round(len(images) * held_out))
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = AttributeClassifier(sizes, images.shape[1]).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        x, y = to_input(images[:split]).to(device), labels[:split].to(device)
        weights = [balancing_weights(y[:, a], size) for a, size in enumerate(sizes)]
        order = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(split, generator=order).split(BATCH):
                if len(batch) < 2:  # batch norm needs two images
                    continue
                loss = sum(
                    F.cross_entropy(logits, y[batch, a], weight=weights[a]) for a, logits in enumerate(model(x[batch]))
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    found, truth = model.predict(images[split:]), labels[split:]
    accuracy = (found == truth).float().mean(0)
    return TrainedClassifier(
        model, tuple(accuracy.tolist()), tuple(recall(found[:, a], truth[:, a], size) for a, size in enumerate(sizes))
    )
