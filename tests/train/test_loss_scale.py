"""fp16's dynamic loss scale: its schedule, gradients unscaled as they are made (so a weighting
sees true gradients), overflowing steps skipped and counted, and its state resumed exactly."""

import functools
import json

import torch
from torch import nn

from sharedspace.train import trainer
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from sharedspace.train.loss_scale import LossScale
from sharedspace.train.trainer import train
from sharedspace.train.weighting.base import StepContext, task_jacobian
from tests.tiny import tiny_config, train_until_killed


def test_the_scale_backs_off_on_an_overflow_and_grows_after_good_steps():
    scale = LossScale(scale=8.0, interval=3)
    p = nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([1.0, float("inf")])
    assert not scale.update([p]) and scale.scale == 4.0
    p.grad = torch.ones(2)
    assert all(scale.update([p]) for _ in range(2)) and scale.scale == 4.0
    assert scale.update([p]) and scale.scale == 8.0 and scale.good_steps == 0
    again = LossScale()
    again.load_state_dict(scale.state_dict())
    assert again == scale


def test_scaled_backward_and_jacobian_give_the_true_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    params = list(net.parameters())
    x = torch.randn(16, 4)
    losses = lambda: list(net(x).square().mean(0))  # noqa: E731 (two task losses)
    plain, _, _ = task_jacobian(losses(), params, [])
    scaled, _, _ = task_jacobian(losses(), params, [], loss_scale=2.0**12)
    torch.testing.assert_close(scaled, plain)
    ctx = StepContext(0, params, params, scaler=LossScale(scale=2.0**12))
    ctx.backward(sum(losses()))
    torch.testing.assert_close(torch.cat([p.grad.flatten() for p in params]), plain.sum(0))


def records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "train"]


def test_fp16_skips_overflowing_steps_counts_them_and_resumes_exactly(
    tiny_data_dir, tmp_path, monkeypatch
):
    """Starting at 2²⁴ the scaled gradients overflow float16 until the scale has backed off:
    those steps are skipped (Adam counts only the others) and logged with the scale after each
    step; a run killed after the scale settled resumes with it, to the same weights."""
    start = 2.0**24
    monkeypatch.setattr(trainer, "LossScale", functools.partial(LossScale, scale=start))
    settings = dict(precision="fp16", epochs=5, log_every=1, checkpoint_every=30)
    reference = train(tiny_config(tiny_data_dir, tmp_path / "a", **settings))
    assert reference.steps == 40
    steps = {r["step"]: r for r in records(reference.run_dir) if r["task"] == "*"}
    skipped = {s for s, r in steps.items() if r["overflow_skipped"] == 1.0}
    assert 1 in skipped and len(skipped) < 20, skipped
    for step, record in steps.items():  # halved at each overflow so far, never grown
        assert record["loss_scale"] == start / 2 ** len({s for s in skipped if s <= step})
    trained = {r["step"] for r in records(reference.run_dir) if r["task"] == "classification"}
    assert trained == set(range(1, 41)) - skipped  # a skipped step trains nothing
    state = load_checkpoint(latest_checkpoint(reference.run_dir / "checkpoints"))
    adam = state["optimizers"]["main"]["state"][0]
    assert adam["step"] == 40 - len(skipped)
    assert adam["exp_avg"].dtype == torch.float32  # optimizer state stays float32
    assert state["loss_scale"]["scale"] == steps[40]["loss_scale"]

    cfg = tiny_config(tiny_data_dir, tmp_path / "b", **settings)
    train_until_killed(cfg, 35, monkeypatch)  # after the checkpoint at step 30
    monkeypatch.setattr(trainer, "LossScale", LossScale)  # the checkpoint's scale, not 2²⁴
    resumed = train(cfg, resume=True)
    untimed = lambda run: [{k: v for k, v in r.items() if k != "time"} for r in records(run)]  # noqa: E731
    assert untimed(resumed.run_dir) == untimed(reference.run_dir)
    for name, weight in reference.model.state_dict().items():
        assert torch.equal(weight, resumed.model.state_dict()[name]), name
