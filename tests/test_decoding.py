"""Greedy and beam search against tiny decoders whose best sequences are known or enumerable."""

import itertools
import math

import pytest
import torch

from sharedspace.decoding import Decoding, beam_search, greedy, search
from sharedspace.errors import ConfigError

PAD, EOS, A, B, C = 0, 2, 3, 4, 5
VOCAB = 6


class Bigram:
    """Log-probabilities that depend on the last token only: row ``table[token]``."""

    def __init__(self, probs: dict[int, dict[int, float]]) -> None:
        table = torch.full((VOCAB, VOCAB), 1e-3)
        for token, nexts in probs.items():
            for word, p in nexts.items():
                table[token, word] = p
        self.log_probs = (table / table.sum(1, keepdim=True)).log()  # (V, V)
        self.steps = 0

    def step(self, tokens, state):
        self.steps += 1
        return self.log_probs[tokens], state

    def reorder(self, state, rows):
        return state


class TinyRNN:
    """A random recurrent decoder: the state (N, D) carries the whole history, so a wrong
    ``reorder`` would change what follows."""

    def __init__(self, vocab: int, seed: int, eos_bias: float = 0.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.embed = torch.randn(vocab, 8, generator=g)
        self.mix = torch.randn(8, 8, generator=g) / 2
        self.out = 2 * torch.randn(8, vocab, generator=g)
        self.bias = torch.zeros(vocab)
        self.bias[EOS] = eos_bias

    def start(self, rows: int, seed: int) -> torch.Tensor:
        return torch.randn(rows, 8, generator=torch.Generator().manual_seed(seed))  # (N, D)

    def step(self, tokens, state):
        state = torch.tanh(state @ self.mix + self.embed[tokens])  # (N, D)
        return (state @ self.out + self.bias).log_softmax(-1), state

    def reorder(self, state, rows):
        return state[rows]


def run(decoder, state, rows: int, **settings) -> torch.Tensor:
    start = torch.full((rows,), EOS)
    return search(decoder, state, start, Decoding(**settings), EOS, PAD)


def score(decoder: TinyRNN, state: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Sum of log-probs (B,) of each row's tokens up to and including its first EOS."""
    rows = tokens.shape[0]
    total, fed, alive = torch.zeros(rows), torch.full((rows,), EOS), torch.ones(rows, dtype=bool)
    for t in range(tokens.shape[1]):
        log_probs, state = decoder.step(fed, state)
        total += torch.where(alive, log_probs.gather(1, tokens[:, t : t + 1])[:, 0], 0.0)
        alive = alive & (tokens[:, t] != EOS)
        fed = tokens[:, t]
    return total


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("beam_size", 0),
        ("beam_size", 2.5),
        ("length_penalty", -0.1),
        ("length_penalty", math.inf),
        ("max_len", 0),
    ],
)
def test_settings_out_of_range_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}: expected"):
        Decoding(**{field: value})


def test_length_penalty_is_gnmts():
    assert Decoding(length_penalty=0.6).penalty(7) == pytest.approx((12 / 6) ** 0.6)
    assert Decoding().penalty(30) == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_beam_one_is_greedy_token_for_token(seed):
    decoder = TinyRNN(VOCAB, seed, eos_bias=1.0)
    state, start = decoder.start(32, seed), torch.full((32,), EOS)
    expected = greedy(decoder, state, start, 7, EOS, PAD)
    beam = beam_search(decoder, state, start, Decoding(beam_size=1, max_len=7), EOS, PAD)
    assert torch.equal(beam, expected)
    ended = (expected == EOS).any(1)
    assert ended.any() and not ended.all(), "the check wants rows that stop and rows that run on"


def every_sequence(max_len: int) -> list[list[int]]:
    """Every output of up to ``max_len`` tokens: words, then EOS or the length limit."""
    words = [w for w in range(VOCAB) if w != EOS]
    found = []
    for n in range(max_len + 1):
        for prefix in itertools.product(words, repeat=n):
            if n < max_len:
                found.append([*prefix, EOS])
            if n == max_len:
                found.append(list(prefix))
    return found


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_a_wide_enough_beam_finds_the_best_sequence(alpha):
    """With a beam as wide as all candidates of a step (6 · 5² before the last), beam search is
    exhaustive: it must return the sequence maximising sum(log p) / penalty(length) of them all."""
    decoder, settings = TinyRNN(VOCAB, seed=7, eos_bias=-1.0), Decoding(length_penalty=alpha)
    state = decoder.start(3, seed=8)
    tokens = run(decoder, state, 3, beam_size=6 * 5**2, length_penalty=alpha, max_len=4)
    for row in range(3):
        best, best_score = None, -math.inf
        for seq in every_sequence(4):
            t = torch.tensor([seq])
            s = score(decoder, state[row : row + 1], t).item() / settings.penalty(len(seq))
            best, best_score = (seq, s) if s > best_score else (best, best_score)
        found = tokens[row].tolist()
        found = found[: found.index(EOS) + 1] if EOS in found else found
        assert found == best, row


def test_beam_four_beats_greedy_when_the_likely_first_word_leads_nowhere():
    """A is likelier first (0.6) but every word after it has 1/6; B (0.4) ends surely."""
    decoder = Bigram({EOS: {A: 0.6, B: 0.4}, A: {w: 1.0 for w in range(VOCAB)}, B: {EOS: 0.99}})
    greedy_tokens = run(decoder, None, 1, max_len=5)
    beam_tokens = run(decoder, None, 1, beam_size=4, max_len=5)
    assert beam_tokens.tolist() == [[B, EOS]]
    assert greedy_tokens[0, 0] == A

    def model_score(tokens):
        fed = [EOS, *tokens[0].tolist()]
        ends = fed.index(EOS, 1) if EOS in fed[1:] else len(fed) - 1
        return sum(decoder.log_probs[a, b].item() for a, b in itertools.pairwise(fed[: ends + 1]))

    assert model_score(beam_tokens) > model_score(greedy_tokens) + 1.0


def test_length_penalty_changes_the_choice():
    """EOS at once scores log 0.6; A B C EOS scores log 0.4 + 3 log 0.95, longer but better
    once divided by GNMT's penalty at alpha = 2."""
    decoder = Bigram({EOS: {EOS: 0.6, A: 0.4}, A: {B: 0.95}, B: {C: 0.95}, C: {EOS: 0.95}})
    assert run(decoder, None, 1, beam_size=3, max_len=6).tolist() == [[EOS]]
    assert run(decoder, None, 1, beam_size=3, max_len=6, length_penalty=2.0).tolist() == [
        [A, B, C, EOS]
    ]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_search_stops_at_eos_and_respects_max_len(beam_size):
    decoder = Bigram({EOS: {A: 1}, A: {B: 1}, B: {EOS: 1}})
    assert run(decoder, None, 2, beam_size=beam_size, max_len=6).tolist() == [[A, B, EOS]] * 2
    assert decoder.steps == 3  # no step after every row is done
    looping = Bigram({EOS: {A: 1}, A: {A: 1}})
    assert run(looping, None, 2, beam_size=beam_size, max_len=4).tolist() == [[A] * 4] * 2


@pytest.mark.parametrize("beam_size", [1, 3])
def test_rows_are_independent_and_padded_after_eos(beam_size):
    decoder = TinyRNN(VOCAB, seed=3, eos_bias=0.5)
    state = decoder.start(6, seed=4)
    together = run(decoder, state, 6, beam_size=beam_size, max_len=8)
    for row in range(6):
        alone = run(decoder, state[row : row + 1], 1, beam_size=beam_size, max_len=8)
        width = alone.shape[1]
        assert torch.equal(together[row, :width], alone[0]), row
        assert (together[row, width:] == PAD).all()
    eos = (together == EOS).long()
    assert (together[eos.cumsum(1) - eos > 0] == PAD).all()  # nothing but PAD after the EOS
