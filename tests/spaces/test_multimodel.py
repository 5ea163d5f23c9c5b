"""MultiModel's body: causal where it decodes, blind to padding, its MoE blocks' balance losses
over real positions only, and one-position decoding (cached or recomputed) equal to teacher
forcing. The registry-wide tests (test_spaces.py) cover the contract, gradients and overfitting."""

import pytest
import torch

from sharedspace.data.specs import TokensTarget
from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.decoding import Decoding, beam_search, greedy
from sharedspace.layers.attention import AttentionBlock
from sharedspace.outputs.language import Language
from sharedspace.parts import collect
from sharedspace.representation import PaddedSequence
from sharedspace.spaces.global_batch import replay, stream_positions
from sharedspace.spaces.moe import MoELayer, cv_squared
from sharedspace.spaces.multimodel import MultiModelBody, MultiModelConfig

D, E = 12, 16  # the cap's width, the body's


def body(**settings) -> MultiModelBody:
    torch.manual_seed(0)
    small = {**MultiModelBody.toy, "width": E, "experts": 4, "heads": 2, **settings}
    model = MultiModelBody(MultiModelConfig(**small), D, num_tasks=2)
    for layer in model.modules():  # gates start at zero (uniform routing): make them choose
        if isinstance(layer, MoELayer):
            torch.nn.init.normal_(layer.gate.w_gate[0], std=1.0)
            torch.nn.init.normal_(layer.gate.w_noise[0], std=0.1)
    return model


def sequences(lengths: list[int], width: int, total: int | None = None) -> PaddedSequence:
    """Random values (B, T, width), T = ``total`` or the longest; garbage behind the mask."""
    total = total or max(lengths)
    mask = torch.arange(total) < torch.tensor(lengths)[:, None]
    return PaddedSequence(torch.randn(len(lengths), total, width) * 5, mask)


def padded_more(seq: PaddedSequence, extra: int) -> PaddedSequence:
    """The same sequences with ``extra`` more padded positions holding garbage."""
    b, _, w = seq.values.shape
    values = torch.cat([seq.values, torch.randn(b, extra, w) * 100], 1)
    return PaddedSequence(values, torch.cat([seq.mask, torch.zeros(b, extra, dtype=bool)], 1))


def test_encoding_and_decoding_shapes():
    model = body()
    h, y = sequences([5, 3, 1], D), sequences([4, 2, 3], E)
    encoded = model(h, 0)
    assert encoded.values.shape == (3, 5, E) and encoded.mask is h.mask
    assert model(h.values[:, 0], 0).shape == (3, E)  # a vector stays a vector
    states = model(h, 0, y)
    assert states.values.shape == (3, 4, E) and states.mask is y.mask
    assert model(h.values[:, 0], 0, y).values.shape == (3, 4, E)  # a one-position memory
    assert not states.values[~y.mask].any()  # padding is zero


@pytest.mark.parametrize("settings", [{}, {"attention": False}, {"moe": False}])
def test_a_later_target_never_reaches_an_earlier_output(settings):
    """Through the causal conv blocks, the attention blocks and the MoE blocks (in training, with
    the gate noise): the gradient of the outputs before position j to targets from j is zero."""
    model = body(**settings).train()
    h, y = sequences([5, 2], D), sequences([6, 6], E)
    targets = y.values.requires_grad_()
    states = model(h, 0, PaddedSequence(targets, y.mask))
    weights = torch.randn(states.values.shape)  # a plain sum after a LayerNorm has no gradient
    for j in range(1, 6):
        earlier = (states.values[:, :j] * weights[:, :j]).sum()
        (grad,) = torch.autograd.grad(earlier, targets, retain_graph=True)
        assert grad[:, :j].abs().sum() > 0  # earlier targets do reach them
        assert torch.equal(grad[:, j:], torch.zeros_like(grad[:, j:])), f"position {j} leaks"


@pytest.mark.parametrize("settings", [{}, {"attention": False}])
def test_padding_changes_no_real_position(settings):
    """Extra padded positions of garbage, on the input and on the targets: the same outputs at
    every real position, in training (the same gate noise per real position) and evaluation."""
    model = body(**settings)
    h, y = sequences([5, 2, 3], D), sequences([4, 1, 3], E)
    for mode in (True, False):
        model.train(mode)
        start = stream_positions(model)
        plain = model(h, 0, y)
        with replay(start):
            padded = model(padded_more(h, 4), 0, padded_more(y, 3))
        torch.testing.assert_close(padded.values[:, :4][y.mask], plain.values[y.mask])
        start = stream_positions(model)
        encoded = model(h, 0)
        with replay(start):
            padded_encoded = model(padded_more(h, 2), 0)
        torch.testing.assert_close(padded_encoded.values[:, :5][h.mask], encoded.values[h.mask])


def test_each_moe_block_emits_its_balance_losses_over_real_positions_only():
    """In evaluation (no noise): w·CV²(importance) and w·CV²(load) computed by hand from the
    real positions each MoE block reads, summed over the two blocks, are what the body emits."""
    model = body(balance=0.3).eval()
    inputs: list[PaddedSequence] = []
    for layer in model.modules():
        if isinstance(layer, MoELayer):
            layer.register_forward_hook(lambda m, args, out: inputs.append((m, args[0])))
    h, y = sequences([5, 2, 3], D), sequences([4, 1, 3], E)
    with torch.no_grad():
        model(h, 0, y)
    aux = collect(model.modules())
    assert len(inputs) == 2
    importance, load = torch.zeros(()), torch.zeros(())
    for layer, seq in inputs:
        rows = seq.values[seq.mask]  # real positions only
        logits = rows @ layer.gate.w_gate[0]  # (P, M): no noise in evaluation
        top, ids = logits.topk(layer.k, dim=1)
        gates = torch.zeros_like(logits).scatter(1, ids, top.softmax(1))
        importance = importance + 0.3 * cv_squared(gates.sum(0))
        load = load + 0.3 * cv_squared((gates > 0).sum(0).float())
    torch.testing.assert_close(aux["moe_importance"], importance)
    torch.testing.assert_close(aux["moe_load"], load)


@pytest.mark.parametrize("settings", [{}, {"attention": False}, {"moe": False}])
def test_decoding_one_position_at_a_time_equals_teacher_forcing(settings):
    """Cached and recomputed steps give teacher forcing's states, position by position, and a
    state whose rows are reordered half-way (as beam search does) goes on as those rows."""
    model = body(**settings).eval()
    h, y = sequences([5, 2, 3], D), sequences([6, 6, 6], E)
    rows = torch.tensor([2, 0, 0])
    with torch.no_grad():
        forced = model(h, 0, y).values  # (3, 6, E)
        for cached in (True, False):
            steps, state = model.decoder(model.encode(h, 0), cached=cached)
            order = torch.arange(3)
            for t in range(6):
                if t == 3:
                    state, order = steps.reorder(state, rows), rows
                out, state = steps.step(y.values[order, t], state)
                torch.testing.assert_close(out, forced[order, t], atol=1e-5, rtol=1e-4)


def test_the_ablations_drop_their_blocks():
    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.modules())

    assert (count(body(), MoELayer), count(body(), AttentionBlock)) == (2, 1 + 2)
    assert count(body(moe=False), MoELayer) == 0
    assert count(body(attention=False), AttentionBlock) == 0
    model = body(moe=False).train()
    model(sequences([3], D), 0, sequences([2], E))
    assert collect(model.modules()) == {}  # no MoE, no balance losses


def test_searches_through_the_body_beam_one_is_greedy_and_rows_stop_at_eos():
    """A language net over the body, as a seq2seq task decodes: beam search with one beam gives
    greedy's tokens, beam 3 gives the same tokens cached or recomputed, and every row is
    padding after its first <eos>."""
    model = body().eval()
    net = Language(Language.Config(), E, TokensTarget(vocab_size=7, max_len=6), ("a", "b"))
    h = sequences([5, 2, 3, 4], D)
    start = torch.full((4,), net.start_id)

    def decode(beam_size: int, cached: bool = True) -> torch.Tensor:
        with torch.no_grad():
            steps, state = model.decoder(model.encode(h, 1), cached=cached)
            tokens = net.token_steps(steps, 1)
            if beam_size == 0:  # greedy itself
                return greedy(tokens, state, start, 6, EOS_ID, PAD_ID)
            decoding = Decoding(beam_size=beam_size, max_len=6)
            return beam_search(tokens, state, start, decoding, EOS_ID, PAD_ID)

    assert torch.equal(decode(1), decode(0))
    assert torch.equal(decode(3), decode(3, cached=False))
    rows = decode(3).tolist()
    assert any(EOS_ID in row[:-1] for row in rows)  # a row ended before the longest
    for row in rows:
        if EOS_ID in row:
            assert set(row[row.index(EOS_ID) + 1 :]) <= {PAD_ID}
