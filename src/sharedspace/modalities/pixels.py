"""Pixels cap: an image as its standardised pixel values, for spaces whose experts see the image
(the conv experts of Yan et al. 2020 read it through the ``conv`` block)."""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import ImageSpec
from sharedspace.modalities.base import MODALITIES, ImageCap, ImageInput


@MODALITIES.register("pixels")
class Pixels(ImageCap):
    """uint8 images (B, C, H, W) → standardised (B, C·H·W) rows, channel-major.

    With ``model.width`` = C·H·W (784 for Fashion-MNIST, 3,072 for CIFAR) the pixels pass as they
    are; any other width adds one linear map to it (a learned embedding of the pixels).
    """

    modality_kind = "image"
    produces = "vector"
    aux_losses = ()

    @dataclass
    class Config(ImageInput):
        pass

    def __init__(self, cfg: Config, out_dim: int, spec: ImageSpec) -> None:
        super().__init__(cfg, spec)
        self.out_dim = out_dim
        pixels = self.channels * spec.height * spec.width
        self.proj = nn.Identity() if out_dim == pixels else nn.Linear(pixels, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(self.standardise(x).flatten(1))
