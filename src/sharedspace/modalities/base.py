"""The modality-cap registry and its builder.

Contract (checked for every entry by one registry-wide test): a cap class has a ``Config``
dataclass, a ``modality_kind`` (the kind of data it reads: "image", "text", …), the representation
form it ``produces`` ("vector": (B, out_dim); "sequence": a PaddedSequence of (B, T, out_dim);
"map": a feature map (B, out_dim, H, W)), the ``aux_losses`` it or a module inside it may emit (with
``parts.emit``), is built as ``cls(cfg, out_dim, spec)`` where ``spec`` describes the input
(data/specs.py), exposes ``out_dim``, and is called as ``cap(x, mask)`` — inputs and their padding
mask (None when the input is not padded). A sequence cap keeps its input's mask, unless it defines
``sequence_mask(mask)``: the output mask an input mask gives (audio: frames downsampled from
samples). Caps never see the task or its targets. A cap may define a classmethod ``reads(cfg,
spec)``: what of the spec it is built from, which the tasks sharing it must give alike (default: the
whole spec; a token embedding reads the vocabulary alone, so tasks of one vocabulary with inputs of
other lengths share it; an image cap set to read grey as colour and to standardise each image reads
the channels alone, so Fashion-MNIST and colour pictures share it).
"""

from dataclasses import dataclass
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
    return spec if reads is None else reads(section.config, spec)


def build_modality_cap(section: Component, out_dim: int, spec: Any, key: str) -> nn.Module:
    cls = MODALITIES.get(section.name)
    if cls.modality_kind != spec.kind:
        raise ConfigError(
            f"{key}.name: cap {section.name!r} reads {cls.modality_kind} input, "
            f"but the tasks using it give {spec.kind} data"
        )
    return cls(section.config, out_dim, spec)


@dataclass
class ImageInput:
    """How an image cap takes its images in (every image cap's Config derives from it).

    ``grey_to_rgb``: one-channel images are repeated to three, so a cap reads grey and colour
    problems alike (tensor2tensor's MultiModel read every image as RGB). ``per_image``: each
    image is standardised by its own mean and std over all its pixels (tensorflow's
    ``per_image_standardization``, the paper's), so problems whose datasets differ in statistics
    can share the cap; else by the dataset's per-channel statistics.
    """

    grey_to_rgb: bool = False
    per_image: bool = False


class ImageCap(nn.Module):
    """The base of caps that read uint8 images (B, C, H, W): standardised here, in one
    vectorised step (``ImageInput``: the dataset's per-channel statistics, buffers ``mean`` and
    ``std`` of 0–255 scale, or each image's own), so datasets stay uint8 in memory."""

    def __init__(self, cfg: ImageInput, spec: Any) -> None:
        super().__init__()
        self.channels = self.in_channels(cfg, spec)
        self.per_image = cfg.per_image
        if not cfg.per_image:
            self.register_buffer("mean", torch.tensor(spec.mean).view(1, -1, 1, 1) * 255)
            self.register_buffer("std", torch.tensor(spec.std).view(1, -1, 1, 1) * 255)

    @staticmethod
    def in_channels(cfg: ImageInput, spec: Any) -> int:
        """The channels the cap's first layer sees: 3 for grey images read as RGB."""
        return 3 if cfg.grey_to_rgb and spec.channels == 1 else spec.channels

    @classmethod
    def reads(cls, cfg: ImageInput, spec: Any) -> tuple:
        """The channels, the statistics unless per image, and the image size (a cap whose
        layers fix the size, e.g. a dense layer over the pixels, is built from it)."""
        stats = None if cfg.per_image else (spec.mean, spec.std)
        return cls.in_channels(cfg, spec), stats, spec.height, spec.width

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) → float (B, channels, H, W): zero mean and unit std per channel of
        the dataset, or over each image (its std floored at 1/√pixels, as tensorflow's)."""
        x = x.float()
        if self.per_image:
            n = x[0].numel()
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            std = x.std(dim=(1, 2, 3), keepdim=True, correction=0).clamp_min(n**-0.5)
            x = (x - mean) / std
        else:
            x = (x - self.mean) / self.std
        return x.expand(-1, self.channels, -1, -1)
