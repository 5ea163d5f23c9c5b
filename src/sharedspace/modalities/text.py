"""Text cap of the SUS report: token embedding (24-d), a transformer encoder block (4 heads), dense.

The sequence is flattened before the dense layer, so the cap's vector keeps word order — the
next-word task reads it to predict the token after the window.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.modalities.base import MODALITIES


@dataclass(frozen=True)
class TextSpec:
    vocab_size: int
    seq_len: int
    kind: str = "text"


@MODALITIES.register("text_transformer")
class TextTransformer(nn.Module):
    """Token ids (B, T) → (B, out_dim)."""

    modality_kind = "text"

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x) + self.positions  # (B, T, E)
        return self.proj(self.block(h))  # (B, out_dim)
