"""Decoding settings and the searches that turn an incremental decoder into output tokens.

Greedy search and beam search with the length penalty of Wu et al. 2016 (GNMT), written once
against a small interface, ``IncrementalDecoder``, so every decoder (a task's transformer head,
later a shared decoder) gets both: ``step`` feeds one token per row and returns the next
token's log-probabilities, ``reorder`` picks state rows when beams are expanded or reordered.
A decoder that caches its keys and values makes one step cost one position, not the prefix.

Beam search keeps ``beam_size`` hypotheses alive per row: of the ``2 · beam_size`` best
extensions, those that end in EOS and rank in the top ``beam_size`` are finished, the best
``beam_size`` others go on (as fairseq's ``sequence_generator.py``). A row is done when no alive
hypothesis can beat its best finished one any more (tensor2tensor's ``beam_search.py`` bound:
log-probabilities only fall, and the penalty is at most that of ``max_len``); a hypothesis that
reaches ``max_len`` without EOS is finished as it stands.

Shape notation:
    B  rows (examples)
    K  beam size
    V  vocabulary
    L  output length (EOS included)

Original code after Wu et al. 2016, "Google's neural machine translation system", and the
searches of fairseq and tensor2tensor.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from sharedspace.errors import ConfigError


@dataclass
class Decoding:
    """How a sequence output is predicted; beam size 1 is greedy search."""

    beam_size: int = 1  # hypotheses kept per example; 1: greedy
    length_penalty: float = 0.0  # alpha of GNMT's ((5 + length) / 6) ** alpha; 0: sum of log-probs
    max_len: int | None = None  # most tokens produced, EOS included; None: the decoder's own limit

    def __post_init__(self) -> None:
        if not (isinstance(self.beam_size, int) and self.beam_size >= 1):
            raise ConfigError(f"beam_size: expected a whole number ≥ 1, got {self.beam_size!r}")
        alpha = self.length_penalty
        if not (isinstance(alpha, int | float) and 0 <= alpha < float("inf")):
            raise ConfigError(f"length_penalty: expected a number ≥ 0, got {alpha!r}")
        if self.max_len is not None and not (isinstance(self.max_len, int) and self.max_len >= 1):
            raise ConfigError(f"max_len: expected a whole number ≥ 1 or null, got {self.max_len!r}")

    def within(self, limit: int) -> "Decoding":
        """These settings for a decoder that writes at most ``limit`` tokens: ``max_len`` None
        becomes ``limit``; a larger one fails now, not only when some row runs that long."""
        if self.max_len is not None and self.max_len > limit:
            raise ConfigError(f"max_len: {self.max_len} exceeds the decoder's max_len {limit}")
        return dataclasses.replace(self, max_len=limit if self.max_len is None else self.max_len)

    def penalty(self, length: int) -> float:
        """GNMT's length penalty: a hypothesis scores sum(log p) / penalty(its length)."""
        return ((5 + length) / 6) ** self.length_penalty


class IncrementalDecoder(Protocol):
    """A decoder fed one token per row at a time; its state is opaque to the search."""

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """tokens (N,) → log-probabilities of the next token (N, V), the state after them."""

    def reorder(self, state: Any, rows: torch.Tensor) -> Any:
        """The state whose row i is row ``rows[i]`` of ``state`` (rows: (N',) long)."""


class TokenSteps:
    """An ``IncrementalDecoder`` on tokens around one on embedded inputs (a decoder stack's
    ``step(x (N, E), state) -> (h (N, E), state)`` and ``reorder``): ``embed`` maps the fed
    tokens (N,) to inputs (N, E), ``logits`` the states (N, E) to next-token logits (N, V)."""

    def __init__(
        self,
        embed: Callable[[torch.Tensor], torch.Tensor],
        steps: Any,
        logits: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        self.embed, self.steps, self.logits = embed, steps, logits

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        h, state = self.steps.step(self.embed(tokens), state)  # (N, E)
        return self.logits(h).log_softmax(-1), state

    def reorder(self, state: Any, rows: torch.Tensor) -> Any:
        return self.steps.reorder(state, rows)


def search(
    decoder: IncrementalDecoder,
    state: Any,
    start: torch.Tensor,
    decoding: Decoding,
    eos: int,
    pad: int,
) -> torch.Tensor:
    """Tokens (B, L) after the start tokens (B,): each row up to and including its first EOS,
    then ``pad``; L is the longest row. ``decoding.max_len`` must be set (the decoder's limit)."""
    if decoding.max_len is None:
        raise ValueError("search needs decoding.max_len: resolve it to the decoder's limit first")
    if decoding.beam_size == 1:
        return greedy(decoder, state, start, decoding.max_len, eos, pad)
    return beam_search(decoder, state, start, decoding, eos, pad)


def greedy(
    decoder: IncrementalDecoder,
    state: Any,
    start: torch.Tensor,
    max_len: int,
    eos: int,
    pad: int,
) -> torch.Tensor:
    """The most probable next token at every step; stops once every row has produced EOS."""
    tokens, out = start, []
    done = torch.zeros_like(start, dtype=torch.bool)  # (B,)
    for _ in range(max_len):
        log_probs, state = decoder.step(tokens, state)
        tokens = log_probs.argmax(-1).masked_fill(done, pad)  # (B,)
        out.append(tokens)
        done = done | (tokens == eos)
        if bool(done.all()):
            break
    return torch.stack(out, 1)  # (B, L)


def beam_search(
    decoder: IncrementalDecoder,
    state: Any,
    start: torch.Tensor,
    decoding: Decoding,
    eos: int,
    pad: int,
) -> torch.Tensor:
    """The best finished hypothesis per row under the length penalty (see the module notes)."""
    (rows,), k, max_len = start.shape, decoding.beam_size, decoding.max_len
    device = start.device
    expand = torch.arange(rows, device=device).repeat_interleave(k)  # (B·K,): K copies a row
    state, tokens = decoder.reorder(state, expand), start[expand]
    scores = torch.zeros(rows, k, device=device)  # (B, K) sum of log-probs of alive hypotheses
    scores[:, 1:] = -torch.inf  # the K copies start identical: let one of them extend
    history = torch.empty(rows, k, 0, dtype=torch.long, device=device)  # (B, K, t)
    best = torch.full((rows,), -torch.inf, device=device)  # (B,) penalised score of the best
    best_tokens = torch.full((rows, max_len), pad, dtype=torch.long, device=device)  # (B, max_len)
    best_length = torch.zeros(rows, dtype=torch.long, device=device)  # (B,)
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    offsets = torch.arange(rows, device=device)[:, None] * k  # (B, 1)
    for t in range(max_len):
        log_probs, state = decoder.step(tokens, state)  # (B·K, V)
        vocab = log_probs.shape[1]
        extended = scores[:, :, None] + log_probs.view(rows, k, vocab)  # (B, K, V)
        top, flat = extended.view(rows, k * vocab).topk(2 * k, dim=1)  # (B, 2K), best first
        beam, word = flat // vocab, flat % vocab  # (B, 2K)
        prefixes = history.gather(1, beam[:, :, None].expand(-1, -1, t))  # (B, 2K, t)
        candidates = torch.cat([prefixes, word[:, :, None]], dim=2)  # (B, 2K, t + 1)

        # finish EOS among the top K (at the last step, all of the top K); keep the best per row
        finishing = (word == eos) | (t + 1 == max_len)
        finishing[:, k:] = False
        penalised = torch.where(finishing, top, -torch.inf) / decoding.penalty(t + 1)  # (B, 2K)
        score, at = penalised.max(1)  # (B,)
        better = (score > best) & ~done  # a done row is settled
        best = torch.where(better, score, best)
        chosen = candidates[torch.arange(rows, device=device), at]  # (B, t + 1)
        best_tokens[better, : t + 1] = chosen[better]
        best_length = best_length.masked_fill(better, t + 1)

        # go on with the best K that did not end in EOS (at most K of the 2K did)
        keep = (word == eos).to(torch.uint8).argsort(dim=1, stable=True)[:, :k]  # (B, K)
        scores, tokens = top.gather(1, keep), word.gather(1, keep).view(-1)  # (B, K), (B·K,)
        history = candidates.gather(1, keep[:, :, None].expand(-1, -1, t + 1))  # (B, K, t + 1)
        state = decoder.reorder(state, (offsets + beam.gather(1, keep)).view(-1))

        # done: no alive hypothesis can beat the best finished one, even divided by the largest
        # penalty (that of max_len), as log-probabilities only fall
        bound = scores.max(1).values / decoding.penalty(max_len)  # (B,)
        done = done | ((best >= bound) & (best > -torch.inf))
        if bool(done.all()):
            break
    return best_tokens[:, : int(best_length.max())]  # (B, L)
