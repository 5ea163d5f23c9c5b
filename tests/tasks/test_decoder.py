"""The transformer decoder head: shapes, gradients, masking, decoding with and without the
key/value cache, and learning."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.decoding import Decoding, beam_search
from sharedspace.errors import ConfigError
from sharedspace.representation import PaddedSequence
from sharedspace.tasks.decoder import DecoderConfig, TransformerDecoderHead

VOCAB = 23  # the three specials, then 20 words
IN_DIM = 12
TINY = DecoderConfig(embed_dim=16, heads=2, layers=2, ff_dim=32, max_len=8)


def targets(lengths: list[int], width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A seq2seq batch: random words, one EOS, then PAD to ``width``."""
    ends = torch.tensor(lengths)[:, None]  # (B, 1)
    real, eos = torch.arange(width) < ends, torch.arange(width) == ends  # (B, L)
    words = torch.randint(3, VOCAB, (len(lengths), width), generator=generator)
    y = words.masked_fill(~real, PAD_ID)
    return {"y": y.masked_fill(eos, EOS_ID), "y_mask": real | eos}


def sequence_memory(generator: torch.Generator) -> PaddedSequence:
    """Three memories of lengths 5, 2 and 4 (B=3, S=5)."""
    values = torch.randn(3, 5, IN_DIM, generator=generator)
    mask = torch.arange(5) < torch.tensor([5, 2, 4])[:, None]
    return PaddedSequence(values, mask)


@pytest.fixture
def head() -> TransformerDecoderHead:
    torch.manual_seed(0)
    return TransformerDecoderHead(TINY, IN_DIM, VOCAB).eval()


@pytest.mark.parametrize("form", ["vector", "sequence"])
def test_shapes_and_every_parameter_learns(head, form):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(3, IN_DIM, generator=g) if form == "vector" else sequence_memory(g)
    batch = targets([4, 1, 6], width=7, generator=g)
    logits = head(z, batch)
    assert logits.shape == (3, 7, VOCAB) and torch.isfinite(logits).all()
    loss = F.cross_entropy(logits[batch["y_mask"]], batch["y"][batch["y_mask"]])
    loss.backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_logits_do_not_see_later_targets(head):
    g = torch.Generator().manual_seed(2)
    z = sequence_memory(g)
    batch = targets([6, 6, 6], width=7, generator=g)
    t = 3
    changed = batch["y"].clone()
    changed[:, t:] = torch.randint(3, VOCAB, (3, 7 - t), generator=g)
    before, after = head(z, batch), head(z, {**batch, "y": changed})
    torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1])  # input t+1 is y[:, t]
    assert not torch.allclose(after[:, t + 1 :], before[:, t + 1 :])


def test_padded_memory_positions_are_ignored(head):
    g = torch.Generator().manual_seed(3)
    z = sequence_memory(g)
    batch = targets([4, 1, 6], width=7, generator=g)
    noise = 10 * torch.randn(z.values.shape, generator=g)
    moved = PaddedSequence(torch.where(z.mask[..., None], z.values, noise), z.mask)
    torch.testing.assert_close(head(moved, batch), head(z, batch))


def test_predict_agrees_with_teacher_forcing_on_its_own_output(head):
    g = torch.Generator().manual_seed(4)
    z = torch.randn(16, IN_DIM, generator=g)
    with torch.no_grad():
        head.out.bias[EOS_ID] = 1.0  # some rows stop early, some run to max_len
        tokens = head.predict(z, Decoding(max_len=6))
        assert tokens.dtype == torch.int64 and tokens.shape[0] == 16 and tokens.shape[1] <= 6
        eos = (tokens == EOS_ID).long()
        before_eos = eos.cumsum(1) - eos == 0  # (B, L'): up to and including the first EOS
        assert (tokens[~before_eos] == PAD_ID).all()
        ended = eos.any(1)
        assert ended.any() and not ended.all(), "the check wants both kinds of rows"
        logits = head(z, {"y": tokens, "y_mask": before_eos})
    assert torch.equal(logits.argmax(-1)[before_eos], tokens[before_eos])


def memory_of(form: str, g: torch.Generator, rows: int = 3):
    return torch.randn(rows, IN_DIM, generator=g) if form == "vector" else sequence_memory(g)


@pytest.mark.parametrize("form", ["vector", "sequence"])
def test_cached_steps_equal_full_recomputation(head, one_thread, form):
    """Fed the same tokens, the cache gives the teacher-forced decoder's log-probs (1e-5)."""
    g = torch.Generator().manual_seed(5)
    z = memory_of(form, g)
    fed = torch.randint(3, VOCAB, (3, TINY.max_len), generator=g)
    fed[:, 0] = EOS_ID  # the start symbol
    with torch.no_grad():
        expected = head.decode(*head.memory(z), fed).log_softmax(-1)  # (B, L, V)
        (cached, state), (recomputed, prefix) = head.steps(z), head.steps(z, cached=False)
        for t in range(TINY.max_len):
            got, state = cached.step(fed[:, t], state)
            again, prefix = recomputed.step(fed[:, t], prefix)
            torch.testing.assert_close(got, expected[:, t], rtol=0, atol=1e-5)
            torch.testing.assert_close(again, expected[:, t], rtol=0, atol=1e-5)


@pytest.mark.parametrize("form", ["vector", "sequence"])
@pytest.mark.parametrize("beam_size", [1, 4])
def test_cached_prediction_gives_the_same_tokens(head, one_thread, form, beam_size):
    g = torch.Generator().manual_seed(6)
    z = memory_of(form, g)
    settings = Decoding(beam_size=beam_size, length_penalty=0.6)
    with torch.no_grad():
        head.out.bias[EOS_ID] = 0.5
        cached, recomputed = head.predict(z, settings), head.predict(z, settings, cached=False)
    assert torch.equal(cached, recomputed)
    assert cached.shape[1] > 1


def test_beam_one_through_the_head_is_its_greedy_prediction(head, one_thread):
    g = torch.Generator().manual_seed(7)
    z = torch.randn(16, IN_DIM, generator=g)
    with torch.no_grad():
        head.out.bias[EOS_ID] = 1.0
        steps, state = head.steps(z)
        start = torch.full((16,), EOS_ID)
        settings = Decoding(beam_size=1, max_len=TINY.max_len)
        beam = beam_search(steps, state, start, settings, EOS_ID, PAD_ID)
        assert torch.equal(beam, head.predict(z))


@pytest.mark.parametrize("beam_size", [1, 4])
def test_a_row_decodes_the_same_alone_as_in_a_batch(head, one_thread, beam_size):
    z = sequence_memory(torch.Generator().manual_seed(8))
    settings = Decoding(beam_size=beam_size)
    with torch.no_grad():
        head.out.bias[EOS_ID] = 0.5
        together = head.predict(z, settings)
        for row in range(3):
            alone = head.predict(
                PaddedSequence(z.values[row : row + 1], z.mask[row : row + 1]), settings
            )
            assert torch.equal(together[row, : alone.shape[1]], alone[0])
            assert (together[row, alone.shape[1] :] == PAD_ID).all()


def test_max_len_beyond_the_heads_is_refused(head):
    with pytest.raises(ConfigError, match="max_len: 9 exceeds"):
        head.predict(torch.zeros(1, IN_DIM), Decoding(max_len=9))


def test_a_state_dict_saved_before_the_stack_was_shared_loads(head):
    """Heads saved before the decoder stack moved to ``spaces.transformer`` kept its positions
    and layers at ``positions.*`` and ``layers.*``: they load into ``stack.*``, also nested."""
    renamed = {k.removeprefix("stack."): v for k, v in head.state_dict().items()}
    assert any(k.startswith("positions.") for k in renamed)
    assert any(k.startswith("layers.layers.1.") for k in renamed)
    assert not any(k.startswith("stack.") for k in renamed)
    fresh = nn.ModuleList([TransformerDecoderHead(TINY, IN_DIM, VOCAB)])
    fresh.load_state_dict({f"0.{k}": v.clone() for k, v in renamed.items()})  # strict
    for (name, p), q in zip(head.named_parameters(), fresh[0].parameters(), strict=True):
        assert torch.equal(p, q), name


class ReversalEncoder(nn.Module):
    """Token embedding plus learned positions, as a padded sequence memory."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, dim)
        self.positions = nn.Embedding(max_len, dim)

    def forward(self, x: torch.Tensor) -> PaddedSequence:
        pos = torch.arange(x.shape[1])
        return PaddedSequence(self.tokens(x) + self.positions(pos), x != PAD_ID)  # (B, S, D)


def reversal_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sources x (n, 6): 3..6 random words then PAD; targets y (n, 7): x reversed, EOS, PAD."""
    lengths = torch.randint(3, 7, (n, 1), generator=generator)
    x = torch.randint(3, VOCAB, (n, 6), generator=generator)
    x = x.masked_fill(torch.arange(6) >= lengths, PAD_ID)
    j = torch.arange(7)
    y = x.gather(1, (lengths - 1 - j).clamp(0, 5))  # y[:, j] = x[:, length - 1 - j]
    y = y.masked_fill(j >= lengths, PAD_ID).masked_fill(j == lengths, EOS_ID)
    return x, y


@pytest.mark.slow
def test_learns_to_reverse_sequences(one_thread):
    """300 steps of 64 reach exact match 1.000 here (seeds 0–7: at least 0.988) in 3–6 s."""
    torch.manual_seed(0)
    cfg = DecoderConfig(embed_dim=32, heads=4, layers=2, ff_dim=64, max_len=7)
    encoder, head = ReversalEncoder(32, max_len=6), TransformerDecoderHead(cfg, 32, VOCAB)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        x, y = reversal_batch(64, g)
        real = y != PAD_ID  # the real tokens and their EOS
        logits = head(encoder(x), {"y": y, "y_mask": real})
        loss = F.cross_entropy(logits[real], y[real])
        opt.zero_grad()
        loss.backward()
        opt.step()

    x, y = reversal_batch(500, torch.Generator().manual_seed(1))
    for settings in (Decoding(), Decoding(beam_size=4, length_penalty=0.6)):
        with torch.inference_mode():
            tokens = head.predict(encoder(x), settings)
        predicted = F.pad(tokens, (0, y.shape[1] - tokens.shape[1]), value=PAD_ID)
        exact = (predicted == y).all(1).float().mean().item()
        assert exact >= 0.95, (settings, exact)
