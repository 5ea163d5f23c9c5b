"""Pixels output: a 2-layer MLP from the shared space to an image on the 0–1 scale.

Original (the SUS report's reconstruction decoder): Linear → LeakyReLU → Linear → Sigmoid.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import PixelsTarget
from sharedspace.outputs.base import OUTPUTS, OutputNet


@OUTPUTS.register("pixels")
class Pixels(OutputNet, nn.Sequential):
    """z (B, D) → images (B, C, H, W) in [0, 1], (C, H, W) = ``target.shape``.
    State-dict keys: ``0.weight``, ``0.bias`` (hidden layer), ``2.weight``, ``2.bias``."""

    target_kinds = ("pixels",)
    accepts = ("vector",)

    @dataclass
    class Config:
        hidden: int = 1024  # width of the hidden layer
        negative_slope: float = 0.01  # of the LeakyReLU after it

    def __init__(
        self, cfg: Config, in_dim: int, target: PixelsTarget, task_tokens: tuple[str, ...]
    ) -> None:
        super().__init__(
            nn.Linear(in_dim, cfg.hidden),
            nn.LeakyReLU(cfg.negative_slope),
            nn.Linear(cfg.hidden, math.prod(target.shape)),
            nn.Sigmoid(),
            nn.Unflatten(1, target.shape),
        )

    def forward(self, z: torch.Tensor, task: int) -> torch.Tensor:
        return super().forward(z)
