"""Label smoothing: the training loss of every kind whose loss is a cross-entropy over classes or
tokens is (1 − ε)·NLL + ε·(mean over classes of −log p), per example as before; the metrics stay
the plain cross-entropy; other kinds refuse it before any data loads."""

import pytest
import torch

from sharedspace.errors import ConfigError
from sharedspace.model import build_model
from sharedspace.tasks import build_tasks
from tests.tiny import SHARED_OUTPUTS, tiny_config

EPS = 0.1


def smoothed(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """By hand, over the last axis of logits (…, V) and labels (…)."""
    log_p = logits.log_softmax(-1)
    nll = -log_p.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return (1 - EPS) * nll - EPS * log_p.mean(-1)


def test_each_kind_smooths_its_training_loss_and_not_its_metrics(tiny_data_dir, tmp_path):
    smooth = [
        f"tasks.{t}.label_smoothing={EPS}" for t in ("classification", "next_word", "reverse")
    ]
    cfg = tiny_config(
        tiny_data_dir, tmp_path, tasks=("classification", "next_word"),
        overrides=[*SHARED_OUTPUTS, *smooth],
    )  # fmt: skip
    tasks = build_tasks(cfg)
    model = build_model(cfg, tasks)
    for task in tasks:
        assert task.smooths_labels and task.label_smoothing == EPS
        batch = task.data.splits["train"].get(torch.arange(6))
        output, _ = model(task.index, batch)
        terms, sums = task.loss(output, batch), task.metric_sums(output, batch)
        y = batch["y"]
        if output.dim() == 3:  # seq2seq: per token, summed per example over real tokens
            mask = batch["y_mask"]
            expected = (smoothed(output, y) * mask).sum(1)
            plain = torch.nn.functional.cross_entropy(output.transpose(1, 2), y, reduction="none")
            torch.testing.assert_close(sums["nll"].float(), (plain * mask).sum())
        else:
            expected = smoothed(output, y)
            plain = torch.nn.functional.cross_entropy(output, y, reduction="sum")
            torch.testing.assert_close(sums["nll"].float(), plain)
        torch.testing.assert_close(terms.sums, expected)
        assert not torch.allclose(terms.sums, expected / (1 - EPS))  # ε changed the loss


def test_a_kind_without_a_cross_entropy_refuses_it(tiny_data_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"tasks\.reconstruction\.label_smoothing: a recon"):
        tiny_config(
            tiny_data_dir, tmp_path, tasks=("reconstruction",),
            overrides=["tasks.reconstruction.label_smoothing=0.1"],
        )  # fmt: skip
    with pytest.raises(ConfigError, match="label_smoothing"):
        tiny_config(tiny_data_dir, tmp_path, overrides=["tasks.classification.label_smoothing=2"])
