"""Language output: a token embedding in, a softmax over the vocabulary out, task tokens to start.

One net serves every task whose targets are text of one vocabulary. A decoding space reads the
targets it embeds (``shifted``: teacher forcing), and beam or greedy search steps through it
(``token_steps``). Each task starts from the embedding of its task token, so one shared decoder
is told what to produce, as MultiModel's task tokens (Kaiser et al. 2017): one table, one row per
command ("to-de", "to-parse"), shared by the tasks that name it (en → de and fr → de). Tied
weights share the embedding with the softmax, and inputs are scaled by sqrt(D), as
tensor2tensor's symbol modality (``shared_embedding_and_softmax_weights``; Vaswani et al. 2017,
section 3.4).

Shape notation:
    B  rows (examples);  L  target length;  N  rows of one decoding step
    D  width of the space (``in_dim``);  V  vocabulary (``target.vocab_size``)
"""

from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.data.specs import TokensTarget, TokenTarget
from sharedspace.decoding import TokenSteps
from sharedspace.outputs.base import OUTPUTS, OutputNet
from sharedspace.parts import ParameterRows
from sharedspace.representation import PaddedSequence, Representation


@OUTPUTS.register("language")
class Language(OutputNet, nn.Module):
    """z (B, D) → logits (B, V); a PaddedSequence of states (B, L, D) → logits (B, L, V).
    Token ids ``< V`` are the vocabulary's; ``start_id = V`` stands for the task's start token,
    which is read, never produced. State-dict keys: ``tokens.weight`` (V, D), ``starts.<r>`` (D,)
    for the r-th distinct task token (the task's own index when every task has its own), and,
    untied, ``out.weight`` (V, D) and ``out.bias`` (V,)."""

    target_kinds = ("tokens", "token")
    accepts = ("vector", "sequence")
    decodes = True

    @dataclass
    class Config:
        tied: bool = True  # the softmax weight is the token embedding; False: its own Linear(D, V)

    def __init__(
        self,
        cfg: Config,
        in_dim: int,
        target: TokensTarget | TokenTarget,
        task_tokens: tuple[str, ...],
    ) -> None:
        super().__init__()
        self.start_id = target.vocab_size
        self.scale = in_dim**0.5  # embeddings are drawn at std D^-0.5 and enter at std 1
        self.tokens = nn.Embedding(target.vocab_size, in_dim)
        nn.init.normal_(self.tokens.weight, std=in_dim**-0.5)
        rows = {token: r for r, token in enumerate(dict.fromkeys(task_tokens))}
        self.start_row = [rows[token] for token in task_tokens]  # task → its token's row
        self.starts = ParameterRows(torch.randn(len(rows), in_dim) * in_dim**-0.5)  # (R, D)
        self.out = None if cfg.tied else nn.Linear(in_dim, target.vocab_size)

    @classmethod
    def reads(cls, target: TokensTarget | TokenTarget) -> tuple[int, str]:
        """The vocabulary alone: a next-token task and a sequence task of one tokenizer share
        the net."""
        return target.vocab_size, target.vocabulary

    def forward(self, z: Representation, task: int) -> torch.Tensor:
        states = z.values if isinstance(z, PaddedSequence) else z  # (…, D)
        if self.out is None:
            return F.linear(states, self.tokens.weight)  # (…, V)
        return self.out(states)

    def embed(self, tokens: torch.Tensor, task: int) -> torch.Tensor:
        """Token ids (…) → inputs (…, D); ``start_id`` embeds as task ``task``'s start token."""
        is_start = tokens == self.start_id  # (…)
        vectors = self.tokens(tokens.masked_fill(is_start, 0))  # (…, D)
        start = self.starts[self.start_row[task]]  # (D,)
        return torch.where(is_start.unsqueeze(-1), start, vectors) * self.scale

    def shifted(self, y: torch.Tensor, y_mask: torch.Tensor, task: int) -> PaddedSequence:
        """Teacher forcing: targets y (B, L) → inputs (B, L, D) = [start of ``task``,
        embed(y_0), …, embed(y_{L-2})], so position i reads y before i; the mask is ``y_mask``."""
        start = torch.full_like(y[:, :1], self.start_id)  # (B, 1)
        return PaddedSequence(self.embed(torch.cat([start, y[:, :-1]], 1), task), y_mask)

    def token_steps(self, steps: Any, task: int) -> TokenSteps:
        """An ``IncrementalDecoder`` (decoding.py) for ``task`` over a space's ``steps``: it
        embeds each token, ``steps`` maps it to a state, this net's softmax scores the next."""
        return TokenSteps(partial(self.embed, task=task), steps, partial(self, task=task))

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        """A start token is task t's own when t alone starts from it; a shared one is shared."""
        users = Counter(self.start_row)
        return {t: [self.starts[r]] for t, r in enumerate(self.start_row) if users[r] == 1}
