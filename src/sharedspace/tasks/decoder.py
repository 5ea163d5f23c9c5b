"""An autoregressive transformer decoder head: the shared space's output → a token sequence.

The decoder of Vaswani et al. 2017 (pre-norm, as most later transformers), so sequence-output
tasks, and later the MultiModel decoder, can read either form of representation. Training is
teacher-forced through ``nn.TransformerDecoder``; ``predict`` searches (greedy or beam, see
``sharedspace.decoding``) with a key/value cache that reads the same layer parameters, so a new
token costs one position instead of the whole prefix.
"""

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.decoding import Decoding, IncrementalDecoder, search
from sharedspace.errors import ConfigError
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

    def predict(
        self, z: Representation, decoding: Decoding | None = None, cached: bool = True
    ) -> torch.Tensor:
        """Tokens (B, L'): each row up to and including its first EOS, then PAD.

        ``decoding`` None is greedy up to ``cfg.max_len`` tokens. ``cached`` False recomputes
        the whole prefix for every token (the reference the cache is tested and timed against).
        For inference: the cached path applies no dropout and writes its cache in place, so no
        gradient flows through it.
        """
        decoding = decoding or Decoding()
        max_len = self.cfg.max_len if decoding.max_len is None else decoding.max_len
        if max_len > self.cfg.max_len:  # fail now, not only when some row runs that long
            raise ConfigError(
                f"max_len: {max_len} exceeds the decoder head's max_len {self.cfg.max_len}"
            )
        steps = CachedSteps(self) if cached else RecomputedSteps(self)
        state = steps.start(z)
        start = torch.full((state.rows,), EOS_ID, dtype=torch.long, device=state.device)
        return search(
            steps, state, start, dataclasses.replace(decoding, max_len=max_len), EOS_ID, PAD_ID
        )


@dataclass
class Prefix:
    """The uncached state: the memory and every token fed so far, all of batch size N."""

    memory: torch.Tensor  # (N, S, E)
    padding: torch.Tensor | None  # (N, S) True = padding
    inputs: torch.Tensor  # (N, t) tokens fed so far

    @property
    def rows(self) -> int:
        return self.memory.shape[0]

    @property
    def device(self) -> torch.device:
        return self.memory.device

    def select(self, rows: torch.Tensor) -> "Prefix":
        pick = None if self.padding is None else self.padding[rows]
        return Prefix(self.memory[rows], pick, self.inputs[rows])


class RecomputedSteps(IncrementalDecoder):
    """Each step runs the teacher-forced decoder over the whole prefix and keeps the last
    position: exactly training's computation, at a cost that grows with the prefix."""

    def __init__(self, head: TransformerDecoderHead) -> None:
        self.head = head

    def start(self, z: Representation) -> Prefix:
        memory, padding = self.head.memory(z)
        inputs = torch.empty(memory.shape[0], 0, dtype=torch.long, device=memory.device)
        return Prefix(memory, padding, inputs)

    def step(self, tokens: torch.Tensor, state: Prefix) -> tuple[torch.Tensor, Prefix]:
        inputs = torch.cat([state.inputs, tokens[:, None]], dim=1)  # (N, t + 1)
        logits = self.head.decode(state.memory, state.padding, inputs)[:, -1]  # (N, V)
        return logits.log_softmax(-1), Prefix(state.memory, state.padding, inputs)

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

    @property
    def rows(self) -> int:
        return self.memory_keys[0].shape[0]

    @property
    def device(self) -> torch.device:
        return self.memory_keys[0].device

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


class CachedSteps(IncrementalDecoder):
    """One position per step, computed from the same parameters as ``nn.TransformerDecoder``
    (pre-norm layers: x + SelfAttn(norm1 x), + CrossAttn(norm2 x, memory), + FF(norm3 x)),
    so a trained head decodes the same with or without the cache (dropout off)."""

    def __init__(self, head: TransformerDecoderHead) -> None:
        self.head = head
        self.layers = list(head.layers.layers)
        self.heads = head.cfg.heads

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, E) → (N, H, T, E / H)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def start(self, z: Representation) -> KeyValueCache:
        memory, padding = self.head.memory(z)  # (N, S, E)
        rows, width = memory.shape[0], self.head.cfg.embed_dim
        keys, values = [], []
        for layer in self.layers:
            attn = layer.multihead_attn
            kv = F.linear(memory, attn.in_proj_weight[width:], attn.in_proj_bias[width:])
            k, v = kv.chunk(2, dim=-1)  # (N, S, E) each
            keys.append(self.split(k))
            values.append(self.split(v))
        buffer = (rows, self.heads, self.head.cfg.max_len, width // self.heads)
        empty = [memory.new_zeros(buffer) for _ in self.layers]
        mask = None if padding is None else ~padding[:, None, None, :]
        return KeyValueCache(0, empty, [b.clone() for b in empty], keys, values, mask)

    def step(
        self, tokens: torch.Tensor, state: KeyValueCache
    ) -> tuple[torch.Tensor, KeyValueCache]:
        t, width = state.position, self.head.cfg.embed_dim
        x = self.head.tokens(tokens) + self.head.positions.weight[t]  # (N, E)
        x = x[:, None]  # (N, 1, E)
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
        logits = self.head.out(self.head.layers.norm(x[:, 0]))  # (N, V)
        state.position = t + 1
        return logits.log_softmax(-1), state

    @staticmethod
    def merge(x: torch.Tensor) -> torch.Tensor:
        """(N, H, T, E / H) → (N, T, E)."""
        return x.transpose(1, 2).flatten(2)

    def reorder(self, state: KeyValueCache, rows: torch.Tensor) -> KeyValueCache:
        return state.select(rows)
