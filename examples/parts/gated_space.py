"""An example plug-in: a shared space written outside the package, registered as ``gated``.

One linear layer whose output each task scales by its own learned sigmoid gate, so a task can
switch off the features it does not use. ``examples/plugin.yaml`` trains with it.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sharedspace.representation import Form
from sharedspace.spaces import SPACES


@SPACES.register("gated")
class GatedSpace(nn.Module):
    """(B, in_dim) → (B, width): a linear layer times a per-task sigmoid gate."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector"}
    aux_losses = ()

    @dataclass
    class Config:
        width: int = 512

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.linear, self.out_dim = nn.Linear(in_dim, cfg.width), cfg.width
        self.gate_logits = nn.Parameter(torch.zeros(num_tasks, cfg.width))  # gates start at ½

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        return torch.relu(self.linear(h)) * torch.sigmoid(self.gate_logits[task])
