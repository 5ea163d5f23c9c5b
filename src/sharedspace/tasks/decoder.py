"""An autoregressive transformer decoder head: the shared space's output → a token sequence.

The decoder of Vaswani et al. 2017 (pre-norm, as most later transformers), so sequence-output
tasks, and later the MultiModel decoder, can read either form of representation. Training is
teacher-forced; ``predict`` decodes greedily.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.representation import PaddedSequence, Representation


@dataclass
class DecoderConfig:
    embed_dim: int = 64  # E: token, position and attention width
    heads: int = 4  # attention heads per layer; must divide embed_dim
    layers: int = 2  # decoder layers (self-attention, cross-attention, feed-forward)
    ff_dim: int = 256  # hidden width of each layer's feed-forward block
    dropout: float = 0.0  # dropout inside the layers
    max_len: int = 64  # the longest output it can produce, EOS included


class TransformerDecoderHead(nn.Module):
    """Decodes target tokens from a vector or a padded sequence, attending to it as memory.

    EOS doubles as the start symbol, so the specials stay the tokenizers' own. Target padding
    after EOS needs no key-padding mask: under the causal mask a real position only sees
    earlier positions, which are real, and every query sees at least the start symbol, so no
    attention row is ever fully masked (the source of NaNs).

    Shape notation:
        B  batch
        S  memory length (1 for a vector)
        L  target length
        V  vocabulary
        E  embed_dim

    Original code after Vaswani et al. 2017, "Attention is all you need".
    """

    def __init__(self, cfg: DecoderConfig, in_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.memory_proj = nn.Linear(in_dim, cfg.embed_dim)
        self.tokens = nn.Embedding(vocab_size, cfg.embed_dim)
        self.positions = nn.Embedding(cfg.max_len, cfg.embed_dim)
        layer = nn.TransformerDecoderLayer(
            cfg.embed_dim,
            cfg.heads,
            cfg.ff_dim,
            cfg.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerDecoder(layer, cfg.layers, norm=nn.LayerNorm(cfg.embed_dim))
        self.out = nn.Linear(cfg.embed_dim, vocab_size)

    def memory(self, z: Representation) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The projected memory (B, S, E) and its key padding mask (B, S), True = padding."""
        if isinstance(z, PaddedSequence):
            return self.memory_proj(z.values), ~z.mask
        return self.memory_proj(z).unsqueeze(1), None  # (B, 1, E): nothing to mask

    def decode(
        self, memory: torch.Tensor, padding: torch.Tensor | None, inputs: torch.Tensor
    ) -> torch.Tensor:
        """Logits (B, L, V) for decoder inputs (B, L) that start with the start symbol."""
        length = inputs.shape[1]
        if length > self.cfg.max_len:
            raise ValueError(f"target length {length} exceeds max_len {self.cfg.max_len}")
        pos = torch.arange(length, device=inputs.device)
        x = self.tokens(inputs) + self.positions(pos)  # (B, L, E)
        causal = torch.ones(length, length, dtype=torch.bool, device=inputs.device).triu(1)
        h = self.layers(
            x, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=padding
        )  # (B, L, E)
        return self.out(h)  # (B, L, V)

    def forward(self, z: Representation, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Teacher-forced logits (B, L, V): position t predicts ``y[:, t]`` from ``y[:, :t]``."""
        y = batch["y"]  # (B, L)
        start = torch.full_like(y[:, :1], EOS_ID)  # (B, 1)
        inputs = torch.cat([start, y[:, :-1]], dim=1)  # (B, L)
        return self.decode(*self.memory(z), inputs)

    def predict(self, z: Representation, max_len: int | None = None) -> torch.Tensor:
        """Greedy tokens (B, L'): each row up to and including its first EOS, then PAD.

        Stops once every row has produced EOS, or after ``max_len`` tokens (default
        ``cfg.max_len``). Runs under the caller's grad mode. Each step recomputes the decoder
        over the whole prefix: simple, and cheap at these lengths (no key/value cache).
        """
        max_len = self.cfg.max_len if max_len is None else max_len
        if max_len > self.cfg.max_len:  # fail now, not only when some row runs that long
            raise ValueError(f"max_len {max_len} exceeds the head's max_len {self.cfg.max_len}")
        memory, padding = self.memory(z)
        batch_size = memory.shape[0]
        inputs = torch.full((batch_size, 1), EOS_ID, dtype=torch.long, device=memory.device)
        done = torch.zeros(batch_size, dtype=torch.bool, device=memory.device)  # (B,)
        for _ in range(max_len):
            step = self.decode(memory, padding, inputs)[:, -1].argmax(-1)  # (B,)
            step = step.masked_fill(done, PAD_ID)
            inputs = torch.cat([inputs, step.unsqueeze(1)], dim=1)  # (B, t + 2)
            done = done | (step == EOS_ID)
            if bool(done.all()):
                break
        return inputs[:, 1:]  # (B, L'), without the start symbol
