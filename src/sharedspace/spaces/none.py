"""No shared space: caps joined directly — the ablation the SUS report proposes."""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.spaces.registry import SPACES


@SPACES.register("none")
class NoSpace(nn.Module):
    """(B, in_dim) → the same tensor; task caps read the modality caps' output directly."""

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.out_dim = in_dim

    def forward(self, h: torch.Tensor, task: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return h, {}
