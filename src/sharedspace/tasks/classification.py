"""Classification: a 1-layer perceptron on the shared space, cross-entropy, accuracy."""

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.tasks.base import TASKS, Task


@TASKS.register("classification")
class Classification(Task):
    modality_kind = "image"

    def build_head(self, in_dim: int) -> nn.Module:
        return nn.Linear(in_dim, len(self.data.classes))  # (B, in_dim) → logits (B, classes)

    def loss(self, output: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(output, batch["y"])

    def metric_sums(self, output, batch):
        return {
            "nll": F.cross_entropy(output, batch["y"], reduction="sum").double(),
            "correct": (output.argmax(1) == batch["y"]).sum().double(),
            "count": torch.tensor(len(batch["y"]), dtype=torch.float64),
        }

    @staticmethod
    def metrics(sums):
        """loss: mean cross-entropy (nats); accuracy: fraction correct, 0–1."""
        return {"loss": sums["nll"] / sums["count"], "accuracy": sums["correct"] / sums["count"]}
