"""FAMO (Liu et al., "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023).

Balances the tasks' rates of improvement from loss values alone (no per-task gradients): the
model steps on c·Σ_t z_t·∇log(L_t − b_t), z = softmax(w), c = (Σ_t z_t / (L_t − b_t))⁻¹, i.e. task
weights c·z_t / (L_t − b_t). After the optimizer step the losses are recomputed on the same batches
(as the official code does; one extra forward) and the logits w take one Adam step along
δ_t = log(L_t − b_t) − log(L'_t − b_t), the improvement of each task, through softmax's Jacobian.
The logits have their own Adam (lr 0.025, weight decay 1e-3 as in the paper's Algorithm 2), kept
in buffers here so that it is saved with the run; losses are global means, so every rank agrees.
"""

from dataclasses import dataclass

import torch

from sharedspace.errors import ConfigError
from sharedspace.train.weighting.base import WEIGHTINGS, LossWeighting

_EPS = 1e-8


@WEIGHTINGS.register("famo")
class FAMO(LossWeighting):
    balances_tasks = True

    @dataclass
    class Config:
        lr: float = 0.025  # the logits' Adam step size
        weight_decay: float = 1e-3  # the paper's regularisation γ of the logits
        min_loss: float = 0.0  # b: a lower bound of every task loss (losses must stay above it)

    betas = (0.9, 0.999)

    def __init__(self, cfg: Config, task_names: list[str], seed: int = 0) -> None:
        super().__init__(cfg, task_names)
        if cfg.lr < 0 or cfg.weight_decay < 0:
            raise ConfigError("train.weighting: famo's lr and weight_decay must be ≥ 0")
        n = len(task_names)
        self.register_buffer("logits", torch.zeros(n))
        self.register_buffer("exp_avg", torch.zeros(n))
        self.register_buffer("exp_avg_sq", torch.zeros(n))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.before: dict[str, torch.Tensor] = {}

    def shifted(self, names: list[str], losses: dict[str, torch.Tensor]) -> torch.Tensor:
        values = torch.stack([losses[n].detach() for n in names]).float()
        return values.to(self.logits.device) - self.cfg.min_loss + _EPS

    def weights(self, losses, ctx):
        names = list(losses)
        self.before = {n: ctx.loss_of(n, losses) for n in names}
        z = torch.softmax(self.logits[self.indices(names, self.logits.device)], dim=0)
        shifted = self.shifted(names, self.before)
        c = 1.0 / (z / shifted).sum()
        device = next(iter(losses.values())).device
        return dict(zip(names, (c * z / shifted).to(device), strict=True))

    def after_step(self, ctx):
        if ctx.recompute is None or not self.before:
            return
        names = list(self.before)
        after = ctx.recompute()
        delta = self.shifted(names, self.before).log() - self.shifted(names, after).log()
        idx = self.indices(names, self.logits.device)
        with torch.enable_grad():
            logits = self.logits[idx].clone().requires_grad_()
            (grad,) = torch.autograd.grad(torch.softmax(logits, dim=0), logits, delta)
        self.adam(idx, grad)
        self.before = {}

    @torch.no_grad()
    def adam(self, idx: torch.Tensor, grad: torch.Tensor) -> None:
        """One Adam step (L2 weight decay, as torch.optim.Adam) on the step's logits."""
        (b1, b2), lr = self.betas, self.cfg.lr
        self.updates += 1
        t = self.updates.item()
        grad = grad + self.cfg.weight_decay * self.logits[idx]
        self.exp_avg[idx] = b1 * self.exp_avg[idx] + (1 - b1) * grad
        self.exp_avg_sq[idx] = b2 * self.exp_avg_sq[idx] + (1 - b2) * grad.square()
        m_hat = self.exp_avg[idx] / (1 - b1**t)
        v_hat = self.exp_avg_sq[idx] / (1 - b2**t)
        self.logits[idx] -= lr * m_hat / (v_hat.sqrt() + 1e-8)
