"""MMoE — multi-gate mixture of experts (Ma et al. 2018): M shared experts, and per task a softmax
gate computed from the input, so each task mixes the experts differently for each example."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sharedspace.config import Component, component
from sharedspace.parts import ParameterRows
from sharedspace.representation import Form
from sharedspace.spaces.dispatch import dense_mixture
from sharedspace.spaces.registry import SPACES, build_experts


@SPACES.register("mmoe")
class MMoE(nn.Module):
    """(B, in_dim) → Σ_i g_i(t, h) f_i(h): (B, out_dim), g(t, h) = softmax(h W_t + b_t) over M.

    The gates start at zero (every task begins as the ungated mixture); every expert runs on every
    row, as the gates are dense. Task t's gate (``gate_weight[t]`` (in_dim, M), ``gate_bias[t]``
    (M,)) is its own parameters.
    """

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
        self.gate_weight = ParameterRows(torch.zeros(num_tasks, in_dim, cfg.experts))
        self.gate_bias = ParameterRows(torch.zeros(num_tasks, cfg.experts))

    def gates(self, h: torch.Tensor, task: int) -> torch.Tensor:
        """(B, in_dim) → the task's gate probabilities (B, M)."""
        return torch.softmax(h @ self.gate_weight[task] + self.gate_bias[task], dim=-1)

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        return dense_mixture(h, self.experts, self.gates(h, task))

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        pairs = zip(self.gate_weight, self.gate_bias, strict=True)
        return {t: [weight, bias] for t, (weight, bias) in enumerate(pairs)}
