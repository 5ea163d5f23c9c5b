"""Categorical output: one linear layer from the shared space to class logits.

Original (a 1-layer perceptron, as the SUS report's classification heads); a sequence is
classified by the mean of its real positions.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import ClassesTarget
from sharedspace.outputs.base import OUTPUTS, OutputNet
from sharedspace.representation import PaddedSequence, Representation, masked_mean


@OUTPUTS.register("categorical")
class Categorical(OutputNet, nn.Linear):
    """z (B, D) or a PaddedSequence (B, T, D) → logits (B, C), C = ``len(target.classes)``.
    State-dict keys: ``weight`` (C, D), ``bias`` (C,)."""

    target_kinds = ("classes",)
    accepts = ("vector", "sequence")

    @dataclass
    class Config:
        pass

    def __init__(
        self, cfg: Config, in_dim: int, target: ClassesTarget, task_tokens: tuple[str, ...]
    ) -> None:
        super().__init__(in_dim, len(target.classes))

    def forward(self, z: Representation, task: int) -> torch.Tensor:
        return super().forward(masked_mean(z) if isinstance(z, PaddedSequence) else z)
