"""Categorical output: one linear layer from the shared space to class logits.

Original (a 1-layer perceptron, as the SUS report's classification heads); a sequence is
classified by the mean of its real positions, a feature map by the mean of its positions.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import ClassesTarget
from sharedspace.outputs.base import OUTPUTS, OutputNet
from sharedspace.representation import Representation, pooled


@OUTPUTS.register("categorical")
class Categorical(OutputNet, nn.Linear):
    """z (B, D), a PaddedSequence (B, T, D) or a map (B, D, H, W) → logits (B, C),
    C = ``len(target.classes)``.
    State-dict keys: ``weight`` (C, D), ``bias`` (C,)."""

    target_kinds = ("classes",)
    accepts = ("vector", "sequence", "map")

    @dataclass
    class Config:
        pass

    def __init__(
        self, cfg: Config, in_dim: int, target: ClassesTarget, task_tokens: tuple[str, ...]
    ) -> None:
        super().__init__(in_dim, len(target.classes))

    def forward(self, z: Representation, task: int) -> torch.Tensor:
        return super().forward(pooled(z))
