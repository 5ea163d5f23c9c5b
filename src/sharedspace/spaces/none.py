"""No shared space: caps joined directly — the ablation the SUS report proposes."""

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from sharedspace.representation import Form, Representation
from sharedspace.spaces.registry import SPACES


@SPACES.register("none")
class NoSpace(nn.Module):
    """The cap's output unchanged; task caps read the modality caps' output directly."""

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector", "sequence": "sequence", "map": "map"}
    aux_losses = ()

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.out_dim = in_dim

    def forward(self, h: Representation, task: int) -> Representation:
        return h
