"""MultiModel's attention block (Kaiser et al., 2017, "One Model To Learn Them All").

Written from the paper and tensor2tensor's paper-era code (commit 3d9c62f2: ``slicenet.attention``,
``common_attention.multihead_attention`` / ``dot_product_attention``,
``common_layers.simple_attention``).

Shape notation: B batch, T target positions, S source positions, D channels, H heads. Sequences are
``PaddedSequence`` (values (B, T, D), mask (B, T) bool, True at real positions).

The order, per target sequence x and source sequence s:

    h = ConvStep(k=5, dilation=4)(ConvStep(k=5, dilation=1)(x + timing_signal))
    a = h + SelfAttention(h)        # causal mask when ``causal``; padded keys masked
    a = a + SourceAttention(a, s)   # queries from a, keys/values from s; padded source keys masked
    out = LayerNorm(x + a)          # padded target positions then zeroed

Why this order: the chain (timed targets → two conv steps → self-attention → attention to the
source, the self-attention's result as the queries) is the paper's and tensor2tensor's
``slicenet.attention``; the closing ``LayerNorm(x + ·)`` — one residual from the raw targets
(without the timing signal) around the whole block — is its "simple" branch (the one
``multimodel1p8`` ran: ``norm_fn(targets_shifted + attention)``). The residuals around the two
attentions are ours: its "transformer" branch chains them bare, which makes the output at t
LayerNorm(x_t + a mixture of source positions), the target side only choosing the mixture;
tensor2tensor's calling conv stack did the computing, but this block also stands alone (the I/O
mixer), and bare it could not fit a tiny batch (the loss stalled at a third of its start;
test_block_overfits_a_tiny_batch). One LayerNorm, at the end, as tensor2tensor's block. The conv
steps are its ``[((1, 1), (5, 1)), ((4, 1), (5, 1))]`` (dilation, kernel).

Differences from tensor2tensor, on purpose: it left-pads (causal) the two conv steps always, because
it only ran the block on shifted targets; we make them causal only with ``causal``, so a non-causal
block exists for encoders. It uses sub-separable convolutions; we use ``sepconv``'s plain separable
ones. No attention dropout (``multimodel1p8``'s "simple" attention had none). Masks are boolean, not
a -1e9 bias; a query with no visible key (a padded position before any real one) is let see every
key instead of none, so softmax never divides by zero: its output is finite and zeroed afterwards.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from sharedspace.errors import ConfigError
from sharedspace.layers.sepconv import ConvStep, timing_signal, zero_padding
from sharedspace.representation import PaddedSequence

# tensor2tensor's ``slicenet.attention`` conv steps before attending: (kernel size, dilation).
TIMING_STEPS = ((5, 1), (5, 4))


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention, tensor2tensor's ``multihead_attention``.

    queries (B, T, D), memory (B, S, D), allowed (B, T, S) bool (True where query t may read key s)
    → (B, T, D). Linear maps with biases (tensor2tensor's 1×1 ``conv1d``) for queries, keys, values
    and the output; logits scaled by 1/sqrt(D/H).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"attention heads {heads}: expected a divisor of dim {dim}")
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) → (B, H, T, D/H)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(
        self, queries: torch.Tensor, memory: torch.Tensor, allowed: torch.Tensor
    ) -> torch.Tensor:
        return self.attend(queries, *self.keys_values(memory), allowed)

    def keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """memory (B, S, D) → its keys and values, heads split: (B, H, S, D/H) each (what a
        decoder caches)."""
        keys, values = self.key_value(memory).chunk(2, dim=-1)  # (B, S, D) each
        return self.split(keys), self.split(values)

    def attend(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        allowed: torch.Tensor | None,
    ) -> torch.Tensor:
        """queries (B, T, D) read keys and values (B, H, S, D/H) where ``allowed`` (B, T, S)
        (None: every key) → (B, T, D)."""
        if allowed is not None:
            allowed = allowed | ~allowed.any(-1, keepdim=True)  # no key at all: see all, no NaN
            allowed = allowed.unsqueeze(1)  # (B, 1, T, S), broadcast over heads
        heard = F.scaled_dot_product_attention(
            self.split(self.query(queries)), keys, values, attn_mask=allowed
        )  # (B, H, T, D/H)
        return self.out(heard.transpose(1, 2).flatten(2))


class AttentionBlock(nn.Module):
    """The paper's attention block: targets (B, T, D) attend to themselves, then to a source.

    forward(targets, source (B, S, D) or None) → PaddedSequence (B, T, D) with the targets' mask,
    padded positions zero. ``source=None`` skips the attention to a source (its parameters then get
    no gradient). With ``causal``, output t depends on target positions ≤ t only (and on every real
    source position).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        causal: bool,
        steps: tuple[tuple[int, int], ...] = TIMING_STEPS,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.steps = nn.ModuleList(ConvStep(dim, k, d, causal) for k, d in steps)
        self.self_attention = MultiHeadAttention(dim, heads)
        self.source_attention = MultiHeadAttention(dim, heads)
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # tensor2tensor's layer_norm epsilon

    def forward(self, targets: PaddedSequence, source: PaddedSequence | None) -> PaddedSequence:
        x, mask = targets.values, targets.mask
        length, dim = x.shape[1], x.shape[2]
        h = x + timing_signal(length, dim, device=x.device).to(x.dtype)  # (B, T, D)
        for step in self.steps:
            h = step(h, mask)
        allowed = mask.unsqueeze(1).expand(-1, length, -1)  # (B, T, T): real keys only
        if self.causal:
            allowed = allowed.tril()
        a = h + self.self_attention(h, h, allowed)  # (B, T, D)
        if source is not None:
            source_allowed = source.mask.unsqueeze(1).expand(-1, length, -1)  # (B, T, S)
            a = a + self.source_attention(a, source.values, source_allowed)
        return PaddedSequence(zero_padding(self.norm(x + a), mask), mask)

    def start(self, x: torch.Tensor, source: PaddedSequence | None) -> "AttentionState":
        """The state of a causal block before its first position, for rows like x (N, D)
        reading ``source`` (N, S, D): its keys and values are computed once, here."""
        if not self.causal:
            raise ValueError("only a causal attention block decodes one position at a time")
        heads, dim = self.self_attention.heads, x.shape[1]
        empty = x.new_zeros(x.shape[0], heads, 0, dim // heads)  # (N, H, 0, D/H)
        state = AttentionState(0, [step.start(x) for step in self.steps], empty, empty)
        if source is not None:
            state.source_keys, state.source_values = self.source_attention.keys_values(
                source.values
            )
            state.source_allowed = source.mask.unsqueeze(1)  # (N, 1, S)
        return state

    def step(
        self, x: torch.Tensor, state: "AttentionState"
    ) -> tuple[torch.Tensor, "AttentionState"]:
        """The next target position x (N, D) → its output (N, D), equal to ``forward``'s last
        position on the whole prefix, and the new state (the old one is not changed)."""
        t, dim = state.position, x.shape[1]
        h = x + timing_signal(t + 1, dim, device=x.device)[t].to(x.dtype)  # (N, D)
        pasts = []
        for conv, past in zip(self.steps, state.pasts, strict=True):
            h, past = conv.step(h, past)
            pasts.append(past)
        keys, values = self.self_attention.keys_values(h[:, None])  # (N, H, 1, D/H) each
        keys, values = torch.cat([state.keys, keys], 2), torch.cat([state.values, values], 2)
        a = h + self.self_attention.attend(h[:, None], keys, values, None)[:, 0]
        if state.source_keys is not None:
            heard = self.source_attention.attend(
                a[:, None], state.source_keys, state.source_values, state.source_allowed
            )
            a = a + heard[:, 0]
        out = self.norm(x + a)
        return out, AttentionState(
            t + 1,
            pasts,
            keys,
            values,
            state.source_keys,
            state.source_values,
            state.source_allowed,
        )


@dataclass
class AttentionState:
    """A causal attention block's decoding state; every tensor has one row per decoded row."""

    position: int  # target positions fed so far
    pasts: list[torch.Tensor]  # the conv steps' last inputs, (N, W, D) each
    keys: torch.Tensor  # self-attention keys of the positions so far (N, H, t, D/H)
    values: torch.Tensor
    source_keys: torch.Tensor | None = None  # (N, H, S, D/H), computed once
    source_values: torch.Tensor | None = None
    source_allowed: torch.Tensor | None = None  # (N, 1, S) bool, True at real source positions
