"""GradNorm (Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing", ICML
2018).

Task weights w_t = T·softmax(a)_t (LibMTL's parameterisation: positive, summing to T, no
renormalisation step) are learned so that each task's weighted gradient norm on the shared
parameters, G_t = w_t·‖∇L_t‖, approaches Ḡ·r_t^α, where Ḡ is the mean G and r_t = L̃_t / mean(L̃)
with L̃_t = L_t / L_t(0) the task's relative inverse training rate. The balancing loss
Σ_t |G_t − Ḡ·r_t^α| (target held constant, as in the paper) trains a by the run's optimizer; the
model steps on Σ_t w_t·∇L_t. The paper measures G on the last shared layer; here it is every
shared parameter (LibMTL's default), which needs no knowledge of the architecture. Gradient
norms come from the process-averaged task gradients and L(0) from the first global loss of each
task, so every rank computes the same weights.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.train.weighting.base import WEIGHTINGS, GradientWeighting


@WEIGHTINGS.register("gradnorm")
class GradNorm(GradientWeighting):
    weights_specific = True  # a loss weighting: task-specific parameters see w_t too

    @dataclass
    class Config:
        alpha: float = 1.5  # asymmetry: how hard slower tasks are pulled up (the paper's 1.5)

    def __init__(self, cfg: Config, task_names: list[str], seed: int = 0) -> None:
        super().__init__(cfg, task_names)
        self.logits = nn.Parameter(torch.zeros(len(task_names)))
        self.register_buffer("initial", torch.full((len(task_names),), float("nan")))

    def combine(self, jacobian, losses, ctx):
        names = list(losses)
        idx = self.indices(names, self.logits.device)
        losses = torch.stack(list(losses.values())).float().to(idx.device)
        first = torch.isnan(self.initial[idx])
        self.initial[idx] = torch.where(first, losses, self.initial[idx])
        weights = len(names) * torch.softmax(self.logits[idx], dim=0)
        norms = weights * jacobian.norm(dim=1).to(weights.device)  # G_t
        ratios = losses / self.initial[idx]
        target = (norms.mean() * (ratios / ratios.mean()) ** self.cfg.alpha).detach()
        balance = (norms - target).abs().sum()
        (grad,) = torch.autograd.grad(balance, self.logits)
        self.logits.grad = grad if self.logits.grad is None else self.logits.grad + grad
        return weights.detach()
