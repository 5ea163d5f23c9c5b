"""Loss weighting: how the step's task losses combine into the one loss that is minimised.

A weighting is an ``nn.Module`` (learned methods such as uncertainty weighting bring
parameters, which the trainer hands to the optimizer) called with the named task losses of a
step; the trainer never changes when a method is added.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from sharedspace.config import component_config
from sharedspace.errors import ConfigError
from sharedspace.registry import Registry

WEIGHTINGS: Registry[type[nn.Module]] = Registry("loss weighting")


@WEIGHTINGS.register("equal")
class EqualWeighting(nn.Module):
    """Every task's loss counts once."""

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, task_names: list[str]) -> None:
        super().__init__()

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(losses.values())


@WEIGHTINGS.register("fixed")
class FixedWeighting(nn.Module):
    """Task losses scaled by fixed weights from the config (missing tasks weigh 1)."""

    @dataclass
    class Config:
        weights: dict[str, float] = field(default_factory=dict)  # task name -> weight

    def __init__(self, cfg: Config, task_names: list[str]) -> None:
        super().__init__()
        unknown = sorted(set(cfg.weights) - set(task_names))
        if unknown:
            raise ConfigError(
                f"train.weighting.weights: unknown tasks {unknown}; tasks: {task_names}"
            )
        self.weights = {name: cfg.weights.get(name, 1.0) for name in task_names}

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights[name] * loss for name, loss in losses.items())


def build_weighting(section: dict, task_names: list[str]) -> nn.Module:
    cls, cfg = component_config(WEIGHTINGS, section, "train.weighting")
    return cls(cfg, task_names)
