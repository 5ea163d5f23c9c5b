"""Tasks that predict pixels (reconstruction, colorization): MSE on the 0–1 scale, and its metrics
as sums over a split. A kind says which pixels are its target (``target``); the rest is here."""

from typing import ClassVar

import torch

from sharedspace.tasks.base import LossTerms, Task


class PixelError(Task):
    """Squared error between the head's output and ``target(batch)``, both (B, C, H, W) in
    [0, 1]; the per-example loss is the mean over an example's values."""

    targets = ("pixels",)
    goals: ClassVar[dict[str, str]] = {
        "loss": "min",
        "mse_pixel_01": "min",
        "mse_pixel_255": "min",
        "sse_image_01": "min",
    }

    @staticmethod
    def target(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The pixels the output is compared with, (B, C, H, W) on the 0–1 scale."""
        raise NotImplementedError

    def _squared_error(self, output: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return (output - self.target(batch)).square()

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
