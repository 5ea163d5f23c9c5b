"""MultiModel's attention block: shapes, causality, padding invariance on both sides, no NaN from
fully masked rows, the residual-then-norm wiring, gradient flow and fitting a tiny batch."""

import pytest
import torch

from sharedspace.errors import ConfigError
from sharedspace.layers.attention import AttentionBlock
from sharedspace.layers.sepconv import timing_signal
from sharedspace.representation import PaddedSequence

DIM, HEADS = 8, 2


def build(causal: bool) -> AttentionBlock:
    torch.manual_seed(0)
    return AttentionBlock(DIM, HEADS, causal=causal)


def padded(lengths: tuple[int, ...], total: int, seed: int) -> PaddedSequence:
    torch.manual_seed(seed)
    values = torch.randn(len(lengths), total, DIM)
    mask = torch.arange(total) < torch.tensor(lengths).unsqueeze(1)  # padding at the end
    return PaddedSequence(values, mask)


def targets(lengths=(7, 4), total=7) -> PaddedSequence:
    return padded(lengths, total, seed=1)


def source(lengths=(3, 6), total=6) -> PaddedSequence:
    return padded(lengths, total, seed=2)


def flipped(seq: PaddedSequence) -> PaddedSequence:
    """The same rows with the padding at the start."""
    return PaddedSequence(seq.values.flip(1), seq.mask.flip(1))


def with_garbage(seq: PaddedSequence) -> PaddedSequence:
    noise = 100 * torch.randn_like(seq.values)
    return PaddedSequence(torch.where(seq.mask.unsqueeze(-1), seq.values, noise), seq.mask)


def appended(seq: PaddedSequence, extra: int = 5) -> PaddedSequence:
    b = seq.values.shape[0]
    values = torch.cat([seq.values, 100 * torch.randn(b, extra, DIM)], 1)
    mask = torch.cat([seq.mask, torch.zeros(b, extra, dtype=torch.bool)], 1)
    return PaddedSequence(values, mask)


@pytest.mark.parametrize("with_source", [True, False])
@pytest.mark.parametrize("causal", [False, True])
def test_shapes_mask_and_zeroed_padding(causal, with_source):
    tgt = targets()
    out = build(causal)(tgt, source() if with_source else None)
    assert out.values.shape == tgt.values.shape
    assert out.mask is tgt.mask
    assert torch.all(out.values[~tgt.mask] == 0)


def test_causal_outputs_ignore_later_positions():
    """Perturbing target position t leaves outputs < t bit-identical and changes every output at
    ≥ t; without ``causal`` the same perturbation reaches earlier positions (so a leak shows)."""
    tgt, src = targets(lengths=(7, 7)), source()
    t = 4
    changed = tgt.values.clone()
    changed[:, t] += 1.0
    for causal in (True, False):
        block = build(causal)
        before = block(tgt, src).values
        after = block(PaddedSequence(changed, tgt.mask), src).values
        assert torch.equal(before[:, :t], after[:, :t]) == causal
        moved = (before[:, t:] - after[:, t:]).abs().amax(-1)  # (B, T - t)
        assert torch.all(moved > 1e-4)


@pytest.mark.parametrize("padding_at", ["end", "start"])
@pytest.mark.parametrize("causal", [False, True])
def test_values_behind_either_mask_change_nothing(causal, padding_at):
    """Garbage at padded target and source positions leaves every real output bit-identical."""
    tgt, src = targets(), source()
    if padding_at == "start":
        tgt, src = flipped(tgt), flipped(src)
    block = build(causal)
    clean = block(tgt, src).values
    for noisy_tgt, noisy_src in ((with_garbage(tgt), src), (tgt, with_garbage(src))):
        assert torch.equal(block(noisy_tgt, noisy_src).values[tgt.mask], clean[tgt.mask])


@pytest.mark.parametrize("causal", [False, True])
def test_appended_padding_changes_nothing(causal):
    """More padded positions after the targets or the source (shapes change) leave real outputs."""
    tgt, src = targets(), source()
    block = build(causal)
    clean = block(tgt, src).values[tgt.mask]
    longer_tgt = block(appended(tgt), src).values[:, : tgt.values.shape[1]][tgt.mask]
    longer_src = block(tgt, appended(src)).values[tgt.mask]
    torch.testing.assert_close(longer_tgt, clean, rtol=0, atol=1e-5)
    torch.testing.assert_close(longer_src, clean, rtol=0, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_no_nan_with_padded_rows(causal):
    """Start-padded targets give causal queries that see no real key; a source row with one real
    position. Neither output nor any gradient is NaN."""
    tgt = flipped(targets(lengths=(7, 1)))
    src = source(lengths=(1, 6))
    block = build(causal)
    values = tgt.values.clone().requires_grad_()
    out = block(PaddedSequence(values, tgt.mask), src).values
    out.square().sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(values.grad).all()
    for name, p in block.named_parameters():
        assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("with_source", [True, False])
def test_block_wiring_matches_the_documented_order(with_source):
    """out = LayerNorm(x + a) with a = h + SelfAttn(h) (+ SourceAttn(a, s)), h = the conv steps on
    x + timing: recomposed here from the block's own parts, on fully real rows."""
    block = build(causal=True)
    tgt = targets(lengths=(7, 7))
    src = source(lengths=(6, 6))
    x, mask = tgt.values, tgt.mask
    everything = torch.ones(2, 7, 7, dtype=torch.bool)
    h = block.steps[1](block.steps[0](x + timing_signal(7, DIM), mask), mask)
    a = h + block.self_attention(h, h, everything.tril())
    if with_source:
        a = a + block.source_attention(a, src.values, torch.ones(2, 7, 6, dtype=torch.bool))
    out = block(tgt, src if with_source else None).values
    torch.testing.assert_close(out, block.norm(x + a))


def test_timing_signal_reaches_the_attention():
    """Two identical target positions get different outputs: only the timing signal tells them apart
    in a non-causal block with one-position conv kernels."""
    torch.manual_seed(0)
    block = AttentionBlock(DIM, HEADS, causal=False, steps=((1, 1), (1, 1)))
    row = torch.randn(1, 1, DIM).expand(1, 5, DIM)
    out = block(PaddedSequence(row, torch.ones(1, 5, dtype=torch.bool)), None).values
    assert not torch.allclose(out[0, 0], out[0, 3])


def test_every_parameter_gets_a_gradient():
    block = build(causal=True)
    block(targets(), source()).values.square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_block_overfits_a_tiny_batch(one_thread):
    block = build(causal=True)
    tgt, src = targets(), source()
    goal = torch.randn_like(tgt.values)

    def loss() -> torch.Tensor:
        return (block(tgt, src).values - goal)[tgt.mask].square().mean()

    optimizer = torch.optim.Adam(block.parameters(), lr=3e-2)
    first = loss().item()
    for _ in range(80):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < first / 10


def test_heads_must_divide_dim():
    with pytest.raises(ConfigError, match="expected a divisor of dim 8"):
        AttentionBlock(DIM, heads=3, causal=False)
