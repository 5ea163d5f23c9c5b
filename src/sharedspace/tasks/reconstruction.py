"""Image reconstruction: a 2-layer MLP from the shared space to pixels, MSE on the 0–1 scale."""

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sharedspace.tasks.base import TASKS, LossTerms, Task
from sharedspace.tasks.image_data import ImagePixels
from sharedspace.tasks.views import DATA_VIEWS


class PixelDecoder(nn.Sequential):
    """(B, in_dim) → (B, C, H, W) in [0, 1]."""

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().forward(z)


@TASKS.register("reconstruction")
class Reconstruction(Task):
    targets = ("pixels",)
    goals: ClassVar[dict[str, str]] = {
        "loss": "min",
        "mse_pixel_01": "min",
        "mse_pixel_255": "min",
        "sse_image_01": "min",
    }

    @dataclass
    class Config:
        hidden: int = 1024
        negative_slope: float = 0.01

    def build_head(self, in_dim: int) -> nn.Module:
        shape = self.data.target.shape  # (C, H, W)
        return PixelDecoder(
            nn.Linear(in_dim, self.head_cfg.hidden),
            nn.LeakyReLU(self.head_cfg.negative_slope),
            nn.Linear(self.head_cfg.hidden, math.prod(shape)),
            nn.Sigmoid(),
            nn.Unflatten(1, shape),
        )

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
