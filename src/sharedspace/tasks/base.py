"""A Task names its modality, its data, its head (task cap), its loss and its metrics.

Metrics are kept as sums over a whole split (``metric_sums``) and turned into numbers once
(``metrics``), so nothing is an average of per-batch averages, and under DDP the sums are simply
all-reduced.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from sharedspace.registry import Registry
from sharedspace.tasks.data import TaskData

TASKS: Registry[type["Task"]] = Registry("task kind")


class Task:
    modality_kind: ClassVar[str]  # the kind of data it needs: "image", "text"

    @dataclass
    class Config:  # the head's settings; subclasses override
        pass

    def __init__(self, name: str, index: int, modality: str, head_cfg: Any, data: TaskData) -> None:
        self.name, self.index, self.modality = name, index, modality
        self.head_cfg, self.data = head_cfg, data

    def build_head(self, in_dim: int) -> nn.Module:
        raise NotImplementedError

    def loss(self, output: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The mean training loss of a batch (a scalar)."""
        raise NotImplementedError

    def metric_sums(
        self, output: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Sums over the batch (float64 scalars) that ``metrics`` turns into numbers."""
        raise NotImplementedError

    @staticmethod
    def metrics(sums: dict[str, float]) -> dict[str, float]:
        raise NotImplementedError
