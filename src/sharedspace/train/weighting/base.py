"""What every weighting is: the part of a step that turns task losses into gradients.

A weighting receives the step's named task losses (this process's batch slice), the weighted
auxiliary losses and a ``StepContext``, and leaves in every parameter's ``.grad`` the gradient to
step on, averaged over processes so the optimizer step is the same on every rank. Two families:

- ``LossWeighting``: minimise Σ_t w_t·L_t (+ a regulariser + aux), one backward. Weights that
  depend on loss values read ``ctx.global_losses`` (means over every process), so all ranks agree.
- ``GradientWeighting``: one gradient per task on the shared parameters — a (T, n) Jacobian —
  averaged over processes *before* the nonlinear ``combine`` that turns it into task weights; the
  shared parameters step on ``weights @ J``. Task-specific parameters and auxiliary losses take
  their ordinary gradients, so only the shared trunk is arbitrated.

A weighting is an ``nn.Module``: its parameters join the optimizer; its parameters, buffers and
``extra_state`` go into the checkpoint, so a killed run resumes bit-identically.
"""

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from sharedspace import collectives
from sharedspace.collectives import SINGLE, Processes, average_gradients
from sharedspace.registry import Registry
from sharedspace.train.loss_scale import LossScale

WEIGHTINGS: Registry[type["Weighting"]] = Registry("loss weighting")

Losses = dict[str, torch.Tensor]  # task name → scalar loss


@dataclass
class StepContext:
    """What a weighting may use besides the losses, refreshed by the trainer every step."""

    step: int
    shared: list[nn.Parameter]  # trained by more than one task (the space, shared caps)
    parameters: list[nn.Parameter]  # every trainable parameter: model and weighting
    procs: Processes = SINGLE
    global_losses: Losses = field(default_factory=dict)  # detached means over every process
    epoch_steps: int = 1
    # the step's task losses recomputed on the same batches (no grad, means over processes): the
    # trainer sets it for methods that compare losses before and after the optimizer step
    recompute: Callable[[], Losses] | None = None
    # fp16's dynamic loss scale (train.precision), the trainer's own: None in fp32 and bf16
    scaler: LossScale | None = None

    @property
    def loss_scale(self) -> float:
        """S: a backward starts from S·loss and each gradient is divided by S as it is made, so
        weightings see true gradients; 1 without a scaler."""
        return 1.0 if self.scaler is None else self.scaler.scale

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()`` into every trainable parameter, through the loss scale."""
        if self.loss_scale == 1.0:
            loss.backward()
            return
        params = [p for p in self.parameters if p.requires_grad]
        grads = torch.autograd.grad(loss * self.loss_scale, params, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                _accumulate(p, g / self.loss_scale)

    def average(self, params: list[nn.Parameter] | None = None) -> None:
        """Average ``.grad`` of ``params`` (default: every parameter) over the processes."""
        average_gradients(self.parameters if params is None else params, self.procs)

    def loss_of(self, name: str, losses: Losses) -> torch.Tensor:
        """The task's loss as every process sees it: the global mean when the trainer gave one."""
        return self.global_losses.get(name, losses[name]).detach()


class Weighting(nn.Module):
    """Built as ``cls(cfg, task_names, seed)``; ``backward`` returns the minimised total
    (detached) and each task's weight, for the log; ``after_step`` runs after the optimizer."""

    # True: the method needs every task in every step (a sampler such as ``all``)
    needs_every_task: ClassVar[bool] = False
    # True: it weighs the tasks of a step against each other, so one task a step leaves it
    # nothing to do (``validate`` refuses a sampler that trains one task per step)
    balances_tasks: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()  # modules it imports lazily (solvers)
    install_extra: ClassVar[str] = ""  # our install extra that provides them

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, task_names: list[str], seed: int = 0) -> None:
        super().__init__()
        self.cfg, self.task_names = cfg, task_names
        self.index = {name: i for i, name in enumerate(task_names)}

    @classmethod
    def missing_modules(cls) -> list[str]:
        """The modules of ``requires`` that are not installed."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    def indices(self, names: list[str], device: torch.device) -> torch.Tensor:
        return torch.tensor([self.index[n] for n in names], device=device)

    def backward(
        self, losses: Losses, extra: torch.Tensor, ctx: StepContext
    ) -> tuple[torch.Tensor, Losses]:
        raise NotImplementedError

    def after_step(self, ctx: StepContext) -> None:
        """Called once the optimizer has stepped (most methods have nothing to do)."""


class LossWeighting(Weighting):
    """Loss level: minimise Σ_t w_t·L_t + regulariser + extra, one backward."""

    def weights(self, losses: Losses, ctx: StepContext) -> Losses:
        raise NotImplementedError

    def regulariser(self, losses: Losses) -> torch.Tensor | float:
        return 0.0

    def backward(self, losses, extra, ctx):
        weights = self.weights(losses, ctx)
        total = sum(weights[name] * loss for name, loss in losses.items())
        total = total + self.regulariser(losses) + extra
        ctx.backward(total)
        ctx.average()
        return total.detach(), {name: w.detach() for name, w in weights.items()}


def task_jacobian(
    losses: list[torch.Tensor],
    shared: list[nn.Parameter],
    specific: list[nn.Parameter],
    loss_scale: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, list[list[torch.Tensor | None]]]:
    """Each loss's gradient: on ``shared`` as one row of a (T, n) matrix plus which shared
    parameters any loss reached, (len(shared),) of 0/1; on ``specific`` as a list per loss (None
    where unused). A task's forward is its own graph, so T calls of ``autograd.grad`` cost one
    ordinary backward; graphs are kept for the aux losses. Under a loss scale (fp16) each
    gradient is made from scale·loss and divided by it."""
    rows, specific_grads = [], []
    used = torch.zeros(len(shared), device=losses[0].device)
    for loss in losses:
        grads = torch.autograd.grad(
            loss * loss_scale, [*shared, *specific], retain_graph=True, allow_unused=True
        )
        if loss_scale != 1.0:
            grads = tuple(None if g is None else g / loss_scale for g in grads)
        rows.append(
            torch.cat(
                [
                    torch.zeros(p.numel(), device=p.device) if g is None else g.reshape(-1)
                    for p, g in zip(shared, grads, strict=False)
                ]
            )
        )
        used += torch.tensor([g is not None for g in grads[: len(shared)]], device=used.device)
        specific_grads.append(list(grads[len(shared) :]))
    return torch.stack(rows), used, specific_grads


def _accumulate(param: nn.Parameter, grad: torch.Tensor) -> None:
    param.grad = grad.clone() if param.grad is None else param.grad + grad


class GradientWeighting(Weighting):
    """Gradient level: the shared parameters step on ``combine(J)·J`` with J the (T, n) matrix
    of the tasks' gradients, averaged over processes first (one all-reduce of T·n values, the
    extra communication of these methods); every other parameter gets the sum of its tasks'
    gradients (weighted too when ``weights_specific``) plus the aux losses' gradients."""

    weights_specific: ClassVar[bool] = False
    balances_tasks = True

    def combine(self, jacobian: torch.Tensor, losses: Losses, ctx: StepContext) -> torch.Tensor:
        """(T, n) process-averaged task gradients (rows in ``losses`` order; ``losses``: detached
        global means) → (T,) weights of its rows."""
        raise NotImplementedError

    def backward(self, losses, extra, ctx):
        names = list(losses)
        shared = [p for p in ctx.shared if p.requires_grad]
        shared_ids = {id(p) for p in shared}
        specific = [p for p in ctx.parameters if p.requires_grad and id(p) not in shared_ids]
        jacobian, used, specific_grads = task_jacobian(
            list(losses.values()), shared, specific, ctx.loss_scale
        )
        # one all-reduce: the T·n gradients and which parameters they reach (on any rank)
        packed = collectives.mean(torch.cat([jacobian.reshape(-1), used]), ctx.procs)
        jacobian, used = packed[: jacobian.numel()].view_as(jacobian), packed[jacobian.numel() :]
        global_losses = {n: ctx.loss_of(n, losses) for n in names}
        weights = self.combine(jacobian, global_losses, ctx).to(jacobian.dtype)
        if extra.requires_grad:
            ctx.backward(extra)
        for t, grads in enumerate(specific_grads):
            scale = weights[t] if self.weights_specific else None
            for p, g in zip(specific, grads, strict=True):
                if g is not None:
                    _accumulate(p, g if scale is None else scale * g)
        ctx.average()  # specific parameters, aux-loss gradients, a learned weighting's own
        direction = weights @ jacobian  # (n,), the same on every rank
        chunks = direction.split([p.numel() for p in shared])
        for p, g, reached in zip(shared, chunks, used.tolist(), strict=True):
            if reached:  # a parameter no task reached keeps None, as under loss weighting
                _accumulate(p, g.view_as(p))
        total = sum(w * loss.detach() for w, loss in zip(weights, losses.values(), strict=True))
        return total + extra.detach(), dict(zip(names, weights.detach(), strict=True))
