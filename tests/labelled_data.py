"""A labelled data set for the conditional tests, until data sets of ganlab's own carry labels: each
image is a block of colour whose hue is its ``colour`` label and whose brightness is its ``bright`` label,
so a generator that ignores its labels draws visibly wrong images."""

from __future__ import annotations

import dataclasses

import torch

import ganlab

COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 1.0, 0.1), "blue": (0.1, 0.1, 1.0)}


@dataclasses.dataclass
class ColourBlocksConfig:
    num_images: int = ganlab.param(48, "how many images", min=1)
    image_size: int = ganlab.param(16, "side in pixels", min=1)
    seed: int = ganlab.param(0, "which labels", min=0)
    get_batch: bool = ganlab.param(True, "gather batches at once (False: one image at a time)")


class ColourBlocks:
    """``num_images`` images labelled (colour, bright), drawn with ``seed``: colour is 1 in 2, green 1 in 3,
    blue 1 in 6 of the images; bright 1 in 4."""

    channels = 3
    label_space = ganlab.LabelSpace((ganlab.Attribute("colour", tuple(COLOURS)), ganlab.Attribute("bright")))

    def __init__(self, config: ColourBlocksConfig):
        self.image_size = config.image_size
        rng = torch.Generator().manual_seed(config.seed)
        colour = torch.multinomial(torch.tensor([3.0, 2.0, 1.0]), config.num_images, True, generator=rng)
        bright = (torch.rand(config.num_images, generator=rng) < 0.25).long()
        self.labels = torch.stack([colour, bright], dim=1)
        if not config.get_batch:
            self.get_batch = None

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, label: torch.Tensor) -> torch.Tensor:
        rgb = torch.tensor(list(COLOURS.values())[int(label[0])]) * (1.0 if label[1] else 0.5)
        return (rgb * 255).round().to(torch.uint8)[:, None, None].expand(3, self.image_size, self.image_size)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.image(self.labels[index]).clone()

    def get_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.image(self.labels[int(i)]) for i in indices])

    def describe(self) -> dict:
        return {"source": "colour-blocks", "num_images": len(self)}


@ganlab.component("dataset", "colour-blocks", config=ColourBlocksConfig, help="labelled colour blocks")
def build_colour_blocks(config: ColourBlocksConfig, context: ganlab.BuildContext) -> ColourBlocks:
    return ColourBlocks(config)


CONDITIONAL = {
    "data": {"name": "colour-blocks"},
    "generator": {"name": "cdcgan", "latent_dim": 8, "features": 4, "embed_dim": 4},
    "discriminator": {"name": "cdcgan-projection", "features": 4},
}
"""Changes to ganlab.testing's tiny recipe that make it conditional on the colour blocks."""
