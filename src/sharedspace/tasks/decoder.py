"""An autoregressive transformer decoder head: the shared space's output → a token sequence.

A task's own seq2seq head: a memory projection, a token embedding and softmax of its own around
the decoder stack it shares with the decoding space (``spaces.transformer``), so sequence-output
tasks can read either form of representation. Training is teacher-forced; ``predict`` searches
(greedy or beam, see ``sharedspace.decoding``) with the stack's key/value cache, so a new token
costs one position instead of the whole prefix.
"""

from typing import Any

import torch
from torch import nn

from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.decoding import Decoding, TokenSteps, search
from sharedspace.representation import PaddedSequence, Representation
from sharedspace.spaces.transformer import (
    DecoderConfig,
    DecoderStack,
    project_memory,
)

__all__ = ["DecoderConfig", "TransformerDecoderHead"]


class TransformerDecoderHead(nn.Module):
    """Decodes target tokens from a vector or a padded sequence, attending to it as memory.

    EOS doubles as the start symbol, so the specials stay the tokenizers' own. The parameters
    are created in the order they had before the stack was shared (memory_proj, tokens, the
    stack's positions and layers, out), so a seeded head starts from the same numbers; a
    state dict saved before then (keys ``positions.*``, ``layers.*``) still loads.

    Shape notation:
        B  batch
        S  memory length (1 for a vector)
        L  target length
        V  vocabulary
        E  embed_dim

    Original code after Vaswani et al. 2017, "Attention is all you need".
    """

    def __init__(self, cfg: DecoderConfig, in_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.memory_proj = nn.Linear(in_dim, cfg.embed_dim)
        self.tokens = nn.Embedding(vocab_size, cfg.embed_dim)
        self.stack = DecoderStack(cfg)
        self.out = nn.Linear(cfg.embed_dim, vocab_size)
        self.register_load_state_dict_pre_hook(_rename_unshared_keys)

    def memory(self, z: Representation) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The projected memory (B, S, E) and its key padding mask (B, S), True = padding."""
        return project_memory(self.memory_proj, z)

    def decode(
        self, memory: torch.Tensor, padding: torch.Tensor | None, inputs: torch.Tensor
    ) -> torch.Tensor:
        """Logits (B, L, V) for decoder inputs (B, L) that start with the start symbol."""
        return self.out(self.stack(self.tokens(inputs), memory, padding))

    def forward(self, z: Representation, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Teacher-forced logits (B, L, V): position t predicts ``y[:, t]`` from ``y[:, :t]``."""
        y = batch["y"]  # (B, L)
        start = torch.full_like(y[:, :1], EOS_ID)  # (B, 1)
        inputs = torch.cat([start, y[:, :-1]], dim=1)  # (B, L)
        return self.decode(*self.memory(z), inputs)

    def steps(self, z: Representation, cached: bool = True) -> tuple[TokenSteps, Any]:
        """The incremental decoder on tokens and its start state for memory ``z``: cached, or
        recomputing the whole prefix for every token (the reference the cache is tested
        against)."""
        memory, padding = self.memory(z)
        stack = self.stack.cached if cached else self.stack.recomputed
        steps, state = stack(memory, padding)
        return TokenSteps(self.tokens, steps, self.out), state

    def predict(
        self, z: Representation, decoding: Decoding | None = None, cached: bool = True
    ) -> torch.Tensor:
        """Tokens (B, L'): each row up to and including its first EOS, then PAD.

        ``decoding`` None is greedy up to ``cfg.max_len`` tokens. For inference: the cached
        path applies no dropout and writes its cache in place, so no gradient flows through it.
        """
        decoding = (decoding or Decoding()).within(self.cfg.max_len)
        steps, state = self.steps(z, cached)
        rows = z.values.shape[0] if isinstance(z, PaddedSequence) else z.shape[0]
        start = torch.full((rows,), EOS_ID, dtype=torch.long, device=self.out.weight.device)
        return search(steps, state, start, decoding, EOS_ID, PAD_ID)


def _rename_unshared_keys(
    module: nn.Module, state_dict: dict[str, torch.Tensor], prefix: str, *_: Any
) -> None:
    """Load-state-dict pre-hook: a head saved before the stack was shared kept its positions
    and layers at ``positions.*`` and ``layers.*``; they are ``stack.positions.*`` and
    ``stack.layers.*`` now."""
    for old in ("positions.", "layers."):
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + "stack." + key.removeprefix(prefix)] = state_dict.pop(key)
