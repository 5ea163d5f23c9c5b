"""What flows between caps, spaces and heads: ``(B, D)`` vectors, padded ``(B, T, D)`` sequences,
or ``(B, D, H, W)`` feature maps.

A part states the form it produces (caps), maps (spaces) or accepts (heads) as one of ``FORMS``,
so a config that joins a sequence cap to a vector-only head is refused before any data loads.
Sequences carry their padding mask with them, so no part has to be told it separately. A feature
map keeps the image's layout for heads that read positions (a detection head's heatmap); it is
channel-first as PyTorch's convolutions take it (often channels-last in memory), so its width D is
dimension 1, not the last.
"""

from dataclasses import dataclass
from typing import Literal

import torch

Form = Literal["vector", "sequence", "map"]
FORMS: tuple[Form, ...] = ("vector", "sequence", "map")


@dataclass
class PaddedSequence:
    """A batch of sequences padded to one length.

    values: (B, T, D); mask: (B, T) bool, True at real positions (every row has at least one).
    """

    values: torch.Tensor
    mask: torch.Tensor

    def map(self, fn) -> "PaddedSequence":
        """Apply a position-wise function ``(…, D) → (…, D')`` to the values, keeping the mask."""
        return PaddedSequence(fn(self.values), self.mask)


Representation = torch.Tensor | PaddedSequence  # (B, D) vectors, a PaddedSequence, (B, D, H, W)


def form_of(rep: Representation) -> Form:
    if isinstance(rep, PaddedSequence):
        return "sequence"
    return "map" if rep.ndim == 4 else "vector"


def width_of(rep: Representation) -> int:
    """D, the width of a representation of any form."""
    if isinstance(rep, PaddedSequence):
        return rep.values.shape[-1]
    return rep.shape[1]


def masked_mean(seq: PaddedSequence) -> torch.Tensor:
    """The mean of each sequence's real positions: (B, T, D) → (B, D)."""
    weights = seq.mask.unsqueeze(-1).to(seq.values.dtype)  # (B, T, 1)
    return (seq.values * weights).sum(1) / weights.sum(1).clamp_min(1)


def pooled(rep: Representation) -> torch.Tensor:
    """One (B, D) vector per example from any form: a sequence's mean over its real positions,
    a feature map's mean over its positions (global average pooling), a vector as it is."""
    if isinstance(rep, PaddedSequence):
        return masked_mean(rep)
    return rep.mean((2, 3)) if rep.ndim == 4 else rep
