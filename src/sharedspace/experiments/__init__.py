"""One module per published experiment; each registers a ``reproduce`` entry."""

from sharedspace.experiments import sus  # noqa: F401  (registers "sus")
from sharedspace.experiments.registry import EXPERIMENTS

__all__ = ["EXPERIMENTS"]
