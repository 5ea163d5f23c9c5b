"""What flows between caps, spaces and heads: ``(B, D)`` vectors or padded ``(B, T, D)`` sequences.

A part states the form it produces (caps), maps (spaces) or accepts (heads) as one of ``FORMS``,
so a config that joins a sequence cap to a vector-only head is refused before any data loads.
Sequences carry their padding mask with them, so no part has to be told it separately.
"""

from dataclasses import dataclass
from typing import Literal

import torch

Form = Literal["vector", "sequence"]
FORMS: tuple[Form, ...] = ("vector", "sequence")


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


Representation = torch.Tensor | PaddedSequence  # (B, D) vectors or a PaddedSequence


def form_of(rep: Representation) -> Form:
    return "sequence" if isinstance(rep, PaddedSequence) else "vector"


def masked_mean(seq: PaddedSequence) -> torch.Tensor:
    """The mean of each sequence's real positions: (B, T, D) → (B, D)."""
    weights = seq.mask.unsqueeze(-1).to(seq.values.dtype)  # (B, T, 1)
    return (seq.values * weights).sum(1) / weights.sum(1).clamp_min(1)
