"""The transformer decoder stack that a task's decoder head and the decoding space share.

The decoder of Vaswani et al. 2017 (pre-norm, as most later transformers) on *embedded* inputs:
whoever owns the vocabulary (a task's head, a shared output net) embeds the tokens and reads the
states, so the stack itself knows no tokens. Training is teacher-forced through
``nn.TransformerDecoder``; prediction feeds one position at a time, either with a key/value
cache that reads the same layer parameters (a new position costs one position, not the prefix)
or by recomputing the whole prefix (the reference the cache is tested and timed against).

Shape notation:
    B  batch
    N  rows being decoded (B, or B · beam size)
    S  memory length (1 for a vector)
    L  input length
    E  embed_dim
    H  attention heads

Original code after Vaswani et al. 2017, "Attention is all you need".
"""

from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.config import number
from sharedspace.errors import ConfigError
from sharedspace.representation import PaddedSequence, Representation


@dataclass
class DecoderConfig:
    embed_dim: int = number(64, ge=1)  # E: token, position and attention width
    heads: int = number(4, ge=1)  # attention heads per layer; must divide embed_dim
    layers: int = number(2, ge=1)  # decoder layers (self-attention, cross-attention, feed-forward)
    ff_dim: int = number(256, ge=1)  # hidden width of each layer's feed-forward block
    dropout: float = number(0.0, ge=0, le=1)  # dropout inside the layers
    max_len: int = number(64, ge=1)  # the longest output it can produce, EOS included

    def __post_init__(self) -> None:
        if self.heads >= 1 and self.embed_dim % self.heads:  # heads < 1: already reported
            raise ConfigError(f"heads: {self.heads} does not divide embed_dim {self.embed_dim}")


def project_memory(
    project: nn.Module, z: Representation
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The memory (B, S, E) a decoder attends to, projected from a vector (B, D) (S = 1) or a
    PaddedSequence (B, S, D), and its key padding mask (B, S), True = padding (None: none)."""
    if isinstance(z, PaddedSequence):
        return project(z.values), ~z.mask
    return project(z).unsqueeze(1), None  # (B, 1, E): nothing to mask


class EmbeddedSteps(Protocol):
    """The stack fed one embedded position per row at a time; its state is opaque to callers."""

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """x (N, E) the next input → its state after the final norm (N, E), the new state."""

    def reorder(self, state: Any, rows: torch.Tensor) -> Any:
        """The state whose row i is row ``rows[i]`` of ``state`` (rows: (N',) long)."""


class DecoderStack(nn.Module):
    """Learned positions + ``layers`` pre-norm decoder layers + a final LayerNorm.

    Input padding after EOS needs no key-padding mask: under the causal mask a real position
    only sees earlier positions, which are real, and every query sees at least the first
    position, so no attention row is ever fully masked (the source of NaNs).
    """

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
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

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor | None
    ) -> torch.Tensor:
        """Teacher-forced states (B, L, E) for embedded inputs x (B, L, E), memory (B, S, E) and
        its padding (B, S) (True = pad, or None): position t sees inputs 0..t only."""
        length = x.shape[1]
        if length > self.cfg.max_len:
            raise ValueError(f"target length {length} exceeds max_len {self.cfg.max_len}")
        x = x + self.positions(torch.arange(length, device=x.device))  # (B, L, E)
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
        return self.layers(
            x, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=padding
        )  # (B, L, E)

    def cached(
        self, memory: torch.Tensor, padding: torch.Tensor | None
    ) -> tuple["CachedSteps", "KeyValueCache"]:
        """Steps with a key/value cache, for inference: no dropout, the cache is written in
        place, so no gradient flows through it."""
        steps = CachedSteps(self)
        return steps, steps.start(memory, padding)

    def recomputed(
        self, memory: torch.Tensor, padding: torch.Tensor | None
    ) -> tuple["RecomputedSteps", "Prefix"]:
        """Steps that rerun the teacher-forced stack over the whole prefix each time."""
        inputs = memory.new_empty(memory.shape[0], 0, self.cfg.embed_dim)  # (N, 0, E)
        return RecomputedSteps(self), Prefix(memory, padding, inputs)


@dataclass
class Prefix:
    """The uncached state: the memory and every input fed so far, all of batch size N."""

    memory: torch.Tensor  # (N, S, E)
    padding: torch.Tensor | None  # (N, S) True = padding
    inputs: torch.Tensor  # (N, t, E) embedded inputs fed so far

    def select(self, rows: torch.Tensor) -> "Prefix":
        pick = None if self.padding is None else self.padding[rows]
        return Prefix(self.memory[rows], pick, self.inputs[rows])


class RecomputedSteps:
    """Each step runs the teacher-forced stack over the whole prefix and keeps the last
    position: exactly training's computation, at a cost that grows with the prefix."""

    def __init__(self, stack: DecoderStack) -> None:
        self.stack = stack

    def step(self, x: torch.Tensor, state: Prefix) -> tuple[torch.Tensor, Prefix]:
        inputs = torch.cat([state.inputs, x[:, None]], dim=1)  # (N, t + 1, E)
        h = self.stack(inputs, state.memory, state.padding)[:, -1]  # (N, E)
        return h, Prefix(state.memory, state.padding, inputs)

    def reorder(self, state: Prefix, rows: torch.Tensor) -> Prefix:
        return state.select(rows)


@dataclass
class KeyValueCache:
    """The cached state: per layer, the self-attention keys and values of the positions fed so
    far (in buffers of ``max_len`` positions, written in place by each step) and the
    cross-attention keys and values of the memory (computed once). Heads split: (N, H, ·, E / H)."""

    position: int  # positions fed so far
    self_keys: list[torch.Tensor]  # per layer (N, H, max_len, E / H)
    self_values: list[torch.Tensor]
    memory_keys: list[torch.Tensor]  # per layer (N, H, S, E / H)
    memory_values: list[torch.Tensor]
    memory_mask: torch.Tensor | None  # (N, 1, 1, S) True = attend; None: attend to all

    def select(self, rows: torch.Tensor) -> "KeyValueCache":
        def pick(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
            return [t.index_select(0, rows) for t in tensors]

        mask = None if self.memory_mask is None else self.memory_mask.index_select(0, rows)
        return KeyValueCache(
            self.position,
            pick(self.self_keys),
            pick(self.self_values),
            pick(self.memory_keys),
            pick(self.memory_values),
            mask,
        )


class CachedSteps:
    """One position per step, computed from the same parameters as ``nn.TransformerDecoder``
    (pre-norm layers: x + SelfAttn(norm1 x), + CrossAttn(norm2 x, memory), + FF(norm3 x)),
    so a trained stack decodes the same with or without the cache (dropout off)."""

    def __init__(self, stack: DecoderStack) -> None:
        self.stack = stack
        self.layers = list(stack.layers.layers)
        self.heads = stack.cfg.heads

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, E) → (N, H, T, E / H)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    @staticmethod
    def merge(x: torch.Tensor) -> torch.Tensor:
        """(N, H, T, E / H) → (N, T, E)."""
        return x.transpose(1, 2).flatten(2)

    def start(self, memory: torch.Tensor, padding: torch.Tensor | None) -> KeyValueCache:
        """The empty cache for memory (N, S, E) and its padding (N, S) (True = pad, or None)."""
        rows, width = memory.shape[0], self.stack.cfg.embed_dim
        keys, values = [], []
        for layer in self.layers:
            attn = layer.multihead_attn
            kv = F.linear(memory, attn.in_proj_weight[width:], attn.in_proj_bias[width:])
            k, v = kv.chunk(2, dim=-1)  # (N, S, E) each
            keys.append(self.split(k))
            values.append(self.split(v))
        buffer = (rows, self.heads, self.stack.cfg.max_len, width // self.heads)
        empty = [memory.new_zeros(buffer) for _ in self.layers]
        mask = None if padding is None else ~padding[:, None, None, :]
        return KeyValueCache(0, empty, [b.clone() for b in empty], keys, values, mask)

    def step(self, x: torch.Tensor, state: KeyValueCache) -> tuple[torch.Tensor, KeyValueCache]:
        t, width = state.position, self.stack.cfg.embed_dim
        x = (x + self.stack.positions.weight[t])[:, None]  # (N, 1, E)
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            q, k, v = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
            state.self_keys[i][:, :, t : t + 1] = self.split(k)
            state.self_values[i][:, :, t : t + 1] = self.split(v)
            seen = state.self_keys[i][:, :, : t + 1], state.self_values[i][:, :, : t + 1]
            x = x + attn.out_proj(self.merge(F.scaled_dot_product_attention(self.split(q), *seen)))

            cross = layer.multihead_attn
            q = F.linear(layer.norm2(x), cross.in_proj_weight[:width], cross.in_proj_bias[:width])
            heard = F.scaled_dot_product_attention(
                self.split(q), state.memory_keys[i], state.memory_values[i], state.memory_mask
            )
            x = x + cross.out_proj(self.merge(heard))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        state.position = t + 1
        return self.stack.layers.norm(x[:, 0]), state  # (N, E)

    def reorder(self, state: KeyValueCache, rows: torch.Tensor) -> KeyValueCache:
        return state.select(rows)
