"""Xception's 2-D separable convolutions and the entry flow's residual block (Chollet, 2017,
"Xception: Deep Learning with Depthwise Separable Convolutions"), as MultiModel's image modality
net uses them (Kaiser et al., 2017, "One Model To Learn Them All").

Written from tensor2tensor's paper-era code (commit 3d9c62f2: ``ImageModality.bottom``'s
``xnet_resblock``, ``common_layers.separable_conv_block`` and ``conv_block_internal``). As there,
a conv step is ReLU → convolution (no bias) → LayerNorm over the channels of each position, and a
block's shortcut is a strided 1×1 convolution. Shape notation: B batch, C channels, H×W grid;
tensors are (B, C, H, W), ideally in channels-last memory (oneDNN's fastest layout).
"""

import torch
from torch import nn


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of each grid position, (B, C, H, W) → same shape: what
    tensorflow's ``layer_norm`` over the last axis does to (B, H, W, C) tensors."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-6)  # tensor2tensor's layer_norm epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a channels-last tensor permuted to (B, H, W, C) is contiguous: no copy either way
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SeparableConv2d(nn.Sequential):
    """A depthwise k×k convolution (one filter per input channel), then a pointwise 1×1 map to
    ``c_out`` channels: (B, c_in, H, W) → (B, c_out, H, W) ("SAME" padding, odd k). No biases: a
    ChannelNorm always follows."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_in, kernel_size, padding=kernel_size // 2, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )


def full_conv(c_in: int, c_out: int, kernel_size: int, stride: int) -> nn.Conv2d:
    """A full k×k convolution, (B, c_in, H, W) → (B, c_out, ⌈H/stride⌉, ⌈W/stride⌉) for odd k
    ("SAME" padding); no bias, a ChannelNorm follows."""
    return nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False)


class ConvStep2d(nn.Sequential):
    """ChannelNorm(conv(ReLU(x))), tensor2tensor's conv-block step in 2-D; ``conv`` gives
    ``c_out`` channels. ``first_relu=False`` drops the ReLU (for the image itself, and for the
    shortcuts tensor2tensor leaves unrectified)."""

    def __init__(self, conv: nn.Module, c_out: int, first_relu: bool = True) -> None:
        super().__init__(*([nn.ReLU()] if first_relu else []), conv, ChannelNorm(c_out))


class EntryBlock(nn.Module):
    """The entry flow's residual block, halving the grid: (B, c_in, H, W) → (B, c_out, ⌈H/2⌉,
    ⌈W/2⌉).

    out = maxpool₃ₓ₃,stride 2(step(step(x))) + shortcut(x), the steps separable k×k convs, the
    shortcut a 1×1 stride-2 conv step (ReLU first only where ``relu_shortcut``: tensor2tensor
    does so in the first block, whose input is the stem's normalised, not yet rectified output).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, relu_shortcut: bool) -> None:
        super().__init__()
        self.steps = nn.Sequential(
            ConvStep2d(SeparableConv2d(c_in, c_out, kernel_size), c_out),
            ConvStep2d(SeparableConv2d(c_out, c_out, kernel_size), c_out),
        )
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)  # pads with -inf, as "SAME" pooling
        self.shortcut = ConvStep2d(full_conv(c_in, c_out, 1, 2), c_out, relu_shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.steps(x)) + self.shortcut(x)
