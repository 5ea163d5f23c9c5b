"""The shared decoder stack: its incremental forms (cached, recomputed) give the teacher-forced
states, also across a beam-search reorder, with a vector or a padded memory."""

import pytest
import torch

from sharedspace.config import from_dict
from sharedspace.errors import ConfigError
from sharedspace.spaces.transformer import DecoderConfig, DecoderStack

TINY = DecoderConfig(embed_dim=16, heads=2, layers=2, ff_dim=32, max_len=8)


@pytest.fixture
def stack() -> DecoderStack:
    torch.manual_seed(0)
    return DecoderStack(TINY).eval()


def memory_of(form: str, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Memory (3, S, E) and its padding (True = pad): a vector (S = 1, no padding) or three
    sequences of lengths 5, 2 and 4 (S = 5)."""
    if form == "vector":
        return torch.randn(3, 1, 16, generator=g), None
    padding = torch.arange(5) >= torch.tensor([5, 2, 4])[:, None]  # (3, 5)
    return torch.randn(3, 5, 16, generator=g), padding


def test_forward_shape_and_length_limit(stack):
    memory, padding = memory_of("sequence", torch.Generator().manual_seed(0))
    assert stack(torch.randn(3, 8, 16), memory, padding).shape == (3, 8, 16)
    with pytest.raises(ValueError, match="target length 9 exceeds max_len 8"):
        stack(torch.randn(3, 9, 16), memory, padding)


@pytest.mark.parametrize("form", ["vector", "sequence"])
@pytest.mark.parametrize("cached", [True, False])
def test_steps_give_the_teacher_forced_states_across_a_reorder(stack, one_thread, form, cached):
    """Feed 3 positions, reorder the rows as beam search does (duplicate, drop, permute), feed
    the rest: every state equals the teacher-forced stack's on the sequences that result."""
    g = torch.Generator().manual_seed(1)
    memory, padding = memory_of(form, g)
    fed = torch.randn(3, TINY.max_len, 16, generator=g)  # (B, L, E) embedded inputs
    rows = torch.tensor([2, 0, 2, 2])  # row 2 three times, row 0 once, row 1 dropped
    later = torch.randn(4, TINY.max_len, 16, generator=g)  # what the reordered rows go on with
    k = 3
    after = torch.cat([fed[rows, :k], later[:, k:]], dim=1)  # (4, L, E)
    pick = None if padding is None else padding[rows]
    with torch.no_grad():
        before_reorder = stack(fed, memory, padding)  # (3, L, E)
        after_reorder = stack(after, memory[rows], pick)  # (4, L, E)
        steps, state = (stack.cached if cached else stack.recomputed)(memory, padding)
        for t in range(TINY.max_len):
            if t == k:
                state = steps.reorder(state, rows)
            x, expected = (fed, before_reorder) if t < k else (after, after_reorder)
            h, state = steps.step(x[:, t], state)
            torch.testing.assert_close(h, expected[:, t], rtol=0, atol=1e-5)


def test_padded_memory_positions_are_ignored(stack):
    g = torch.Generator().manual_seed(2)
    memory, padding = memory_of("sequence", g)
    moved = torch.where(padding[..., None], 10 * torch.randn(memory.shape, generator=g), memory)
    x = torch.randn(3, 6, 16, generator=g)
    torch.testing.assert_close(stack(x, moved, padding), stack(x, memory, padding))


def test_a_bad_config_is_refused_with_its_key():
    with pytest.raises(ConfigError, match=r"model.space: heads: 4 does not divide embed_dim 10"):
        from_dict(DecoderConfig, {"embed_dim": 10, "heads": 4}, "model.space")
    with pytest.raises(ConfigError, match=r"model.space.heads: must be ≥ 1, got 0"):
        from_dict(DecoderConfig, {"heads": 0}, "model.space")
