"""Cross-stitch (Misra et al. 2016), generalised to N tasks × M experts.

Each expert is a block of L stages; after every stage, task t mixes the M experts' outputs with
its own weights, and that mixture is what every expert's next stage reads:

    h_0 = x,   h_{l+1}(t) = Σ_i w_l[t, i] · stage_l,i(h_l(t)),   z(t, x) = h_L(t).

With one stage this is z(t, x) = Σ_i w[t, i] f_i(x) with w an N×M matrix; with deep experts the
tasks share features at every depth, as Misra et al. stitch every layer. Every expert runs on
every row (the weights are dense).
"""

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from sharedspace.config import Component, component
from sharedspace.errors import ConfigError
from sharedspace.parts import ParameterRows, ParamGroup
from sharedspace.representation import Form
from sharedspace.spaces.registry import SPACES, build_experts


@SPACES.register("cross_stitch")
class CrossStitch(nn.Module):
    """(B, in_dim) → (B, out_dim); stitch weights ``w``: task t's ``w[t]`` (L, M) is its own
    (``w.stacked()``: (L, N, M)), in the parameter group ``cross_stitch``."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector"}
    aux_losses = ()

    @dataclass
    class Config:
        experts: int = 2
        expert: Component = component("mlp", registry="block")
        # normal: w ~ N(0, 1) (Yan et al. 2020); uniform: w = 1/M, every task starts at the mean
        init: Literal["normal", "uniform"] = "normal"
        # the stitch weights' learning rate ÷ the network's (Misra et al. use 10²–10³)
        lr_scale: float = 1.0

        def __post_init__(self) -> None:
            if not self.lr_scale > 0:
                raise ConfigError(f"lr_scale: expected a positive number, got {self.lr_scale}")

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.experts = build_experts(cfg.expert, in_dim, cfg.experts)
        self.out_dim = self.experts[0].out_dim
        shape = (len(self.experts[0]), num_tasks, cfg.experts)
        w = torch.randn(shape) if cfg.init == "normal" else torch.full(shape, 1 / cfg.experts)
        self.w = ParameterRows(w, dim=1)
        self.lr_scale = cfg.lr_scale

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        for depth, stages in enumerate(zip(*self.experts, strict=True)):  # stage l of each expert
            h = sum(w * stage(h) for w, stage in zip(self.w[task][depth], stages, strict=True))
        return h

    def param_groups(self) -> dict[str, ParamGroup]:
        return {"cross_stitch": ParamGroup(list(self.w), self.lr_scale)}

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        return {t: [w] for t, w in enumerate(self.w)}
