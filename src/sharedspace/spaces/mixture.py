"""Ungated mixture: M experts, every task takes their mean — the baseline that gated mixtures
(MMoE, the noisy top-k MoE, multi-clustering) must beat to show that gating helps."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sharedspace.config import Component, component
from sharedspace.representation import Form
from sharedspace.spaces.registry import SPACES, build_experts


@SPACES.register("mixture")
class Mixture(nn.Module):
    """(B, in_dim) → (1/M) Σ_i f_i(h): (B, out_dim), the same for every task."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector"}
    aux_losses = ()

    @dataclass
    class Config:
        experts: int = 4
        expert: Component = component("mlp", registry="block")

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.experts = build_experts(cfg.expert, in_dim, cfg.experts)
        self.out_dim = self.experts[0].out_dim

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        return torch.stack([expert(h) for expert in self.experts]).mean(0)
