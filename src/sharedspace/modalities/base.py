"""The modality-cap registry and its builder.

Contract (checked for every entry by one registry-wide test): a cap class has a ``Config``
dataclass, a ``modality_kind`` (the kind of data it reads: "image", "text", …), the
representation form it ``produces`` ("vector": (B, out_dim); "sequence": a PaddedSequence of
(B, T, out_dim)), the ``aux_losses`` it or a module inside it may emit (with ``parts.emit``), is
built as ``cls(cfg, out_dim, spec)`` where ``spec`` describes the input (data/specs.py), exposes
``out_dim``, and is called as ``cap(x, mask)`` — inputs and their padding mask (None when the
input is not padded). Caps never see the task or its targets. A cap may define a classmethod
``reads(spec)``: what of the spec it is built from, which the tasks sharing it must give alike
(default: the whole spec; a token embedding reads the vocabulary alone, so tasks of one
vocabulary with inputs of other lengths share it).
"""

from typing import Any

import torch
from torch import nn

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.registry import Registry

MODALITIES: Registry[type[nn.Module]] = Registry("modality cap")


def cap_reads(section: Component, spec: Any) -> Any:
    """What of ``spec`` the cap ``section`` names is built from (its ``reads``, else all)."""
    reads = getattr(MODALITIES.get(section.name), "reads", None)
    return spec if reads is None else reads(spec)


def build_modality_cap(section: Component, out_dim: int, spec: Any, key: str) -> nn.Module:
    cls = MODALITIES.get(section.name)
    if cls.modality_kind != spec.kind:
        raise ConfigError(
            f"{key}.name: cap {section.name!r} reads {cls.modality_kind} input, "
            f"but the tasks using it give {spec.kind} data"
        )
    return cls(section.config, out_dim, spec)


class ImageCap(nn.Module):
    """The base of caps that read uint8 images (B, C, H, W): standardised here, in one
    vectorised step, with the dataset's per-channel statistics (buffers ``mean`` and ``std``,
    0–255 scale), so datasets stay uint8 in memory."""

    def __init__(self, spec: Any) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, -1, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(spec.std).view(1, -1, 1, 1) * 255)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) → float (B, C, H, W), zero mean and unit std per channel."""
        return (x.float() - self.mean) / self.std
