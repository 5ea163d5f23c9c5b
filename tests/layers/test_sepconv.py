"""MultiModel's conv blocks: shapes, causality, padding invariance, the residual wiring, gradient
flow, fitting a tiny batch, and the timing signal against its formula."""

import math

import pytest
import torch

from sharedspace.errors import ConfigError
from sharedspace.layers.sepconv import ConvBlock, ConvStep, SeparableConv1d, timing_signal
from sharedspace.representation import PaddedSequence

DIM = 8
KINDS = ("sepconv", "step", "block")


def build(kind: str, causal: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "sepconv":
        return SeparableConv1d(DIM, kernel_size=5, dilation=2, causal=causal)
    if kind == "step":
        return ConvStep(DIM, kernel_size=3, dilation=1, causal=causal)
    return ConvBlock(DIM, causal=causal)


def apply(module: torch.nn.Module, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run any of the three on (B, T, D) values and a (B, T) mask; (B, T, D) out."""
    if isinstance(module, ConvBlock):
        return module(PaddedSequence(values, mask)).values
    return module(values, mask)


def batch(lengths=(7, 4), total=7) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    values = torch.randn(len(lengths), total, DIM)
    mask = torch.arange(total) < torch.tensor(lengths).unsqueeze(1)  # padding at the end
    return values, mask


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_shapes(kind, causal):
    values, mask = batch()
    assert apply(build(kind, causal), values, mask).shape == values.shape


def test_block_keeps_the_mask_and_zeroes_padding():
    values, mask = batch()
    out = ConvBlock(DIM)(PaddedSequence(values, mask))
    assert out.mask is mask
    assert torch.all(out.values[~mask] == 0)


@pytest.mark.parametrize("kind", KINDS)
def test_causal_outputs_ignore_later_positions(kind):
    """Perturbing position t leaves outputs < t bit-identical and changes outputs at ≥ t; the same
    perturbation does reach earlier positions without ``causal`` (so the check can see a leak)."""
    values, _ = batch(lengths=(7, 7))
    mask = torch.ones(values.shape[:2], dtype=torch.bool)
    t = 4
    changed = values.clone()
    changed[:, t] += 1.0
    for causal in (True, False):
        module = build(kind, causal)
        before, after = apply(module, values, mask), apply(module, changed, mask)
        earlier_same = torch.equal(before[:, :t], after[:, :t])
        assert earlier_same == causal
        assert not torch.allclose(before[:, t], after[:, t])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_values_behind_the_mask_change_nothing(kind, causal):
    """Padding at the end and at the start (which a causal conv sees): garbage there changes no
    real position's output."""
    module = build(kind, causal)
    for values, mask in (batch(), (batch()[0].flip(1), batch()[1].flip(1))):
        garbage = torch.where(mask.unsqueeze(-1), values, 100 * torch.randn_like(values))
        before, after = apply(module, values, mask), apply(module, garbage, mask)
        assert torch.equal(before[mask], after[mask])


@pytest.mark.parametrize("where", ["end", "start"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_extra_padding_changes_nothing(kind, causal, where):
    module = build(kind, causal)
    values, mask = batch()
    extra = 5
    pad_values = 100 * torch.randn(values.shape[0], extra, DIM)
    pad_mask = torch.zeros(values.shape[0], extra, dtype=torch.bool)
    if where == "end":
        longer, longer_mask = torch.cat([values, pad_values], 1), torch.cat([mask, pad_mask], 1)
        real = slice(0, values.shape[1])
    else:
        longer, longer_mask = torch.cat([pad_values, values], 1), torch.cat([pad_mask, mask], 1)
        real = slice(extra, None)
    short, long = apply(module, values, mask), apply(module, longer, longer_mask)[:, real]
    torch.testing.assert_close(long[mask], short[mask], rtol=0, atol=1e-6)


def silence(step: ConvStep) -> None:
    """Make a conv step output zero everywhere (LayerNorm's scale and shift set to 0)."""
    with torch.no_grad():
        step.norm.weight.zero_()
        step.norm.bias.zero_()


@pytest.mark.parametrize("silenced", [(0, 1, 2, 3), (2, 3), (0, 1)])
def test_block_residuals_skip_pairs_of_steps(silenced):
    """out = h + s4(s3(h)) with h = x + s2(s1(x)): silencing steps shows each connection alone."""
    block = build("block", causal=False)
    for i in silenced:
        silence(block.steps[i])
    values, mask = batch()
    s = [lambda v, step=step: step(v, mask) for step in block.steps]
    h = values + s[1](s[0](values))
    expected = (h + s[3](s[2](h))) * mask.unsqueeze(-1)
    out = block(PaddedSequence(values, mask)).values
    torch.testing.assert_close(out, expected)
    if silenced == (0, 1, 2, 3):
        assert torch.equal(out[mask], values[mask])


def test_every_parameter_gets_a_gradient():
    block = build("block", causal=True)
    values, mask = batch()
    block(PaddedSequence(values, mask)).values.square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_block_overfits_a_tiny_batch(one_thread):
    block = build("block", causal=True)
    values, mask = batch()
    target = torch.randn_like(values)

    def loss() -> torch.Tensor:
        out = block(PaddedSequence(values, mask)).values
        return (out - target)[mask].square().mean()

    optimizer = torch.optim.Adam(block.parameters(), lr=3e-2)
    first = loss().item()
    for _ in range(60):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < first / 10


def test_wrong_number_of_kernels_is_a_config_error():
    with pytest.raises(ConfigError, match="expected four"):
        ConvBlock(DIM, kernel_sizes=(3, 7, 15))


@pytest.mark.parametrize("dim", [8, 9])
def test_timing_signal_matches_the_formula(dim):
    signal = timing_signal(60, dim)
    assert signal.shape == (60, dim)
    n = dim // 2
    for p in (0, 1, 7, 59):
        for i in range(n):
            angle = p / 1.0e4 ** (i / (n - 1))
            assert signal[p, i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert signal[p, n + i].item() == pytest.approx(math.cos(angle), abs=1e-5)
    if dim % 2:
        assert torch.all(signal[:, -1] == 0)
