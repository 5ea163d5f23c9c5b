"""The modality-cap registry and its builder.

Contract (checked for every entry by one registry-wide test): a cap class has a ``Config``
dataclass, a ``modality_kind`` (the kind of data it reads: "image", "text", …), the
representation form it ``produces`` ("vector": (B, out_dim); "sequence": a PaddedSequence of
(B, T, out_dim)), the ``aux_losses`` it or a module inside it may emit (with ``parts.emit``), is
built as ``cls(cfg, out_dim, spec)`` where ``spec`` describes the input (data/specs.py), exposes
``out_dim``, and is called as ``cap(x, mask)`` — inputs and their padding mask (None when the
input is not padded). Caps never see the task or its targets.
"""

from typing import Any

from torch import nn

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.registry import Registry

MODALITIES: Registry[type[nn.Module]] = Registry("modality cap")


def build_modality_cap(section: Component, out_dim: int, spec: Any, key: str) -> nn.Module:
    cls = MODALITIES.get(section.name)
    if cls.modality_kind != spec.kind:
        raise ConfigError(
            f"{key}.name: cap {section.name!r} reads {cls.modality_kind} input, "
            f"but the tasks using it give {spec.kind} data"
        )
    return cls(section.config, out_dim, spec)
