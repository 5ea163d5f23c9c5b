"""A new kind of data is new code plus its test, with no table edited anywhere: a toy kind
("points": float vectors) with its spec class, a dataset, a classification view and a cap, all
written in this file, registers, passes the registry-wide checks, shows in the catalogue and
trains a tiny model."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from sharedspace.catalog import describe
from sharedspace.data import DATA_KINDS, DATASETS, dataset
from sharedspace.data.specs import ClassesTarget
from sharedspace.modalities import MODALITIES
from sharedspace.resolve import load_config
from sharedspace.tasks.classification import Classification
from sharedspace.tasks.data import DataView, LabelledSplit, TaskData
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.train.trainer import train
from tests.data.registry_checks import (
    check_data_kind,
    check_dataset,
    check_prepared,
    check_view,
    isolate,
)


@dataclass(frozen=True)
class PointsSpec:
    """float32 points (dims,)."""

    dims: int
    kind: str = "points"

    @classmethod
    def toy(cls) -> "PointsSpec":
        return cls(4)

    def example(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        return {"x": torch.randn(batch_size, self.dims, generator=generator)}


@dataclass
class PointSplits:
    train: torch.Tensor  # (N, dims) float32
    train_labels: torch.Tensor  # (N,) int64
    test: torch.Tensor
    test_labels: torch.Tensor


def load_blobs(data_dir=None) -> PointSplits:
    """Two Gaussian blobs in 4-D, each point labelled by its blob (300 train, 100 test)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (400,), generator=g)
    points = torch.randn(400, 4, generator=g) * 0.5 + (labels[:, None] * 2 - 1.0)
    return PointSplits(points[:300], labels[:300], points[300:], labels[300:])


class Points(DataView):
    """Points and their blob; validation = the first 50 test points."""

    kind = "points"
    target = "classes"
    name = "points"

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        ds = DATASETS.get(source).load(data_dir)
        test = LabelledSplit(ds.test, ds.test_labels)
        splits = {
            "train": LabelledSplit(ds.train, ds.train_labels).first(cfg.train_size),
            "validation": test.first(50),
            "test": test,
        }
        return TaskData(splits, PointsSpec(ds.train.shape[1]), ClassesTarget(("left", "right")))


class PointsCap(nn.Module):
    """float points (B, dims) → (B, out_dim)."""

    modality_kind = "points"
    produces = "vector"
    aux_losses = ()

    @dataclass
    class Config:
        pass

    def __init__(self, cfg: Config, out_dim: int, spec: PointsSpec) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.proj = nn.Linear(spec.dims, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(x)


@pytest.fixture
def points(monkeypatch):
    """The toy kind, registered for this test only."""
    isolate(monkeypatch, DATA_KINDS, DATASETS, MODALITIES)
    DATA_KINDS.register("points")(PointsSpec)
    dataset("blobs", kind="points", splits=PointSplits)(load_blobs)
    DATA_VIEWS.register(Classification)(Points)
    MODALITIES.register("points_linear")(PointsCap)


def test_a_new_data_kind_passes_the_registry_wide_checks(points):
    check_data_kind("points")
    check_dataset("blobs")
    for task_kind, data_kind, name, view in DATA_VIEWS:
        if data_kind == "points":
            check_view(task_kind, data_kind, name, view)
    cfg = Points.Config(train_size=100)
    check_prepared(Points, Points.prepare("blobs", cfg, None, 0, "tasks.t.data", {}))
    listed = describe("datasets")
    assert " points data: float32 points (dims,)." in listed and "\n  blobs: Two Gaussian" in listed
    assert "      data view points (the default): points data → classes targets" in describe(
        "tasks"
    )


def test_a_new_data_kind_trains_a_tiny_model(points, tmp_path):
    raw = {
        "name": "blobs",
        "out_dir": str(tmp_path),
        "tasks": {"side": {"kind": "classification", "modality": "pts", "data": "blobs"}},
        "model": {
            "width": 8,
            "modalities": {"pts": "points_linear"},
            "space": {"name": "sus", "hidden": [8], "out_dim": 8},
        },
        "train": {"epochs": 4, "batch_size": 32, "warmup_steps": 2, "lr": 0.01, "progress": False},
    }
    result = train(load_config(data=raw))
    assert result.metrics["test"]["side"]["accuracy"] > 0.9  # the blobs are 4σ apart
