"""Bits cap: a bit string as ±1 values, for spaces whose experts read the bits themselves (the
synthetic parity tasks)."""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import BitsSpec
from sharedspace.modalities.base import MODALITIES


@MODALITIES.register("bits")
class Bits(nn.Module):
    """uint8 strings (B, n) in {0, 1} → (B, width) rows.

    With ``model.width`` = n the ±1 values pass as they are — the cap has no parameters, so a
    ``separate`` space is exactly one single-task network per task; any other width adds one
    linear map to it.
    """

    modality_kind = "bits"
    produces = "vector"
    aux_losses = ()

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, out_dim: int, spec: BitsSpec) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.proj = nn.Identity() if out_dim == spec.bits else nn.Linear(spec.bits, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(x.float() * 2 - 1)
