"""Dynamic weight average (Liu, Johns & Davison, "End-to-End Multi-Task Learning with
Attention", CVPR 2019).

w_t = T·softmax(r_t / τ) over the step's T tasks, r_t = L̄_t(k−1) / L̄_t(k−2): the ratio of task
t's mean loss over the last two windows (epochs in the paper; ``window`` steps here). A task whose
loss falls slower than the others' gets more weight. Weights are equal until a task has two
finished windows. Means are of ``ctx.global_losses`` (over every process), so every rank computes
the same weights; sums and history are buffers, so resuming continues the same windows.
"""

from dataclasses import dataclass

import torch

from sharedspace.errors import ConfigError
from sharedspace.train.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("dwa")
class DynamicWeightAverage(LossWeighting):
    balances_tasks = True

    @dataclass
    class Config:
        temperature: float = 2.0  # τ; the paper's value
        window: int | None = None  # steps per averaging window; None: one epoch

    def __init__(self, cfg: Config, task_names: list[str], seed: int = 0) -> None:
        super().__init__(cfg, task_names)
        if cfg.temperature <= 0:
            raise ConfigError(f"train.weighting.temperature: must be > 0, got {cfg.temperature}")
        if cfg.window is not None and cfg.window < 1:
            raise ConfigError(f"train.weighting.window: must be ≥ 1 step, got {cfg.window}")
        n = len(task_names)
        self.register_buffer("sums", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("counts", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("history", torch.full((2, n), float("nan"), dtype=torch.float64))

    def weights(self, losses, ctx):
        names = list(losses)
        idx = self.indices(names, self.sums.device)
        older, newer = self.history[:, idx]
        rates = newer / older  # NaN until a task has two windows
        if torch.isnan(rates).any():
            w = torch.ones(len(names), dtype=torch.float64, device=idx.device)
        else:
            w = len(names) * torch.softmax(rates / self.cfg.temperature, dim=0)
        values = torch.stack([ctx.loss_of(n, losses) for n in names]).double()
        self.sums.index_add_(0, idx, values)
        self.counts.index_add_(0, idx, torch.ones_like(values))
        window = self.cfg.window or ctx.epoch_steps
        if (ctx.step + 1) % window == 0:
            seen = self.counts > 0
            means = torch.where(seen, self.sums / self.counts.clamp(min=1), self.history[1])
            self.history.copy_(
                torch.stack([torch.where(seen, self.history[1], self.history[0]), means])
            )
            self.sums.zero_()
            self.counts.zero_()
        device = next(iter(losses.values())).device
        return dict(zip(names, w.float().to(device), strict=True))
