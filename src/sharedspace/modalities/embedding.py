"""MultiModel's language input net: a token embedding and nothing else (Kaiser et al. 2017).

The body computes (MultiModel's encoder adds the timing signal and runs the conv blocks), so the
modality net only maps subword ids to vectors: W_E·x, scaled by sqrt(out_dim) with the embedding
drawn at std out_dim^-0.5, as tensor2tensor's ``SymbolModality.bottom`` (commit 3d9c62f2), so the
inputs enter at unit scale. Positions are not encoded here: the body that reads the sequence does.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import TextSpec
from sharedspace.modalities.base import MODALITIES
from sharedspace.representation import PaddedSequence


@MODALITIES.register("text_embedding")
class TextEmbedding(nn.Module):
    """Token ids (B, T) and mask (B, T) → PaddedSequence (B, T, out_dim) with the same mask,
    padding zero."""

    modality_kind = "text"
    produces = "sequence"
    aux_losses = ()

    @dataclass
    class Config:
        pass

    @classmethod
    def reads(cls, cfg: Config, spec: TextSpec) -> tuple[int, str]:
        """The vocabulary alone: any input length reads through one embedding."""
        return spec.vocab_size, spec.vocabulary

    def __init__(self, cfg: Config, out_dim: int, spec: TextSpec) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.scale = out_dim**0.5
        self.tokens = nn.Embedding(spec.vocab_size, out_dim)
        nn.init.normal_(self.tokens.weight, std=out_dim**-0.5)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> PaddedSequence:
        if mask is None:
            mask = torch.ones_like(x, dtype=torch.bool)
        values = self.tokens(x) * self.scale * mask.unsqueeze(-1)  # (B, T, out_dim)
        return PaddedSequence(values, mask)
