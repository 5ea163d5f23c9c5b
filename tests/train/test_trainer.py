"""The training loop end to end on tiny data: logs, results, resume, overwrite guard, NaN guard."""

import json
from pathlib import Path

import pytest
import torch

from sharedspace.errors import SharedSpaceError
from sharedspace.tasks.classification import Classification
from sharedspace.train import trainer
from sharedspace.train.trainer import TrainingDiverged, train
from tests.tiny import tiny_config

ALL = ("classification", "reconstruction", "next_word")


def records(run_dir, split="train"):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def losses(run_dir):
    """(step, task, loss) of every train record, in order."""
    return [(r["step"], r["task"], r["loss"]) for r in records(run_dir)]


def test_a_run_writes_its_folder_and_learns(tiny_data_dir, tmp_path):
    cfg = tiny_config(tiny_data_dir, tmp_path, tasks=ALL, epochs=3, log_every=5)
    result = train(cfg)
    run = result.run_dir
    assert (run / "config.yaml").exists() and (run / "results.json").exists()
    assert list((run / "tensorboard").iterdir())
    saved = json.loads((run / "results.json").read_text())
    assert {k: saved[k] for k in ("validation", "test")} == result.metrics
    assert saved["run"]["steps"] == result.steps
    validation = records(run, "validation")
    assert {r["task"] for r in validation} == set(ALL)
    assert len(validation) == 3 * 3  # every task after every epoch
    acc = result.metrics["test"]["classification"]["accuracy"]
    assert acc > 0.5, acc  # 10 classes: chance is 0.1
    lm = result.metrics["test"]["next_word"]
    assert 1 < lm["perplexity"] < 32  # below the uniform guess over the 32-word vocabulary


def test_resume_after_a_crash_continues_exactly(tiny_data_dir, tmp_path, monkeypatch):
    overrides = dict(epochs=2, log_every=1, checkpoint_every=5)
    reference = train(tiny_config(tiny_data_dir, tmp_path / "a", tasks=ALL, **overrides))

    real_lr_at = trainer.lr_at

    def crash_at_step_13(step, *args):
        if step == 13:
            raise KeyboardInterrupt  # killed after the checkpoint at step 10
        return real_lr_at(step, *args)

    cfg = tiny_config(tiny_data_dir, tmp_path / "b", tasks=ALL, **overrides)
    monkeypatch.setattr(trainer, "lr_at", crash_at_step_13)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.setattr(trainer, "lr_at", real_lr_at)
    resumed = train(cfg, resume=True)

    assert losses(resumed.run_dir) == losses(reference.run_dir)
    resumed_weights = resumed.model.state_dict()
    for name, weight in reference.model.state_dict().items():
        assert torch.equal(weight, resumed_weights[name]), name
    assert resumed.metrics == reference.metrics
    assert resumed.train_seconds > resumed.loop_seconds  # the killed run's time is counted too


def test_an_existing_run_is_never_silently_overwritten(tiny_data_dir, tmp_path):
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=2)
    train(cfg)
    with pytest.raises(
        SharedSpaceError, match=r"already holds a run; pass --resume .* --overwrite"
    ):
        train(cfg)
    train(cfg, overwrite=True)
    assert len(records(Path(cfg.out_dir) / cfg.name, "test")) == 1  # the old log is gone


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_a_non_finite_loss_stops_or_skips_and_names_task_and_step(
    tiny_data_dir, tmp_path, monkeypatch, policy
):
    real_loss = Classification.loss
    calls = {"n": 0}

    def loss_nan_on_third_call(self, output, batch):
        calls["n"] += 1
        value = real_loss(self, output, batch)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(Classification, "loss", loss_nan_on_third_call)
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=6, on_nonfinite=policy)
    if policy == "stop":
        with pytest.raises(
            TrainingDiverged, match="step 2: the loss of task 'classification' is nan"
        ):
            train(cfg)
    else:
        result = train(cfg)
        assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_space_auxiliary_losses_are_added_and_logged_by_name(tiny_data_dir, tmp_path, monkeypatch):
    from sharedspace.spaces.sus import SUSSpace

    def forward_with_penalty(self, h, task):
        z = self.layers(h)
        return z, {"activation_l2": z.square().mean()}

    monkeypatch.setattr(SUSSpace, "forward", forward_with_penalty)
    weights = ["train.aux_loss_weights={activation_l2: 10.0}"]
    cfg = tiny_config(
        tiny_data_dir, tmp_path, epochs=3, max_steps=20, log_every=5, overrides=weights
    )
    logged = records(train(cfg).run_dir)
    assert len(logged) == 4 and all("activation_l2" in r for r in logged)
    assert logged[-1]["activation_l2"] < logged[0]["activation_l2"]  # the penalty is minimised
