"""Residual convolution stages (He et al. 2016's basic block) with group normalisation.

A stage is what Yan et al.'s detection + self-supervision architecture (Berkeley report, Fig. 4.1)
shares or copies: the backbone's first stages serve every task, and a task (or a group of tasks)
can keep its own copy of the last one. GroupNorm instead of BatchNorm: a batch's statistics would
differ with the tasks of a step and between processes (2 processes would not train what 1 does
without synchronising them), and detection batches on 2 CPU cores are small.
"""

import torch
from torch import nn

GROUPS = 8  # GroupNorm's groups (Wu & He 2018's default is 32, for ≥ 64 channels)


def norm(channels: int) -> nn.GroupNorm:
    """Group normalisation with up to ``GROUPS`` groups that divide ``channels``."""
    groups = max(g for g in range(1, GROUPS + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class BasicBlock(nn.Module):
    """(B, c_in, H, W) → (B, c_out, H/stride, W/stride): two 3×3 convs with a shortcut (a strided
    1×1 conv where the shape changes), ReLU after the sum."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False),
            norm(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            norm(c_out),
        )
        changes = stride != 1 or c_in != c_out
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), norm(c_out))
            if changes
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def stage(c_in: int, c_out: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` basic blocks, the first strided ``stride`` (and changing the width)."""
    return nn.Sequential(
        *(
            BasicBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1)
            for i in range(blocks)
        )
    )
