"""Text caps: token ids (B, T) and their padding mask → the shared width.

``text_transformer`` is the SUS report's cap: token embedding (24-d), one transformer encoder block
(4 heads), then the sequence is flattened into one dense layer, so the vector keeps word order —
the next-word task reads it to predict the token after the window. ``text_encoder`` keeps the
sequence: a stack of encoder blocks whose output stays (B, T, D) with its mask, for heads and
spaces that work on sequences (attention, decoders, pooling classifiers).
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import TextSpec
from sharedspace.modalities.base import MODALITIES
from sharedspace.representation import PaddedSequence


def _padding(mask: torch.Tensor | None) -> torch.Tensor | None:
    """The encoder's key padding mask: True at positions attention must skip."""
    return None if mask is None else ~mask


@MODALITIES.register("text_transformer")
class TextTransformer(nn.Module):
    """Token ids (B, T) → (B, out_dim); padded positions are not attended to."""

    modality_kind = "text"
    produces = "vector"
    aux_losses = ()

    @dataclass
    class Config:
        embed_dim: int = 24
        heads: int = 4
        ff_dim: int = 96  # the encoder block's feed-forward width
        dropout: float = 0.0
        negative_slope: float = 0.01

    def __init__(self, cfg: Config, out_dim: int, spec: TextSpec) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.tokens = nn.Embedding(spec.vocab_size, cfg.embed_dim)
        self.positions = nn.Parameter(torch.zeros(spec.seq_len, cfg.embed_dim))
        nn.init.normal_(self.positions, std=0.02)
        self.block = nn.TransformerEncoderLayer(
            cfg.embed_dim,
            cfg.heads,
            cfg.ff_dim,
            cfg.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.proj = nn.Sequential(
            nn.Flatten(),
            nn.Linear(spec.seq_len * cfg.embed_dim, out_dim),
            nn.LeakyReLU(cfg.negative_slope),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.tokens(x) + self.positions  # (B, T, E)
        return self.proj(self.block(h, src_key_padding_mask=_padding(mask)))  # (B, out_dim)


@MODALITIES.register("text_encoder")
class TextEncoder(nn.Module):
    """Token ids (B, T) and mask → PaddedSequence (B, T, out_dim) with the same mask."""

    modality_kind = "text"
    produces = "sequence"
    aux_losses = ()

    @dataclass
    class Config:
        embed_dim: int = 64
        heads: int = 4
        layers: int = 2
        ff_dim: int = 256
        dropout: float = 0.0

    def __init__(self, cfg: Config, out_dim: int, spec: TextSpec) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.tokens = nn.Embedding(spec.vocab_size, cfg.embed_dim)
        self.positions = nn.Parameter(torch.zeros(spec.seq_len, cfg.embed_dim))
        for weight in (self.tokens.weight, self.positions):  # one scale, so order is as loud as
            nn.init.normal_(weight, std=0.02)  # content (GPT-2 initialises both this way)
        layer = nn.TransformerEncoderLayer(
            cfg.embed_dim, cfg.heads, cfg.ff_dim, cfg.dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.embed_dim)
        self.proj = nn.Linear(cfg.embed_dim, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> PaddedSequence:
        if mask is None:
            mask = torch.ones_like(x, dtype=torch.bool)
        h = self.tokens(x) + self.positions[: x.shape[1]]  # (B, T, E)
        h = self.blocks(h, src_key_padding_mask=~mask)
        return PaddedSequence(self.proj(self.norm(h)), mask)  # (B, T, out_dim)
