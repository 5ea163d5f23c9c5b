"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018)."""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.train.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("uncertainty")
class UncertaintyWeighting(LossWeighting):
    """A learned log-variance s_t per task, objective Σ_t ½·exp(−s_t)·L_t + ½·s_t — the form
    LibMTL uses for every task kind (the paper's classification variant drops the ½ on the loss).
    s_t starts at ``init`` (weight ½ at 0) and is trained by the run's optimizer; a task absent
    from a step leaves its s_t untouched."""

    @dataclass
    class Config:
        init: float = 0.0  # initial log-variance of every task

    def __init__(self, cfg: Config, task_names: list[str], seed: int = 0) -> None:
        super().__init__(cfg, task_names)
        self.log_vars = nn.Parameter(torch.full((len(task_names),), cfg.init))

    def weights(self, losses, ctx):
        return {name: 0.5 * torch.exp(-self.log_vars[self.index[name]]) for name in losses}

    def regulariser(self, losses):
        return 0.5 * sum(self.log_vars[self.index[name]] for name in losses)
