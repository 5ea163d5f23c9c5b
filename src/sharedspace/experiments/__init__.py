"""One module per published experiment; each registers a ``reproduce`` entry."""

from sharedspace.experiments import sus, weighting  # noqa: F401  (register "sus", "weighting")
from sharedspace.experiments.registry import EXPERIMENTS

__all__ = ["EXPERIMENTS"]
