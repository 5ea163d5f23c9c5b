"""A new output net is one class in its own file plus its test, with no table edited: a cosine
classifier written here registers, passes the registry-wide contract checks, is listed by
``sharedspace list`` and trains a classification task that names it in ``model.outputs``."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.catalog import describe
from sharedspace.data.specs import ClassesTarget
from sharedspace.outputs import OUTPUTS, OutputNet
from sharedspace.train.trainer import train
from tests.data.registry_checks import isolate
from tests.outputs import test_outputs as registry_wide
from tests.tiny import tiny_config


class CosineClassifier(OutputNet, nn.Module):
    """z (B, D) → scale · cos(z, w_c): logits (B, C) from directions alone (the cosine
    classifier of Gidaris & Komodakis 2018)."""

    target_kinds = ("classes",)
    accepts = ("vector",)

    @dataclass
    class Config:
        scale: float = 10.0  # the logits' range, ±scale

    def __init__(
        self, cfg: Config, in_dim: int, target: ClassesTarget, task_tokens: tuple[str, ...]
    ) -> None:
        super().__init__()
        self.scale = cfg.scale
        self.weight = nn.Parameter(torch.randn(len(target.classes), in_dim) * in_dim**-0.5)

    def forward(self, z: torch.Tensor, task: int) -> torch.Tensor:
        return self.scale * F.normalize(z, dim=-1) @ F.normalize(self.weight, dim=-1).T


@pytest.fixture
def cosine(monkeypatch):
    isolate(monkeypatch, OUTPUTS)
    OUTPUTS.register("cosine")(CosineClassifier)


def test_a_new_output_net_passes_the_registry_wide_checks(cosine):
    registry_wide.test_output_net_contract("cosine", "classes", "vector")
    registry_wide.test_output_net_overfits_a_tiny_batch("cosine", "classes", "vector")
    assert "\n  cosine: z (B, D) → scale · cos(z, w_c)" in describe("outputs")


def test_a_new_output_net_trains_a_task_that_names_it(cosine, tiny_data_dir, tmp_path):
    overrides = ["tasks.classification.output=labels", "model.outputs={labels: cosine}"]
    cfg = tiny_config(tiny_data_dir, tmp_path, overrides=overrides, epochs=6)
    result = train(cfg)
    assert isinstance(result.model.outputs["labels"], CosineClassifier)
    assert result.metrics["test"]["classification"]["accuracy"] > 0.5  # 10 classes: chance 0.1
