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
        allowed = allowed | ~allowed.any(-1, keepdim=True)  # a row with no key sees all: no NaN
        keys, values = self.key_value(memory).chunk(2, dim=-1)  # (B, S, D) each
        heard = F.scaled_dot_product_attention(
            self.split(self.query(queries)),
            self.split(keys),
            self.split(values),
            attn_mask=allowed.unsqueeze(1),  # (B, 1, T, S), broadcast over heads
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
