"""Constant weights: every task once (``equal``), or scaled by the config (``fixed``)."""

from dataclasses import dataclass, field

from sharedspace.errors import ConfigError
from sharedspace.train.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("equal")
class EqualWeighting(LossWeighting):
    """Every task's loss counts once: Σ_t L_t."""

    def weights(self, losses, ctx):
        one = next(iter(losses.values())).new_ones(())
        return dict.fromkeys(losses, one)


@WEIGHTINGS.register("fixed")
class FixedWeighting(LossWeighting):
    """Task losses scaled by fixed weights from the config (missing tasks weigh 1)."""

    @dataclass
    class Config:
        weights: dict[str, float] = field(default_factory=dict)  # task name -> weight

    def __init__(self, cfg: Config, task_names: list[str], seed: int = 0) -> None:
        super().__init__(cfg, task_names)
        unknown = sorted(set(cfg.weights) - set(task_names))
        if unknown:
            raise ConfigError(
                f"train.weighting.weights: unknown tasks {unknown}; tasks: {task_names}"
            )

    def weights(self, losses, ctx):
        one = next(iter(losses.values())).new_ones(())
        return {name: one * self.cfg.weights.get(name, 1.0) for name in losses}
