"""A shared space that decodes: the transformer decoder of MultiModel's body, shared by tasks.

The cap's output (a vector, or a padded sequence) is projected to the decoder's width and becomes
the memory; the decoder stack (``spaces.transformer``) reads the *embedded*, shifted targets that
the task's output net gives it and returns one state per target position, which the same net
turns into logits. The space is task-blind: the task token comes from the output net (as the
first, start input), as MultiModel starts its decoder with a task token. Without targets it
returns the projected memory, so a net that does not decode can still read it.

Shape notation:
    B  batch
    S  memory length (1 for a vector)
    L  target length
    D  in_dim (the cap's width)
    E  embed_dim = out_dim

Original code after Kaiser et al. 2017, "One model to learn them all", and Vaswani et al. 2017.
"""

from typing import Any, ClassVar

import torch
from torch import nn

from sharedspace.representation import Form, PaddedSequence, Representation
from sharedspace.spaces.registry import SPACES
from sharedspace.spaces.transformer import (
    DecoderConfig,
    DecoderStack,
    EmbeddedSteps,
    project_memory,
)

Memory = tuple[torch.Tensor, torch.Tensor | None]  # (B, S, E) and its padding (B, S) or None


@SPACES.register("decoder")
class DecoderSpace(nn.Module):
    """memory_proj (D → E) + a causal transformer decoder stack attending to that memory."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector", "sequence": "sequence"}
    aux_losses = ()
    decodes = True
    Config = DecoderConfig

    def __init__(self, cfg: DecoderConfig, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.out_dim = cfg.embed_dim
        self.max_len = cfg.max_len  # the longest target it can decode, EOS included
        self.memory_proj = nn.Linear(in_dim, cfg.embed_dim)
        self.stack = DecoderStack(cfg)

    def forward(
        self, h: Representation, task: int, targets: PaddedSequence | None = None
    ) -> Representation:
        """Without targets: the memory in h's form, (B, E) or a PaddedSequence (B, S, E). With
        embedded, shifted targets (B, L, E): the teacher-forced states, a PaddedSequence
        (B, L, E) with the targets' mask, where position t reads targets[:, :t + 1] only."""
        if targets is None:
            return h.map(self.memory_proj) if isinstance(h, PaddedSequence) else self.memory_proj(h)
        return self.decode(self.encode(h, task), targets)

    def encode(self, h: Representation, task: int) -> Memory:
        """What the decoder attends to: the projected memory (B, S, E) and its key padding mask
        (B, S), True = padding (None for a vector)."""
        return project_memory(self.memory_proj, h)

    def decode(self, memory: Memory, targets: PaddedSequence) -> PaddedSequence:
        """Teacher-forced states (B, L, E) for the embedded, shifted targets (B, L, E)."""
        return PaddedSequence(self.stack(targets.values, *memory), targets.mask)

    def decoder(self, memory: Memory, cached: bool = True) -> tuple[EmbeddedSteps, Any]:
        """The incremental decoder for prediction and its start state: ``steps.step(x (N, E),
        state) -> (states (N, E), state)`` on embedded inputs, ``steps.reorder(state, rows)``;
        cached (one position per step), or recomputing the whole prefix each step."""
        start = self.stack.cached if cached else self.stack.recomputed
        return start(*memory)
