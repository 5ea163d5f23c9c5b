"""Xception's 2-D parts: shapes ("SAME" halving, rounded up), the norm over channels, separable
parameter counts, the entry block's wiring, channels-last agreement and gradient flow."""

import pytest
import torch
import torch.nn.functional as F

from sharedspace.layers.xception import (
    ChannelNorm,
    ConvStep2d,
    EntryBlock,
    SeparableConv2d,
    full_conv,
)


@pytest.mark.parametrize(("size", "half"), [(8, 4), (7, 4), (1, 1)])
def test_the_entry_block_halves_the_grid_rounding_up(size, half):
    torch.manual_seed(0)
    block = EntryBlock(3, 6, kernel_size=3, relu_shortcut=True)
    assert block(torch.randn(2, 3, size, size + 1)).shape == (2, 6, half, (size + 2) // 2)


def test_separable_and_full_steps_keep_or_stride_the_grid():
    x = torch.randn(2, 4, 9, 9)
    assert SeparableConv2d(4, 10, 3)(x).shape == (2, 10, 9, 9)
    assert ConvStep2d(full_conv(4, 10, 3, 2), 10)(x).shape == (2, 10, 5, 5)


def test_a_separable_conv_has_a_filter_per_channel_and_a_pointwise_map():
    conv = SeparableConv2d(4, 10, 5)
    assert sum(p.numel() for p in conv.parameters()) == 4 * 5 * 5 + 4 * 10  # no biases
    full = sum(p.numel() for p in full_conv(4, 10, 5, 1).parameters())
    assert full == 4 * 10 * 5 * 5


def test_channel_norm_normalises_each_position_over_its_channels():
    torch.manual_seed(0)
    norm = ChannelNorm(6)
    x = 3 + 5 * torch.randn(2, 6, 4, 5)
    out = norm(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out.mean(1), torch.zeros(2, 4, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(1, unbiased=False), torch.ones(2, 4, 5), atol=1e-4, rtol=0)
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected)


def test_entry_block_is_max_pooled_steps_plus_a_strided_shortcut():
    """Against the formula written out with functional calls on the block's own weights."""
    torch.manual_seed(0)
    block = EntryBlock(3, 5, kernel_size=3, relu_shortcut=False)
    x = torch.randn(2, 3, 6, 6)

    def step(h, sep, c):
        h = F.conv2d(F.relu(h), sep[0].weight, padding=1, groups=h.shape[1])
        return F.layer_norm(F.conv2d(h, sep[1].weight).permute(0, 2, 3, 1), (c,), eps=1e-6)

    h = step(x, block.steps[0][1], 5).permute(0, 3, 1, 2)
    h = step(h, block.steps[1][1], 5).permute(0, 3, 1, 2)
    shortcut = F.conv2d(x, block.shortcut[0].weight, stride=2)  # no ReLU: relu_shortcut=False
    shortcut = F.layer_norm(shortcut.permute(0, 2, 3, 1), (5,), eps=1e-6).permute(0, 3, 1, 2)
    expected = F.max_pool2d(h, 3, stride=2, padding=1) + shortcut
    torch.testing.assert_close(block(x), expected)
    with_relu = EntryBlock(3, 5, kernel_size=3, relu_shortcut=True)
    assert isinstance(with_relu.shortcut[0], torch.nn.ReLU)


def test_channels_last_gives_the_same_result_and_every_parameter_a_gradient():
    torch.manual_seed(0)
    block = EntryBlock(4, 8, kernel_size=3, relu_shortcut=True)
    x = torch.randn(3, 4, 7, 7)
    plain = block(x)
    last = block.to(memory_format=torch.channels_last)(
        x.contiguous(memory_format=torch.channels_last)
    )
    torch.testing.assert_close(plain, last, atol=1e-5, rtol=1e-5)
    last.square().sum().backward()
    missing = [n for n, p in block.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reaches {missing}"
