"""Gradient-level methods from TorchJD (MIT), each behind our one adapter.

TorchJD's aggregators map a (T, n) matrix of task gradients to weights of its rows
(``aggregator.weighting``); its ``mtl_backward`` expects one shared feature tensor for all tasks,
but our tasks have their own batches and forwards, so ``GradientWeighting`` builds the matrix
itself (one backward per task's own graph, then one all-reduce under DDP) and hands it to the
aggregator. Results equal ``torchjd.autojac.backward`` + ``jac_to_grad`` on the same losses
(tested).

Methods that solve a QP or conic program need an install extra (``quadprog`` for UPGrad,
``cvxpy`` for CAGrad and Nash-MTL); the default install stays lean and a missing extra is a
one-line error naming the command.

Step sizes: PCGrad sums the (projected) task gradients, the others return convex-ish combinations
whose scale is about that of one task's gradient. Adam, the default optimizer, is invariant to
that scale; with SGD tune ``train.lr`` per method.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torchjd import aggregation

from sharedspace.errors import ConfigError
from sharedspace.train.weighting.base import WEIGHTINGS, GradientWeighting


class Aggregation(GradientWeighting):
    """A TorchJD aggregator as a weighting: ``combine`` = the aggregator's weights of J's rows."""

    def __init__(self, cfg, task_names: list[str], seed: int = 0) -> None:
        super().__init__(cfg, task_names)
        missing = self.missing_modules()
        if missing:
            raise ConfigError(
                f"train.weighting: {type(self).__name__} needs {', '.join(missing)}; install "
                f"them with: pip install 'sharedspace[{self.install_extra}]' (in this repo: "
                f".venv/bin/pip install -e '.[{self.install_extra}]')"
            )
        try:
            self.aggregator = self.build(len(task_names))
        except ValueError as e:  # TorchJD checks its settings (c ≥ 0, max_iters > 0, …)
            raise ConfigError(f"train.weighting: {type(self).__name__}: {e}") from None

    def build(self, num_tasks: int) -> aggregation.WeightedAggregator:
        raise NotImplementedError

    def combine(self, jacobian, losses, ctx):
        return self.aggregator.weighting(jacobian)


@WEIGHTINGS.register("pcgrad")
class PCGrad(Aggregation):
    """Gradient surgery (Yu et al., NeurIPS 2020): each task's gradient is projected off the
    normal plane of every task gradient it conflicts with (negative inner product), in a random
    order (the run's torch RNG, saved in the checkpoint); the projections are summed."""

    def build(self, num_tasks):
        return aggregation.PCGrad()


@WEIGHTINGS.register("mgda")
class MGDA(Aggregation):
    """Multiple-gradient descent (Sener & Koltun, NeurIPS 2018): the min-norm point of the convex
    hull of the task gradients (Frank–Wolfe), a common descent direction. Applied to the shared
    parameters' gradients: the paper's cheaper MGDA-UB bound differentiates one shared
    representation of the same examples, which tasks with their own batches do not have."""

    @dataclass
    class Config:
        epsilon: float = 1e-3  # Frank–Wolfe stops when the step changes weights less than this
        max_iters: int = 100

    def build(self, num_tasks):
        return aggregation.MGDA(epsilon=self.cfg.epsilon, max_iters=self.cfg.max_iters)


@WEIGHTINGS.register("cagrad")
class CAGrad(Aggregation):
    """Conflict-averse gradient descent (Liu et al., NeurIPS 2021): the direction that maximises
    the worst task's improvement within a ball of radius c·‖ḡ‖ around the mean gradient ḡ."""

    requires = ("cvxpy", "clarabel")
    install_extra = "cvxpy"

    @dataclass
    class Config:
        c: float = 0.4  # ball radius; 0 is the mean gradient (the paper uses 0.4 on NYUv2)

    def build(self, num_tasks):
        return aggregation.CAGrad(c=self.cfg.c)


@WEIGHTINGS.register("nash_mtl")
class NashMTL(Aggregation):
    """Nash bargaining (Navon et al., ICML 2022): weights α solving (JJᵀ)α = 1/α (the
    bargaining solution), by the paper's sequence of convex problems (cvxpy + ECOS), warm-started
    from the previous step's α — state kept in the checkpoint. Needs every task in every step."""

    requires = ("cvxpy", "ecos")
    install_extra = "cvxpy"
    needs_every_task = True

    @dataclass
    class Config:
        max_norm: float = 1.0  # clip ‖Jᵀα‖ (0: no clipping)
        update_weights_every: int = 1  # steps between solves (the paper's speed-up: 1, 25, 50)
        optim_niter: int = 20

    def build(self, num_tasks):
        c = self.cfg
        return aggregation.NashMTL(num_tasks, c.max_norm, c.update_weights_every, c.optim_niter)

    def get_extra_state(self) -> dict:
        w = self.aggregator.weighting
        return {"step": float(w.step), "alpha": torch.as_tensor(w.prvs_alpha)}

    def set_extra_state(self, state: dict) -> None:
        w = self.aggregator.weighting
        w.prvs_alpha, w.step = state["alpha"].numpy(), state["step"]
        if w.step > 0:  # torchjd builds its warm-started problem on the first call only
            w._init_optim_problem()


@WEIGHTINGS.register("imtl_g")
class IMTLG(Aggregation):
    """Impartial MTL, gradient part (Liu et al., ICLR 2021): weights that give the aggregated
    gradient equal projections onto every task's unit gradient (TorchJD's generalisation to
    linearly dependent gradients)."""

    def build(self, num_tasks):
        return aggregation.IMTLG()


@WEIGHTINGS.register("aligned_mtl")
class AlignedMTL(Aggregation):
    """Aligned-MTL (Senushkin et al., CVPR 2023): align the task gradients' principal components
    so the linear system is well conditioned (condition number 1), then sum."""

    @dataclass
    class Config:
        scale_mode: Literal["min", "median", "rmse"] = "min"  # the paper's choice: min

    def build(self, num_tasks):
        return aggregation.AlignedMTL(scale_mode=self.cfg.scale_mode)


@WEIGHTINGS.register("upgrad")
class UPGrad(Aggregation):
    """Unconflicting projection of gradients (Quinton & Rey, "Jacobian Descent for
    Multi-Objective Optimization", 2024): each task gradient projected onto the dual cone of all
    of them (a small QP per task), then averaged — never conflicting with any task."""

    requires = ("quadprog", "qpsolvers")
    install_extra = "quadprog"

    def build(self, num_tasks):
        return aggregation.UPGrad()
