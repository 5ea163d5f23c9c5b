"""Loss weighting and gradient aggregation: the part of a step that owns the backward.

A weighting receives the step's named task losses, the weighted auxiliary losses and a
``StepContext`` (the shared parameters, every parameter, the step, the processes), and leaves in
every parameter's ``.grad`` the gradient to step on — averaged over processes, so the optimizer
step is the same on every rank. Loss-level methods (equal, fixed, uncertainty, …) build one
objective and call ``backward`` once; gradient-level methods (PCGrad, MGDA, …) can instead take
per-task gradients of ``ctx.shared``, average them across ranks with ``ctx.average`` *before*
their nonlinear combination, and write the result into ``.grad``. The loop never changes when a
method is added. A weighting is an ``nn.Module``: its parameters join the optimizer, its state
(parameters and buffers) the checkpoint.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.registry import Registry
from sharedspace.train.distributed import Processes, average_gradients

WEIGHTINGS: Registry[type["Weighting"]] = Registry("loss weighting")


@dataclass
class StepContext:
    step: int
    shared: list[nn.Parameter]  # trained by more than one task (the space, shared caps)
    parameters: list[nn.Parameter]  # every trainable parameter: model and weighting
    procs: Processes

    def average(self, params: list[nn.Parameter] | None = None) -> None:
        """Average ``.grad`` of ``params`` (default: every parameter) over the processes."""
        average_gradients(self.parameters if params is None else params, self.procs)


class Weighting(nn.Module):
    """Built as ``cls(cfg, task_names)``; ``backward`` returns the minimised total (detached) and
    each task's weight, for the log."""

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, task_names: list[str]) -> None:
        super().__init__()
        self.cfg, self.task_names = cfg, task_names

    def backward(
        self, losses: dict[str, torch.Tensor], extra: torch.Tensor, ctx: StepContext
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError


class LossWeighting(Weighting):
    """Loss level: minimise Σ_t w_t·L_t + regulariser + extra, one backward."""

    def weights(self, losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def regulariser(self, losses: dict[str, torch.Tensor]) -> torch.Tensor | float:
        return 0.0

    def backward(self, losses, extra, ctx):
        weights = self.weights(losses)
        total = sum(weights[name] * loss for name, loss in losses.items())
        total = total + self.regulariser(losses) + extra
        total.backward()
        ctx.average()
        return total.detach(), {name: w.detach() for name, w in weights.items()}


@WEIGHTINGS.register("equal")
class EqualWeighting(LossWeighting):
    """Every task's loss counts once."""

    def weights(self, losses):
        one = next(iter(losses.values())).new_ones(())
        return dict.fromkeys(losses, one)


@WEIGHTINGS.register("fixed")
class FixedWeighting(LossWeighting):
    """Task losses scaled by fixed weights from the config (missing tasks weigh 1)."""

    @dataclass
    class Config:
        weights: dict[str, float] = field(default_factory=dict)  # task name -> weight

    def __init__(self, cfg: Config, task_names: list[str]) -> None:
        super().__init__(cfg, task_names)
        unknown = sorted(set(cfg.weights) - set(task_names))
        if unknown:
            raise ConfigError(
                f"train.weighting.weights: unknown tasks {unknown}; tasks: {task_names}"
            )

    def weights(self, losses):
        one = next(iter(losses.values())).new_ones(())
        return {name: one * self.cfg.weights.get(name, 1.0) for name in losses}


@WEIGHTINGS.register("uncertainty")
class UncertaintyWeighting(LossWeighting):
    """Homoscedastic uncertainty (Kendall, Gal & Cipolla 2018): a learned log-variance s_t per
    task, objective Σ_t ½·exp(−s_t)·L_t + ½·s_t — the form LibMTL uses for every task kind (the
    paper's classification variant drops the ½ on the loss). s_t starts at 0 (weight ½); a task
    absent from a step leaves its s_t untouched."""

    @dataclass
    class Config:
        init: float = 0.0  # initial log-variance of every task

    def __init__(self, cfg: Config, task_names: list[str]) -> None:
        super().__init__(cfg, task_names)
        self.log_vars = nn.Parameter(torch.full((len(task_names),), cfg.init))
        self.index = {name: i for i, name in enumerate(task_names)}

    def weights(self, losses):
        return {name: 0.5 * torch.exp(-self.log_vars[self.index[name]]) for name in losses}

    def regulariser(self, losses):
        return 0.5 * sum(self.log_vars[self.index[name]] for name in losses)


def build_weighting(section: Component, task_names: list[str]) -> Weighting:
    return WEIGHTINGS.get(section.name)(section.config, task_names)
