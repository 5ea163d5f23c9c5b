"""A Task names its modality, its data, its head (task cap), its loss and its metrics.

Contract (checked for every kind by the registry-wide tests):
- ``data_views``: input kind ("image", "text") → the DataView that makes its splits; a task kind
  reads every input kind it lists, so classification works on images and on text.
- ``accepts``: the representation forms its head reads from the space ("vector", "sequence").
- ``build_head(in_dim)`` → a module called as ``head(z, batch)``; the whole batch reaches it, so
  a sequence head can teacher-force on ``batch["y"]``. A head whose kind declares ``aux_losses``
  returns ``(output, {name: loss})``.
- ``loss(output, batch)`` → per-example losses (B,); the task's training loss is their mean, and
  parts that learn from the loss get them through ``SharedSpaceModel.feedback``.
- ``decodes``: the head also has ``predict(z) → tokens``, the prediction path evaluation uses.
- Metrics are kept as sums over a whole split (``metric_sums``) and turned into numbers once
  (``metrics``), so nothing is an average of per-batch averages and DDP simply all-reduces sums.
- ``goals``: for every metric the kind reports, whether higher ("max") or lower ("min") is
  better — what ``train.keep_best`` and sign-corrected comparisons (Δm) read.
"""

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from sharedspace.registry import Registry
from sharedspace.representation import Form
from sharedspace.tasks.data import DataView, TaskData

TASKS: Registry[type["Task"]] = Registry("task kind")


class Task:
    data_views: ClassVar[dict[str, type[DataView]]]
    accepts: ClassVar[tuple[Form, ...]] = ("vector",)
    aux_losses: ClassVar[tuple[str, ...]] = ()  # names its head may emit
    decodes: ClassVar[bool] = False
    goals: ClassVar[dict[str, Literal["max", "min"]]] = {"loss": "min"}  # metric → better way

    @dataclass
    class Config:  # the head's settings; subclasses override
        pass

    def __init__(self, name: str, index: int, modality: str, head_cfg: Any, data: TaskData) -> None:
        self.name, self.index, self.modality = name, index, modality
        self.head_cfg, self.data = head_cfg, data

    def build_head(self, in_dim: int) -> nn.Module:
        raise NotImplementedError

    def loss(self, output: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-example training losses (B,)."""
        raise NotImplementedError

    def metric_sums(
        self, output: Any, batch: dict[str, torch.Tensor], prediction: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Sums over the batch (float64 scalars) that ``metrics`` turns into numbers;
        ``prediction`` is the decoded output when the kind ``decodes``."""
        raise NotImplementedError

    @staticmethod
    def metrics(sums: dict[str, float]) -> dict[str, float]:
        raise NotImplementedError
