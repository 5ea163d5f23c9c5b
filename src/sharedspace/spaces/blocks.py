"""Blocks: the networks a mixture space uses as its experts (``expert: {name: mlp, …}``).

Contract (checked for every entry by one registry-wide test): a block class has a ``Config``, is
built as ``cls(cfg, in_dim)``, is an ``nn.Sequential`` of *stages*, each (N, d_l) → (N, d_l+1)
on rows of vectors, and exposes ``out_dim``. Stages are what cross-stitch mixes between (one
stitch per stage, as Misra et al. stitch per layer); every other space runs the block whole.
Rows are independent, so a mixture can run an expert on any subset of a batch.
"""

import itertools
from dataclasses import dataclass, field

import torch
from torch import nn

from sharedspace.errors import ConfigError
from sharedspace.spaces.registry import BLOCKS


@BLOCKS.register("mlp")
class MLP(nn.Sequential):
    """Dense layers, each followed by LeakyReLU (slope 0: ReLU): (N, in_dim) → (N, widths[-1]).
    With ``linear_output`` the last layer has no activation (a feed-forward block: its output is
    added to a residual stream, as MultiModel's experts)."""

    @dataclass
    class Config:
        widths: list[int] = field(default_factory=lambda: [256])  # one stage each
        negative_slope: float = 0.0
        linear_output: bool = False  # no activation after the last layer

    def __init__(self, cfg: Config, in_dim: int) -> None:
        dims = [in_dim, *cfg.widths]
        last = len(dims) - 2
        super().__init__(
            *(
                nn.Sequential(nn.Linear(a, b))
                if i == last and cfg.linear_output
                else nn.Sequential(nn.Linear(a, b), nn.LeakyReLU(cfg.negative_slope))
                for i, (a, b) in enumerate(itertools.pairwise(dims))
            )
        )
        self.out_dim = dims[-1]


class ConvStage(nn.Module):
    """(N, C·H·W) → (N, C'·H/2·W/2): conv (same padding) → 2×2 max-pool → ReLU, on flat rows.

    Pooling before the ReLU is the same function (ReLU is monotonic) on a quarter of the values.
    """

    def __init__(self, shape: tuple[int, int, int], channels: int, kernel_size: int) -> None:
        super().__init__()
        self.shape = shape
        self.conv = nn.Conv2d(shape[0], channels, kernel_size, padding=kernel_size // 2)
        self.out_shape = (channels, shape[1] // 2, shape[2] // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.max_pool2d(self.conv(x.view(-1, *self.shape)), 2)
        return torch.relu(h).flatten(1)


@BLOCKS.register("conv")
class ConvNet(nn.Sequential):
    """The expert of Yan et al. (2020): conv layers of 32 filters, each with ReLU and 2×2 max-pool,
    on images given as flat rows of ``shape`` (C, H, W) — e.g. from the ``pixels`` cap."""

    @dataclass
    class Config:
        shape: list[int] = field(default_factory=lambda: [1, 28, 28])  # C, H, W of the input rows
        channels: list[int] = field(default_factory=lambda: [32, 32, 32, 32])  # one stage each
        kernel_size: int = 3

    def __init__(self, cfg: Config, in_dim: int) -> None:
        shape = tuple(cfg.shape)
        if len(shape) != 3 or shape[0] * shape[1] * shape[2] != in_dim:
            raise ConfigError(
                f"conv block: shape {list(shape)} (C, H, W) must hold the {in_dim} input values"
            )
        stages = []
        for channels in cfg.channels:
            if min(shape[1:]) < 2:
                raise ConfigError(
                    f"conv block: {len(cfg.channels)} poolings shrink {cfg.shape} to nothing"
                )
            stages.append(ConvStage(shape, channels, cfg.kernel_size))
            shape = stages[-1].out_shape
        super().__init__(*stages)
        self.out_dim = shape[0] * shape[1] * shape[2]
