"""MultiModel's body (Kaiser et al. 2017, "One Model To Learn Them All"): one encoder, I/O mixer and
decoder that every problem goes through, whatever its modality.

    encoder  x + timing → conv blocks → MoE block → conv blocks             (not causal)
    mixer    shifted targets → attention block (to the encoder) → conv blocks     (causal)
    decoder  (causal conv block → attention block to the encoder) × n, MoE block in the middle

Every representation is a variable-length padded sequence (the paper: a fixed-size one was a
bottleneck); a vector from a cap is encoded as a one-position sequence (and given back as a
vector when there is nothing to decode). The decoder starts from the task's
start token, which the output net puts first in the shifted targets (the paper's task tokens:
"to-de", "to-caption", …), so the body itself is task-blind. A task whose output net does not
decode (class labels) reads the encoder's output, as tensor2tensor's ``MultiModel`` returned
``inputs_encoded`` for class-label targets and skipped the decoder.

The MoE block is tensor2tensor's ``experts``: LayerNorm(x + MoE(x)) with one noisy top-k gate over
the real positions (``spaces.moe.MoELayer``: padding is neither gated nor counted in the balance
losses); each MoE block emits its own w·CV²(importance) and w·CV²(load), summed over blocks.

Prediction decodes one position at a time: cached, every causal block keeps the last inputs of its
convolutions and its self-attention keys and values (a step costs one position); recomputed, the
mixer and decoder rerun over the whole prefix (training's computation; the reference the cache is
tested and timed against). The encoder runs once either way.

Ablations (the paper's Table 4): ``moe: false`` drops both MoE blocks; ``attention: false`` drops
every attention block, and each target position then reads the encoder through its masked mean
added to the shifted targets — a fixed-size summary, since without attention nothing else reaches
the input.

Shape notation: B batch, S input positions, L target positions, D ``in_dim``, E ``width``, N rows
being decoded.

Differences from tensor2tensor's ``multimodel1p8`` (commit 3d9c62f2), on purpose: plain separable
convolutions, not sub-separable (``layers.sepconv``); the mixer is the paper's attention block and
two conv blocks, where tensor2tensor merged attention and raw targets with one conv; no similarity
loss; no dropout inside the blocks. Sizes here are CPU sizes; the paper's are in the
``multimodel_paper`` configs.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from sharedspace.config import Component, number
from sharedspace.errors import ConfigError
from sharedspace.layers.attention import AttentionBlock
from sharedspace.layers.sepconv import KERNEL_SIZES, ConvBlock, timing_signal, zero_padding
from sharedspace.representation import Form, PaddedSequence, Representation, masked_mean
from sharedspace.spaces.blocks import MLP
from sharedspace.spaces.moe import MoELayer
from sharedspace.spaces.registry import SPACES


@dataclass
class MultiModelConfig:
    width: int = number(128, ge=1)  # E: every block's channels (tensor2tensor's 1p8: 1536)
    heads: int = number(4, ge=1)  # attention heads; must divide width
    encoder_blocks: int = number(6, ge=0)  # conv blocks; the MoE block after the first half
    mixer_blocks: int = number(2, ge=0)  # causal conv blocks after the mixer's attention block
    decoder_blocks: int = number(4, ge=1)  # (conv block, attention block) pairs; MoE mid-way
    moe: bool = True  # the two MoE blocks (the paper's "without MoE" ablation: false)
    attention: bool = True  # the attention blocks (the "without attention" ablation: false)
    experts: int = number(16, ge=1)  # M per MoE block (paper: 240 joint / 60 single; 1p8: 120)
    k: int = number(2, ge=1)  # experts each position runs (paper's slides: 4; 1p8: 2)
    expert_width: int = number(256, ge=1)  # hidden width of each expert's feed-forward layer
    balance: float = number(0.01, ge=0)  # w of each MoE block's balance losses (1p8: 1e-2)
    noise_epsilon: float = number(1e-2, ge=0)  # the gate noise's floor (spaces.moe)
    kernel_sizes: list[int] = field(default_factory=lambda: list(KERNEL_SIZES))  # 4 per block
    max_len: int = number(64, ge=1)  # the longest output it decodes, EOS included

    def __post_init__(self) -> None:
        if self.heads >= 1 and self.width % self.heads:
            raise ConfigError(f"heads: {self.heads} does not divide width {self.width}")
        if self.experts >= 1 and not 1 <= self.k <= self.experts:
            raise ConfigError(f"k: need 1 ≤ k ≤ experts ({self.experts}), got {self.k}")
        if len(self.kernel_sizes) != 4 or min(self.kernel_sizes, default=0) < 1:
            raise ConfigError(
                "kernel_sizes: expected four sizes ≥ 1 (one per conv step), "
                f"got {self.kernel_sizes}"
            )


class MoEBlock(nn.Module):
    """LayerNorm(x + MoE(x)) on a PaddedSequence (B, T, E), or on rows (N, E) when decoding; each
    expert is a feed-forward layer E → hidden → E (ReLU inside, linear out)."""

    def __init__(self, cfg: MultiModelConfig) -> None:
        super().__init__()
        expert = MLP.Config(widths=[cfg.expert_width, cfg.width], linear_output=True)
        self.moe = MoELayer(
            Component("mlp", config=expert),
            cfg.width,
            cfg.experts,
            cfg.k,
            balance=cfg.balance,
            noise_epsilon=cfg.noise_epsilon,
        )
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)

    def forward(self, x: PaddedSequence) -> PaddedSequence:
        out = self.norm(x.values + self.moe(x).values)
        return PaddedSequence(zero_padding(out, x.mask), x.mask)

    def step(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.moe(x))


def _half(blocks: list[nn.Module], middle: nn.Module | None) -> nn.ModuleList:
    """``blocks`` with ``middle`` inserted after the first half (none: as they are)."""
    half = len(blocks) // 2
    return nn.ModuleList(blocks[:half] + ([middle] if middle is not None else []) + blocks[half:])


@SPACES.register("multimodel")
class MultiModelBody(nn.Module):
    """MultiModel's body: conv-block encoder with an MoE block, I/O mixer, decoder; every task.

    Input (B, D) or a PaddedSequence (B, S, D) → the encoding in the input's form, (B, E) or a
    PaddedSequence (B, S, E); with embedded, shifted targets (B, L, E): the decoder's states, a
    PaddedSequence (B, L, E) with the targets' mask, position t reading targets[:, :t + 1]."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector", "sequence": "sequence"}
    aux_losses = MoELayer.aux_losses
    sparse: ClassVar[bool] = True  # a step's experts are those its positions chose
    decodes = True
    Config = MultiModelConfig
    # a small body for the registry-wide tests (every block kind, each once or twice)
    toy: ClassVar[dict[str, Any]] = {
        "width": 32,
        "encoder_blocks": 2,
        "mixer_blocks": 1,
        "decoder_blocks": 2,
        "experts": 4,
        "expert_width": 32,
    }

    def __init__(self, cfg: MultiModelConfig, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        e, causal = cfg.width, True
        self.out_dim, self.max_len, self.attention = e, cfg.max_len, cfg.attention
        kernels = tuple(cfg.kernel_sizes)
        self.input_proj = nn.Linear(in_dim, e) if in_dim != e else nn.Identity()

        def moe() -> MoEBlock | None:
            return MoEBlock(cfg) if cfg.moe else None

        def attend() -> AttentionBlock | None:
            return AttentionBlock(e, cfg.heads, causal) if cfg.attention else None

        encoder = [ConvBlock(e, kernel_sizes=kernels) for _ in range(cfg.encoder_blocks)]
        self.encoder = _half(encoder, moe())
        self.mixer_attention = attend()
        self.mixer = nn.ModuleList(ConvBlock(e, causal, kernels) for _ in range(cfg.mixer_blocks))
        decoder = [
            DecoderBlock(ConvBlock(e, causal, kernels), attend()) for _ in range(cfg.decoder_blocks)
        ]
        self.decoder_blocks = _half(decoder, moe())
        self.norm = nn.LayerNorm(e, eps=1e-6)

    def encode(self, h: Representation, task: int) -> PaddedSequence:
        """(B, D) or (B, S, D) → (B, S, E), timing signal added at the input (task-blind: the
        task token starts the decoder)."""
        seq = h if isinstance(h, PaddedSequence) else PaddedSequence(h[:, None], _all_real(h))
        x = self.input_proj(seq.values)  # (B, S, E)
        x = x + timing_signal(x.shape[1], x.shape[2], device=x.device).to(x.dtype)
        out = PaddedSequence(zero_padding(x, seq.mask), seq.mask)
        for block in self.encoder:
            out = block(out)
        return out

    def forward(
        self, h: Representation, task: int, targets: PaddedSequence | None = None
    ) -> PaddedSequence:
        encoded = self.encode(h, task)
        if targets is not None:
            return self.decode(encoded, targets)
        return encoded if isinstance(h, PaddedSequence) else encoded.values[:, 0]

    def decode(self, encoded: PaddedSequence, targets: PaddedSequence) -> PaddedSequence:
        """The encoding (B, S, E) and embedded, shifted targets (B, L, E) → states (B, L, E)."""
        x = targets
        if not self.attention:
            x = x.map(lambda v: v + masked_mean(encoded)[:, None])
        if self.mixer_attention is not None:
            x = self.mixer_attention(x, encoded)
        for block in self.mixer:
            x = block(x)
        for block in self.decoder_blocks:
            x = block(x, encoded) if isinstance(block, DecoderBlock) else block(x)
        return PaddedSequence(zero_padding(self.norm(x.values), x.mask), x.mask)

    def decoder(self, encoded: PaddedSequence, cached: bool = True) -> tuple[Any, Any]:
        """The incremental decoder over the encoding (B, S, E), for prediction, and its start
        state: ``steps.step(x (N, E), state) -> (states (N, E), state)`` on embedded inputs,
        ``steps.reorder(state, rows)``."""
        if cached:
            steps = CachedSteps(self)
            return steps, steps.start(encoded)
        inputs = encoded.values.new_zeros(encoded.values.shape[0], 0, self.out_dim)  # (N, 0, E)
        return RecomputedSteps(self), Prefix(encoded, inputs)


class DecoderBlock(nn.Module):
    """A causal conv block, then (with attention) an attention block reading the encoder."""

    def __init__(self, conv: ConvBlock, attention: AttentionBlock | None) -> None:
        super().__init__()
        self.conv, self.attention = conv, attention

    def forward(self, x: PaddedSequence, encoded: PaddedSequence) -> PaddedSequence:
        x = self.conv(x)
        return x if self.attention is None else self.attention(x, encoded)


def _all_real(x: torch.Tensor) -> torch.Tensor:
    """The mask of a one-position sequence per row of x (B, D): (B, 1), all True."""
    return torch.ones(x.shape[0], 1, dtype=torch.bool, device=x.device)


def select_rows(state: Any, rows: torch.Tensor) -> Any:
    """``state`` (tensors with one row per decoded row, in lists, tuples and dataclasses; other
    values kept) with row i taken from row ``rows[i]``."""
    if isinstance(state, torch.Tensor):
        return state.index_select(0, rows)
    if isinstance(state, list | tuple):
        return type(state)(select_rows(s, rows) for s in state)
    if dataclasses.is_dataclass(state):
        fields = {
            f.name: select_rows(getattr(state, f.name), rows) for f in dataclasses.fields(state)
        }
        return type(state)(**fields)
    return state


@dataclass
class Prefix:
    """The uncached state: the encoding and every input fed so far."""

    encoded: PaddedSequence  # (N, S, E)
    inputs: torch.Tensor  # (N, t, E)


class RecomputedSteps:
    """Each step reruns the mixer and decoder over the whole prefix and keeps its last position."""

    def __init__(self, body: MultiModelBody) -> None:
        self.body = body

    def step(self, x: torch.Tensor, state: Prefix) -> tuple[torch.Tensor, Prefix]:
        prefix = torch.cat([state.inputs, x[:, None]], 1)  # (N, t + 1, E)
        mask = torch.ones(prefix.shape[:2], dtype=torch.bool, device=x.device)
        decoded = self.body.decode(state.encoded, PaddedSequence(prefix, mask))
        return decoded.values[:, -1], Prefix(state.encoded, prefix)

    def reorder(self, state: Prefix, rows: torch.Tensor) -> Prefix:
        return select_rows(state, rows)


@dataclass
class BodyState:
    """The cached state: per causal block, its own state (the mixer's and the decoder's)."""

    summary: torch.Tensor | None  # (N, E): the encoding's masked mean, without attention
    blocks: list[Any]  # per block in order: a conv block's pasts, an attention block's state


class CachedSteps:
    """One position per step through every causal block's own ``step``; equal to
    ``RecomputedSteps`` up to float rounding (tested)."""

    def __init__(self, body: MultiModelBody) -> None:
        self.body = body
        self.blocks = self._causal_blocks()

    def _causal_blocks(self) -> list[tuple[nn.Module, bool]]:
        """(block, reads the encoding) in the order a position goes through them."""
        body = self.body
        blocks: list[tuple[nn.Module, bool]] = []
        if body.mixer_attention is not None:
            blocks.append((body.mixer_attention, True))
        blocks += [(block, False) for block in body.mixer]
        for block in body.decoder_blocks:
            if isinstance(block, DecoderBlock):
                blocks.append((block.conv, False))
                if block.attention is not None:
                    blocks.append((block.attention, True))
            else:
                blocks.append((block, False))  # the MoE block: no state
        return blocks

    def start(self, encoded: PaddedSequence) -> BodyState:
        like = encoded.values[:, 0]  # (N, E)
        states = []
        for block, reads in self.blocks:
            if isinstance(block, AttentionBlock):
                states.append(block.start(like, encoded if reads else None))
            elif isinstance(block, ConvBlock):
                states.append(block.start(like))
            else:
                states.append(None)
        summary = None if self.body.attention else masked_mean(encoded)
        return BodyState(summary, states)

    def step(self, x: torch.Tensor, state: BodyState) -> tuple[torch.Tensor, BodyState]:
        if state.summary is not None:
            x = x + state.summary
        states = []
        for (block, _), block_state in zip(self.blocks, state.blocks, strict=True):
            if block_state is None:
                x = block.step(x)
            else:
                x, block_state = block.step(x, block_state)
            states.append(block_state)
        return self.body.norm(x), BodyState(state.summary, states)

    def reorder(self, state: BodyState, rows: torch.Tensor) -> BodyState:
        return select_rows(state, rows)
