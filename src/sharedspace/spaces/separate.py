"""Separate: one copy of the expert block per task — nothing shared, the single-task reference
inside one model (same caps, heads, data and steps as the shared spaces it is compared with)."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sharedspace.config import Component, component
from sharedspace.representation import Form
from sharedspace.spaces.registry import SPACES, build_experts


@SPACES.register("separate")
class Separate(nn.Module):
    """(B, in_dim) → (B, out_dim) through task ``task``'s own block (its own parameters)."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector"}
    aux_losses = ()

    @dataclass
    class Config:
        expert: Component = component("mlp", registry="block")

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.experts = build_experts(cfg.expert, in_dim, num_tasks)
        self.out_dim = self.experts[0].out_dim

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        return self.experts[task](h)

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        return {t: list(block.parameters()) for t, block in enumerate(self.experts)}
