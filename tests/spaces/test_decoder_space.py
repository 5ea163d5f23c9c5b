"""The decoding space: causal in its targets, blind to padded memory, the same states stepped one
position at a time (cached or recomputed) as teacher-forced, and able to learn to copy."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.decoding import TokenSteps, greedy
from sharedspace.representation import PaddedSequence
from sharedspace.spaces import SPACES
from sharedspace.spaces.transformer import DecoderConfig

IN_DIM = 12
TINY = DecoderConfig(embed_dim=16, heads=2, layers=2, ff_dim=32, max_len=8)


def build(cfg: DecoderConfig = TINY, in_dim: int = IN_DIM) -> nn.Module:
    return SPACES.get("decoder")(cfg, in_dim, 2)


@pytest.fixture
def space() -> nn.Module:
    torch.manual_seed(0)
    return build().eval()


def h_of(form: str, g: torch.Generator):
    """Three vectors (3, IN_DIM), or three sequences of lengths 5, 2 and 4 (3, 5, IN_DIM)."""
    if form == "vector":
        return torch.randn(3, IN_DIM, generator=g)
    mask = torch.arange(5) < torch.tensor([5, 2, 4])[:, None]
    return PaddedSequence(torch.randn(3, 5, IN_DIM, generator=g), mask)


def embedded_targets(g: torch.Generator, length: int = 7) -> PaddedSequence:
    """(3, length, E) embedded targets of real lengths 7, 3 and 5 (then padding)."""
    mask = torch.arange(length) < torch.tensor([7, 3, 5])[:, None]
    return PaddedSequence(torch.randn(3, length, 16, generator=g), mask)


@pytest.mark.parametrize("form", ["vector", "sequence"])
def test_without_targets_it_returns_the_projected_memory(space, form):
    h = h_of(form, torch.Generator().manual_seed(1))
    z = space(h, 0)
    if form == "vector":
        torch.testing.assert_close(z, space.memory_proj(h))
    else:
        torch.testing.assert_close(z.values, space.memory_proj(h.values))
        assert z.mask is h.mask
    assert space.out_dim == TINY.embed_dim and space.max_len == TINY.max_len


@pytest.mark.parametrize("form", ["vector", "sequence"])
def test_a_state_reads_only_the_targets_up_to_its_position(space, form):
    g = torch.Generator().manual_seed(2)
    h, targets = h_of(form, g), embedded_targets(g)
    t = 3
    changed = targets.values.clone()
    changed[:, t] += torch.randn(3, 16, generator=g)
    before = space(h, 0, targets).values
    after = space(h, 0, PaddedSequence(changed, targets.mask)).values
    assert torch.equal(after[:, :t], before[:, :t])
    assert (after[:, t:] - before[:, t:]).abs().amax(-1).min() > 1e-3  # every later state moves


def test_padded_memory_positions_are_ignored(space):
    g = torch.Generator().manual_seed(3)
    h, targets = h_of("sequence", g), embedded_targets(g)
    noise = 10 * torch.randn(h.values.shape, generator=g)
    moved = PaddedSequence(torch.where(h.mask[..., None], h.values, noise), h.mask)
    torch.testing.assert_close(space(moved, 0, targets).values, space(h, 0, targets).values)


@pytest.mark.parametrize("form", ["vector", "sequence"])
@pytest.mark.parametrize("cached", [True, False])
def test_stepping_the_targets_gives_the_teacher_forced_states(space, one_thread, form, cached):
    g = torch.Generator().manual_seed(4)
    h, targets = h_of(form, g), embedded_targets(g, length=TINY.max_len)
    with torch.no_grad():
        expected = space(h, 1, targets).values  # (3, L, E)
        steps, state = space.decoder(space.encode(h, 1), cached=cached)
        for t in range(TINY.max_len):
            states, state = steps.step(targets.values[:, t], state)
            torch.testing.assert_close(states, expected[:, t], rtol=0, atol=1e-5)


class TinyCopier(nn.Module):
    """A test's stand-in for the cap and the language output net around the space: source
    tokens (B, S) → a padded sequence memory; targets embedded after a start token; logits."""

    def __init__(self, vocab: int, width: int) -> None:
        super().__init__()
        self.source = nn.Embedding(vocab, width)
        self.source_positions = nn.Embedding(8, width)
        self.targets = nn.Embedding(vocab + 1, 16)  # id ``vocab``: the start token
        self.out = nn.Linear(16, vocab)
        self.start = vocab

    def memory(self, x: torch.Tensor) -> PaddedSequence:
        values = self.source(x) + self.source_positions(torch.arange(x.shape[1]))
        return PaddedSequence(values, x != 0)  # (B, S, width); token 0 is padding

    def shifted(self, y: torch.Tensor, y_mask: torch.Tensor) -> PaddedSequence:
        inputs = torch.cat([torch.full_like(y[:, :1], self.start), y[:, :-1]], dim=1)
        return PaddedSequence(self.targets(inputs), y_mask)  # (B, L, 16)


def test_learns_to_copy_short_sequences(one_thread):
    """Six sources of 2–4 tokens, targets the source then EOS (token 1): teacher-forced loss
    falls below a twentieth of its start, and greedy decoding through ``space.decoder`` copies
    every source."""
    torch.manual_seed(0)
    vocab, eos = 9, 1
    x = torch.tensor(
        [[3, 4, 5, 0], [6, 2, 0, 0], [7, 7, 8, 2], [5, 3, 0, 0], [8, 6, 4, 0], [2, 8, 3, 6]]
    )
    lengths = (x != 0).sum(1, keepdim=True)
    y = F.pad(x, (0, 1)).masked_fill(torch.arange(5) == lengths, eos)  # (6, 5)
    y_mask = torch.arange(5) <= lengths
    space = build(DecoderConfig(embed_dim=16, heads=2, layers=1, ff_dim=32, max_len=5), in_dim=16)
    copier = TinyCopier(vocab, width=16)
    optimizer = torch.optim.Adam([*space.parameters(), *copier.parameters()], lr=1e-2)

    def loss() -> torch.Tensor:
        states = space(copier.memory(x), 0, copier.shifted(y, y_mask))
        assert states.values.shape == (6, 5, 16) and states.mask is y_mask
        return F.cross_entropy(copier.out(states.values)[y_mask], y[y_mask])

    first = loss().item()
    for _ in range(150):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < first / 20
    with torch.no_grad():
        steps, state = space.eval().decoder(space.encode(copier.memory(x), 0))
        decoder = TokenSteps(copier.targets, steps, copier.out)
        tokens = greedy(decoder, state, torch.full((6,), copier.start), 5, eos, 0)
    assert torch.equal(tokens, y.masked_fill(~y_mask, 0))
