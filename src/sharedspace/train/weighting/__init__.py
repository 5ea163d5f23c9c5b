"""Loss weighting and gradient aggregation: the part of a step that owns the backward.

Loss level (our code; weights from loss values, one backward): ``equal``, ``fixed``,
``uncertainty``, ``dwa``, ``rlw``, ``famo``. Gradient level (per-task gradients of the shared
parameters, averaged over processes, then combined): ``gradnorm`` (ours) and TorchJD's ``pcgrad``,
``mgda``, ``cagrad``, ``nash_mtl``, ``imtl_g``, ``aligned_mtl``, ``upgrad``. See ``base`` for the
contract; a new method is one module here that registers itself.
"""

from sharedspace.config import Component
from sharedspace.train.weighting import (  # noqa: F401  (each registers its methods)
    aggregators,
    dwa,
    famo,
    gradnorm,
    rlw,
    static,
    uncertainty,
)
from sharedspace.train.weighting.base import (
    WEIGHTINGS,
    GradientWeighting,
    LossWeighting,
    StepContext,
    Weighting,
)

__all__ = [
    "WEIGHTINGS",
    "GradientWeighting",
    "LossWeighting",
    "StepContext",
    "Weighting",
    "build_weighting",
]


def build_weighting(section: Component, task_names: list[str], seed: int = 0) -> Weighting:
    return WEIGHTINGS.get(section.name)(section.config, task_names, seed)
