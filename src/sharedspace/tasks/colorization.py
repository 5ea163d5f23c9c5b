"""Colorization: an image's colours from its grey, a self-supervised task whose labels are free.

After Yan et al. (Berkeley report, ch. 4), who co-trained detection with it: MSE on the colours at
1/4 of the resolution, from features of the shared backbone. The input is the grey image in all
three channels, so it goes through the same image cap as the colour images of the main task
(``tasks.scene_data.GreySplit``); Larsson et al. (2016)'s hypercolumns — features of several of
the backbone's stages at each place — are the cap's to give (``image_resnet``'s
``hypercolumn``), as every task reading that cap then sees them.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.config import number
from sharedspace.tasks.base import TASKS
from sharedspace.tasks.pixel_error import PixelError
from sharedspace.tasks.scene_data import SceneColours
from sharedspace.tasks.views import DATA_VIEWS


class ColourHead(nn.Module):
    """A feature map (B, D, h, w) → colours (B, C, H, W) in [0, 1], (C, H, W) = ``shape``: a 3×3
    conv of ``hidden`` channels, ReLU, a 1×1 conv and a sigmoid at every cell, resized
    (bilinear) to H × W where the map's cells are not the target's pixels."""

    def __init__(self, in_dim: int, shape: tuple[int, ...], hidden: int) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.net = nn.Sequential(
            nn.Conv2d(in_dim, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, shape[0], 1)
        )

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.net(z.contiguous(memory_format=torch.channels_last))
        if logits.shape[-2:] != self.shape[1:]:
            logits = F.interpolate(logits, self.shape[1:], mode="bilinear", align_corners=False)
        return torch.sigmoid(logits)


@TASKS.register("colorization")
class Colorization(PixelError):
    """Colours ``y`` (B, 3, H, W) on the 0–1 scale from the grey image ``x``."""

    accepts = ("map",)

    @dataclass
    class Config:
        hidden: int = number(64, ge=1)  # channels of the head's 3×3 conv

    def build_head(self, in_dim: int) -> nn.Module:
        return ColourHead(in_dim, self.data.target.shape, self.head_cfg.hidden)

    @staticmethod
    def target(batch):
        return batch["y"]


DATA_VIEWS.add(Colorization, SceneColours)
