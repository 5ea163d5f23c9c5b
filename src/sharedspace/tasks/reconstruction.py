"""Image reconstruction: a 2-layer MLP from the shared space to pixels, MSE on the 0–1 scale."""

import torch
from torch import nn

from sharedspace.outputs.pixels import Pixels
from sharedspace.tasks.base import TASKS
from sharedspace.tasks.image_data import ImagePixels
from sharedspace.tasks.pixel_error import PixelError
from sharedspace.tasks.views import DATA_VIEWS


class PixelDecoder(Pixels):
    """A task's own pixels head: (B, in_dim) → (B, C, H, W) in [0, 1]."""

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().forward(z, 0)


@TASKS.register("reconstruction")
class Reconstruction(PixelError):
    Config = Pixels.Config  # the head's settings

    def build_head(self, in_dim: int) -> nn.Module:
        return PixelDecoder(self.head_cfg, in_dim, self.data.target, 1)

    @staticmethod
    def target(batch):
        return batch["x"].float() / 255  # the input itself


DATA_VIEWS.add(Reconstruction, ImagePixels)
