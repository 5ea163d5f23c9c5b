"""Classification: a 1-layer perceptron on the shared space, cross-entropy, accuracy.

Reads images (class labels), text (document categories), bit strings (a boolean function of
them) or scenes in four turns (the turn: self-supervised rotation prediction); from a sequence
it classifies the mean of the real positions, from a feature map the mean of its positions.
"""

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.outputs.categorical import Categorical
from sharedspace.representation import Representation
from sharedspace.tasks.base import TASKS, LossTerms, Task
from sharedspace.tasks.bits_data import BitStrings
from sharedspace.tasks.image_data import Images
from sharedspace.tasks.scene_data import SceneTurns
from sharedspace.tasks.text_data import Documents
from sharedspace.tasks.views import DATA_VIEWS


class LinearClassifier(Categorical):
    """A task's own categorical head: (B, D), a PaddedSequence (B, T, D) or a map (B, D, H, W) →
    logits (B, classes)."""

    def forward(self, z: Representation, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().forward(z, 0)


class CrossEntropy(Task):
    """Class logits (B, C) against class ids ``y`` (B,): what every classifying kind shares."""

    targets = ("classes",)
    goals: ClassVar[dict[str, str]] = {"loss": "min", "accuracy": "max"}
    smooths_labels = True

    def loss(self, output, batch):
        losses = F.cross_entropy(
            output, batch["y"], reduction="none", label_smoothing=self.label_smoothing
        )
        return LossTerms.per_example(losses)

    def metric_sums(self, output, batch, prediction=None):
        return {
            "nll": F.cross_entropy(output, batch["y"], reduction="sum").double(),
            "correct": (output.argmax(1) == batch["y"]).sum().double(),
            "count": torch.tensor(len(batch["y"]), dtype=torch.float64),
        }

    @staticmethod
    def metrics(sums):
        """loss: mean cross-entropy (nats); accuracy: fraction correct, 0–1."""
        return {"loss": sums["nll"] / sums["count"], "accuracy": sums["correct"] / sums["count"]}


@TASKS.register("classification")
class Classification(CrossEntropy):
    accepts = ("vector", "sequence", "map")

    def build_head(self, in_dim: int) -> nn.Module:
        return LinearClassifier(Categorical.Config(), in_dim, self.data.target, 1)


DATA_VIEWS.add(Classification, Images, Documents, BitStrings, SceneTurns)
