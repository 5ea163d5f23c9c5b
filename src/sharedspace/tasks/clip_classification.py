"""Clip classification: one class for a sequence of frames, from each frame's features joined.

The relative-motion tasks of Yan et al. (Berkeley report, ch. 4): each of an example's F frames
goes through the shared backbone as an input of its own (``TaskData.frames``: the model reads
``x`` (B, F, …) as B·F inputs), and the head pools each frame's features, joins them in order and
classifies the joined vector with a 2-layer perceptron — a motion shows only in how the frames
differ, which no single frame's features carry.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.config import number
from sharedspace.representation import Representation, pooled
from sharedspace.tasks.base import TASKS
from sharedspace.tasks.classification import CrossEntropy
from sharedspace.tasks.motion_data import SceneMotions
from sharedspace.tasks.views import DATA_VIEWS


class ClipHead(nn.Module):
    """(B·F, D) vectors, sequences or maps, F frames an example in order → logits (B, classes):
    each frame pooled to (D,), an example's F joined to (F·D,), Linear, ReLU, Linear."""

    def __init__(self, in_dim: int, frames: int, classes: int, hidden: int) -> None:
        super().__init__()
        self.frames = frames
        self.net = nn.Sequential(
            nn.Linear(frames * in_dim, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, z: Representation, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(pooled(z).unflatten(0, (-1, self.frames)).flatten(1))


@TASKS.register("clip_classification")
class ClipClassification(CrossEntropy):
    """A class id ``y`` (B,) for each sequence of frames ``x`` (B, F, …)."""

    accepts = ("vector", "sequence", "map")

    @dataclass
    class Config:
        hidden: int = number(128, ge=1)  # width of the perceptron's hidden layer

    def build_head(self, in_dim: int) -> nn.Module:
        classes = len(self.data.target.classes)
        return ClipHead(in_dim, self.data.frames, classes, self.head_cfg.hidden)


DATA_VIEWS.add(ClipClassification, SceneMotions)
