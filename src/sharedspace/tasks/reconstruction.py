"""Image reconstruction: a 2-layer MLP from the shared space to pixels, MSE on the 0–1 scale."""

from typing import ClassVar

import torch
from torch import nn

from sharedspace.outputs.pixels import Pixels
from sharedspace.tasks.base import TASKS, LossTerms, Task
from sharedspace.tasks.image_data import ImagePixels
from sharedspace.tasks.views import DATA_VIEWS


class PixelDecoder(Pixels):
    """A task's own pixels head: (B, in_dim) → (B, C, H, W) in [0, 1]."""

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().forward(z, 0)


@TASKS.register("reconstruction")
class Reconstruction(Task):
    targets = ("pixels",)
    goals: ClassVar[dict[str, str]] = {
        "loss": "min",
        "mse_pixel_01": "min",
        "mse_pixel_255": "min",
        "sse_image_01": "min",
    }

    Config = Pixels.Config  # the head's settings

    def build_head(self, in_dim: int) -> nn.Module:
        return PixelDecoder(self.head_cfg, in_dim, self.data.target, 1)

    @staticmethod
    def _squared_error(output: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return (output - batch["x"].float() / 255).square()  # the input is the target

    def loss(self, output, batch):
        return LossTerms.per_example(self._squared_error(output, batch).flatten(1).mean(1))

    def metric_sums(self, output, batch, prediction=None):
        return {
            "sse": self._squared_error(output, batch).sum().double(),
            "images": torch.tensor(len(output), dtype=torch.float64),
            "values": torch.tensor(output.numel(), dtype=torch.float64),
        }

    @staticmethod
    def metrics(sums):
        """mse_pixel_01: mean squared error per value, pixels on the 0–1 scale (the loss);
        mse_pixel_255: the same on the 0–255 scale (×255²);
        sse_image_01: squared error summed over one image's values, 0–1 scale, mean over images."""
        mse = sums["sse"] / sums["values"]
        return {
            "loss": mse,
            "mse_pixel_01": mse,
            "mse_pixel_255": mse * 255**2,
            "sse_image_01": sums["sse"] / sums["images"],
        }


DATA_VIEWS.add(Reconstruction, ImagePixels)
