"""Features cap: vectors a frozen network made (``data/pair_features.py``), passed as they are."""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.data.specs import FeatureSpec
from sharedspace.errors import ConfigError
from sharedspace.modalities.base import MODALITIES


@MODALITIES.register("features")
class Features(nn.Module):
    """float32 features (B, dim) → the same (B, dim): no parameters, so what a head learns about
    them (a generator of such features, a critic judging them) is about the extractor's own
    space. ``model.width`` must be the features' size."""

    modality_kind = "features"
    produces = "vector"
    aux_losses = ()

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, out_dim: int, spec: FeatureSpec) -> None:
        super().__init__()
        if out_dim != spec.dim:
            raise ConfigError(
                f"model.width: the features cap passes features as they are, so the width must "
                f"be their size, {spec.dim}, not {out_dim}"
            )
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return x.float()
