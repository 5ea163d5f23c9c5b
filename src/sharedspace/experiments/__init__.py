"""One module per published experiment; each registers a ``reproduce`` entry."""

from sharedspace.experiments import (  # noqa: F401  (register their experiments)
    architectures,
    discovery,
    multimodel,
    parity,
    self_supervised,
    sus,
    weighting,
    zero_shot,
)
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions

__all__ = ["EXPERIMENTS", "RunOptions"]
