"""MultiModel's convolutional sequence blocks (Kaiser et al., 2017, "One Model To Learn Them All").

Written from the paper and tensor2tensor's paper-era code (commit 3d9c62f2:
``slicenet.multi_conv_res``, ``common_layers.conv_block_internal``, ``conv_internal``'s "LEFT"
padding, ``get_timing_signal``).

Shape notation: B batch, T positions, D channels. Sequences are ``PaddedSequence`` (values
(B, T, D), mask (B, T) bool, True at real positions). Every convolution zeroes the positions behind
the mask first, so padding never reaches a real position, whatever values it holds and however much
of it there is. Causal convolutions pad on the left only, so position t sees positions ≤ t.

Differences from tensor2tensor, on purpose: its ``slicenet1`` hyperparameters use *sub-separable*
convolutions (``separability=-2``: channels split into groups, each convolved separately), a
SliceNet refinement; we use the paper's plain depthwise-separable convolution. tensor2tensor skips
masking when left-padding; we mask always (padding then cannot leak whichever side it is on).
"""

import math

import torch
from torch import nn

from sharedspace.errors import ConfigError
from sharedspace.representation import PaddedSequence

# tensor2tensor's slicenet1 (inherited by multimodel1p8): kernel_scheme "3.7.15.31" with
# dilation_scheme "1.1.1.1" — growing kernels give each block a 53-position receptive field
# (2+6+14+30+1) without dilation gaps; the first two steps see local context, the last two wide.
KERNEL_SIZES = (3, 7, 15, 31)
DILATIONS = (1, 1, 1, 1)


def zero_padding(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) values with the positions where ``mask`` (B, T) is False set to zero."""
    return values * mask.unsqueeze(-1).to(values.dtype)


class SeparableConv1d(nn.Module):
    """Depthwise convolution over positions (one filter per channel), then a pointwise D×D map.

    (B, T, D), (B, T) → (B, T, D). Output length equals input length: "SAME" padding splits
    (k-1)·dilation zeros around the sequence; ``causal`` puts them all on the left, so output t
    depends on inputs ≤ t only. No biases: a LayerNorm always follows (tensor2tensor's
    ``use_bias=norm is None``).
    """

    def __init__(self, dim: int, kernel_size: int, dilation: int = 1, causal: bool = False) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, dilation=dilation, groups=dim, bias=False)
        self.pointwise = nn.Linear(dim, dim, bias=False)
        total = (kernel_size - 1) * dilation
        self.padding = (total, 0) if causal else (total // 2, total - total // 2)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = zero_padding(values, mask).transpose(1, 2)  # (B, D, T)
        x = self.depthwise(nn.functional.pad(x, self.padding))  # (B, D, T)
        return self.pointwise(x.transpose(1, 2))  # (B, T, D)

    def start(self, x: torch.Tensor) -> torch.Tensor:
        """The empty past of a causal convolution for rows like x (N, D): (N, W, D) zeros,
        W = (k-1)·dilation, the zeros ``forward`` pads on the left."""
        if self.padding[1]:
            raise ValueError("only a causal convolution decodes one position at a time")
        return x.new_zeros(x.shape[0], self.padding[0], x.shape[1])

    def step(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The next position x (N, D) after the W inputs ``past`` (N, W, D) → its output (N, D)
        (``forward``'s last position on the whole prefix) and the new past."""
        seen = torch.cat([past, x[:, None]], 1)  # (N, W + 1, D): one output position
        conv = self.depthwise
        out = nn.functional.conv1d(
            seen.transpose(1, 2), conv.weight, dilation=conv.dilation, groups=conv.groups
        )  # (N, D, 1)
        return self.pointwise(out[..., 0]), seen[:, 1:]


class ConvStep(nn.Module):
    """The paper's ConvStep: LayerNorm(SepConv(ReLU(x))), (B, T, D), (B, T) → (B, T, D)."""

    def __init__(self, dim: int, kernel_size: int, dilation: int = 1, causal: bool = False) -> None:
        super().__init__()
        self.conv = SeparableConv1d(dim, kernel_size, dilation, causal)
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # tensor2tensor's layer_norm epsilon

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(torch.relu(values), mask))

    def start(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv.start(x)

    def step(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Causal steps: (N, D), past (N, W, D) → (N, D), the new past (see SeparableConv1d)."""
        out, past = self.conv.step(torch.relu(x), past)
        return self.norm(out), past


class ConvBlock(nn.Module):
    """Four conv steps, two residual connections: PaddedSequence (B, T, D) → same shape and mask.

    h = x + step2(step1(x)); out = h + step4(step3(h)) — tensor2tensor's ``multi_conv_res`` layer
    (``x += block2(x + y) + y`` with ``y = block1(x)``). Positions behind the mask are zero in the
    output (as ``multi_conv_res``'s ``x *= mask``), so what padding held never flows on.
    """

    def __init__(
        self,
        dim: int,
        causal: bool = False,
        kernel_sizes: tuple[int, ...] = KERNEL_SIZES,
        dilations: tuple[int, ...] = DILATIONS,
    ) -> None:
        super().__init__()
        if len(kernel_sizes) != 4 or len(dilations) != 4:
            raise ConfigError(
                f"conv block kernel_sizes {list(kernel_sizes)} / dilations {list(dilations)}: "
                "expected four of each (one per conv step)"
            )
        self.steps = nn.ModuleList(
            ConvStep(dim, k, d, causal) for k, d in zip(kernel_sizes, dilations, strict=True)
        )

    def forward(self, seq: PaddedSequence) -> PaddedSequence:
        x, mask = seq.values, seq.mask
        h = x + self.steps[1](self.steps[0](x, mask), mask)
        out = h + self.steps[3](self.steps[2](h, mask), mask)
        return PaddedSequence(zero_padding(out, mask), mask)

    def start(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The empty pasts of a causal block's four steps, for rows like x (N, D)."""
        return [step.start(x) for step in self.steps]

    def step(
        self, x: torch.Tensor, pasts: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A causal block on the next position x (N, D) → (N, D), the steps' new pasts; equal to
        ``forward``'s last position on the whole prefix."""
        y, p0 = self.steps[0].step(x, pasts[0])
        y, p1 = self.steps[1].step(y, pasts[1])
        h = x + y
        y, p2 = self.steps[2].step(h, pasts[2])
        y, p3 = self.steps[3].step(y, pasts[3])
        return h + y, [p0, p1, p2, p3]


def timing_signal(
    length: int,
    dim: int,
    min_timescale: float = 1.0,
    max_timescale: float = 1.0e4,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Vaswani et al.'s (2017) sinusoidal position signal in tensor2tensor's layout: (length, dim).

    With n = dim // 2 timescales s_i = min·(max/min)^(i/(n-1)): column i is sin(p/s_i) and column
    n+i is cos(p/s_i) at position p; an odd ``dim`` gets a last column of zeros. Added to a
    sequence's values, it lets convolutions and attention tell absolute and relative positions
    apart.
    """
    n = dim // 2
    increment = math.log(max_timescale / min_timescale) / max(n - 1, 1)
    inv_timescales = torch.exp(torch.arange(n, device=device) * -increment) / min_timescale  # (n,)
    scaled = torch.arange(length, device=device).unsqueeze(1) * inv_timescales  # (length, n)
    signal = torch.cat([scaled.sin(), scaled.cos()], dim=1)  # (length, 2n)
    return nn.functional.pad(signal, (0, dim - 2 * n))
