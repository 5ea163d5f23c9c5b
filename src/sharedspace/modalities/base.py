"""The modality-cap registry and its builder.

Contract (checked for every entry by one registry-wide test): a cap class has a ``Config``
dataclass, a ``modality_kind`` (the kind of data it reads: "image", "text", …), is built as
``cls(cfg, out_dim, spec)`` where ``spec`` describes the input (shape, vocabulary), exposes
``out_dim``, and maps a batch to ``(B, out_dim)``.
"""

from typing import Any

from torch import nn

from sharedspace.config import component_config
from sharedspace.errors import ConfigError
from sharedspace.registry import Registry

MODALITIES: Registry[type[nn.Module]] = Registry("modality cap")


def build_modality_cap(section: dict[str, Any], out_dim: int, spec: Any, key: str) -> nn.Module:
    cls, cfg = component_config(MODALITIES, section, key)
    if cls.modality_kind != spec.kind:
        raise ConfigError(
            f"{key}.name: cap {section['name']!r} reads {cls.modality_kind} input, "
            f"but the tasks using it give {spec.kind} data"
        )
    return cls(cfg, out_dim, spec)
