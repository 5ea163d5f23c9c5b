"""The space registry and its builder."""

from torch import nn

from sharedspace.config import Component
from sharedspace.registry import Registry

SPACES: Registry[type[nn.Module]] = Registry("space")


def build_space(section: Component, in_dim: int, num_tasks: int) -> nn.Module:
    return SPACES.get(section.name)(section.config, in_dim, num_tasks)
