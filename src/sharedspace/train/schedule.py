"""Learning-rate schedules as pure functions of the step (after nanoGPT's ``get_lr``), so a
checkpoint needs no scheduler state: the step it holds gives every optimizer's rate exactly.

Every schedule starts with a linear warm-up to ``lr`` over ``warmup_steps``; a ``SCHEDULES``
entry gives the rate after it, as ``(step, settings, total_steps) -> lr``.
"""

import math
from collections.abc import Callable

from sharedspace.config import OptimizerSettings
from sharedspace.registry import Registry

Schedule = Callable[[int, OptimizerSettings, int], float]
SCHEDULES: Registry[Schedule] = Registry("learning-rate schedule")


def _progress(step: int, cfg: OptimizerSettings, total_steps: int) -> float:
    """0 at the end of warm-up → 1 at the last step."""
    span = max(1, total_steps - 1 - cfg.warmup_steps)
    return min(1.0, (step - cfg.warmup_steps) / span)


@SCHEDULES.register("constant")
def constant(step: int, cfg: OptimizerSettings, total_steps: int) -> float:
    """``lr`` throughout."""
    return cfg.lr


@SCHEDULES.register("cosine")
def cosine(step: int, cfg: OptimizerSettings, total_steps: int) -> float:
    """Half a cosine from ``lr`` to ``lr × min_lr_ratio`` at the last step (Loshchilov & Hutter)."""
    floor = cfg.lr * cfg.min_lr_ratio
    progress = _progress(step, cfg, total_steps)
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@SCHEDULES.register("linear")
def linear(step: int, cfg: OptimizerSettings, total_steps: int) -> float:
    """A straight line from ``lr`` to ``lr × min_lr_ratio`` at the last step."""
    floor = cfg.lr * cfg.min_lr_ratio
    return cfg.lr - (cfg.lr - floor) * _progress(step, cfg, total_steps)


@SCHEDULES.register("step")
def step_decay(step: int, cfg: OptimizerSettings, total_steps: int) -> float:
    """``lr`` until ``decay_at`` of the steps, then ``lr × min_lr_ratio`` (a step decay: the TFG
    report's ÷10 at 3/4 of training is ``min_lr_ratio: 0.1``, ``decay_at: 0.75``)."""
    return cfg.lr * (cfg.min_lr_ratio if step >= cfg.decay_at * total_steps else 1.0)


@SCHEDULES.register("rsqrt")
def rsqrt(step: int, cfg: OptimizerSettings, total_steps: int) -> float:
    """``lr × sqrt(warmup / step)``: the inverse square-root decay of the Transformer ("noam",
    tensor2tensor's ``rsqrt_decay``), continuous with the warm-up's peak."""
    return cfg.lr * math.sqrt(max(1, cfg.warmup_steps) / (step + 1))


def lr_at(step: int, cfg: OptimizerSettings, total_steps: int) -> float:
    """The learning rate of step ``step`` (0-based) of ``total_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return SCHEDULES.get(cfg.schedule)(step, cfg, total_steps)
