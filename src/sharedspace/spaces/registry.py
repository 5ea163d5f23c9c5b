"""The registries of spaces and of the blocks that mixtures use as experts, and their builders."""

from torch import nn

from sharedspace.config import Component
from sharedspace.registry import Registry

SPACES: Registry[type[nn.Module]] = Registry("space")
BLOCKS: Registry[type[nn.Sequential]] = Registry("block")


def build_space(section: Component, in_dim: int, num_tasks: int) -> nn.Module:
    return SPACES.get(section.name)(section.config, in_dim, num_tasks)


def build_block(section: Component, in_dim: int) -> nn.Sequential:
    """One expert: (N, in_dim) → (N, block.out_dim), a sequence of stages (see ``blocks``)."""
    return BLOCKS.get(section.name)(section.config, in_dim)


def build_experts(section: Component, in_dim: int, count: int) -> nn.ModuleList:
    """``count`` experts of one block section, each with its own initial weights."""
    return nn.ModuleList(build_block(section, in_dim) for _ in range(count))
