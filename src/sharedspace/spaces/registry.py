"""The space registry and its builder."""

from typing import Any

from torch import nn

from sharedspace.config import component_config
from sharedspace.registry import Registry

SPACES: Registry[type[nn.Module]] = Registry("space")


def build_space(section: dict[str, Any], in_dim: int, num_tasks: int) -> nn.Module:
    cls, cfg = component_config(SPACES, section, "model.space")
    return cls(cfg, in_dim, num_tasks)
