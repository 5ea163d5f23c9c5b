"""A small residual backbone that keeps the image's layout: a feature map for dense heads.

The image cap of detection and of the self-supervised tasks co-trained with it (Yan et al.,
Berkeley report, ch. 4, whose backbone is a ResNet): a strided 3×3 stem, then residual stages
(``layers.residual``), then a 1×1 conv to the shared width. Sized for 64–96 px scenes on 2 CPU
cores: with the defaults the map has stride 4 (96 px → 24 × 24 cells), CenterNet's output stride.

``hypercolumn``: the map is, at each cell, the stem's and every stage's features there (Larsson
et al. 2016, whose colorization reads them: low stages keep the edges and colours that deep ones
pool away), each resized to the last stage's cells (bilinear, antialiased where it shrinks) and
joined before the 1×1 conv.
"""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.config import Range, number
from sharedspace.data.specs import ImageSpec
from sharedspace.errors import ConfigError
from sharedspace.layers.residual import norm, stage
from sharedspace.modalities.base import MODALITIES, ImageCap, ImageInput

STAGE = {"range": Range(ge=1)}  # a list of whole numbers ≥ 1, one per stage
STEM_LAYERS = 3  # the first modules of ``features``: conv, norm, ReLU


@MODALITIES.register("image_resnet")
class ImageResNet(ImageCap):
    """uint8 images (B, C, H, W) → a feature map (B, out_dim, H / s, W / s), s the product of the
    strides (rounded up at each halving), channels-last in memory."""

    modality_kind = "image"
    produces = "map"
    aux_losses = ()

    @dataclass
    class Config(ImageInput):
        stem: int = number(32, ge=1)  # channels of the stem's 3×3 conv, strided 2
        channels: list[int] = field(default_factory=lambda: [32, 64, 96], metadata=STAGE)
        blocks: list[int] = field(default_factory=lambda: [1, 1, 1], metadata=STAGE)  # per stage
        strides: list[int] = field(default_factory=lambda: [1, 2, 1], metadata=STAGE)  # 1st block
        hypercolumn: bool = False  # the 1×1 conv reads the stem's and every stage's features

        def __post_init__(self) -> None:
            if not len(self.channels) == len(self.blocks) == len(self.strides):
                raise ConfigError(
                    f"channels, blocks, strides: expected one per stage, got {len(self.channels)}"
                    f", {len(self.blocks)}, {len(self.strides)}"
                )

    @classmethod
    def reads(cls, cfg: ImageInput, spec: ImageSpec) -> tuple:
        """The channels and the statistics unless per image, not the size: a map of any size
        (64 px scenes and 32 px pictures can share the cap)."""
        return super().reads(cfg, spec)[:2]

    def __init__(self, cfg: Config, out_dim: int, spec: ImageSpec) -> None:
        super().__init__(cfg, spec)
        self.out_dim = out_dim
        layers: list[nn.Module] = [
            nn.Conv2d(self.channels, cfg.stem, 3, stride=2, padding=1, bias=False),
            norm(cfg.stem),
            nn.ReLU(),
        ]
        c = cfg.stem
        for c_out, blocks, stride in zip(cfg.channels, cfg.blocks, cfg.strides, strict=True):
            layers.append(stage(c, c_out, blocks, stride))
            c = c_out
        self.features = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.hypercolumn = cfg.hypercolumn
        if self.hypercolumn:
            c = cfg.stem + sum(cfg.channels)
        self.proj = nn.Identity() if out_dim == c else nn.Conv2d(c, out_dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.standardise(x).contiguous(memory_format=torch.channels_last)
        if not self.hypercolumn:
            return self.proj(self.features(x))  # (B, out_dim, H / s, W / s)
        columns = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i >= STEM_LAYERS - 1:  # after the stem, and after each stage
                columns.append(x)
        cells = x.shape[-2:]
        resized = [
            c if c.shape[-2:] == cells else F.interpolate(c, cells, mode="bilinear", antialias=True)
            for c in columns
        ]
        return self.proj(torch.cat(resized, 1))  # (B, out_dim, H / s, W / s)
