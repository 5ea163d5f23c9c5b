"""SUS — the Shared Uniform Space: dense layers with LeakyReLU that every task passes through."""

import itertools
from dataclasses import dataclass, field
from typing import ClassVar

from torch import nn

from sharedspace.representation import Form, PaddedSequence, Representation
from sharedspace.spaces.registry import SPACES


@SPACES.register("sus")
class SUSSpace(nn.Module):
    """(B, in_dim) → (B, out_dim); 3 dense layers, 2048 → 1024 → 1024 → 512 by default.

    A sequence is mapped position by position (B, T, in_dim) → (B, T, out_dim), keeping its mask.
    Task-blind: it takes the task index only to honour the space contract.
    """

    forms: ClassVar[dict[Form, Form]] = {"vector": "vector", "sequence": "sequence"}
    aux_losses = ()

    @dataclass
    class Config:
        hidden: list[int] = field(default_factory=lambda: [1024, 1024])
        out_dim: int = 512
        negative_slope: float = 0.01

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.out_dim = cfg.out_dim
        dims = [in_dim, *cfg.hidden, cfg.out_dim]
        layers: list[nn.Module] = []
        for d_in, d_out in itertools.pairwise(dims):
            layers += [nn.Linear(d_in, d_out), nn.LeakyReLU(cfg.negative_slope)]
        self.layers = nn.Sequential(*layers)

    def forward(self, h: Representation, task: int) -> Representation:
        return h.map(self.layers) if isinstance(h, PaddedSequence) else self.layers(h)
