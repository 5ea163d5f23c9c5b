"""The adversarial update rule on a toy WGAN-GP (``tests/train/wgan_parts.py``): two optimizers,
the critic stepped n_critic = 5 times per generator step; it learns, resumes bit-exactly after
SIGKILL, and 2 processes train what 1 does."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from sharedspace.config import save_config
from sharedspace.model import build_model
from sharedspace.resolve import load_config
from sharedspace.tasks import build_tasks
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from sharedspace.train.evaluation import evaluate
from sharedspace.train.trainer import train
from tests.tiny import IMAGE_DATA, SMALL_MODEL
from tests.train.test_distributed import cli_train, train_losses
from tests.train.test_kill_resume import command, last_step

PARTS = Path(__file__).with_name("wgan_parts.py")
STEPS = 60


def wgan_config(data_dir, out_dir, name="wgan", **train_settings):
    raw = {
        "name": name,
        "data_dir": str(data_dir),
        "out_dir": str(out_dir),
        "imports": [str(PARTS)],
        "tasks": {"gan": {"kind": "toy_wgan", "modality": "image", "data": IMAGE_DATA}},
        "model": SMALL_MODEL,
        "train": {
            "epochs": 10, "max_steps": STEPS, "batch_size": 32, "lr": 5e-3, "betas": [0.5, 0.9],
            "warmup_steps": 0, "schedule": "constant", "progress": False, "log_every": 1,
            "checkpoint_every": 7, "step": {"name": "adversarial", "n_critic": 5},
            "optimizers": {"critic": {"groups": ["critic"]}}, **train_settings,
        },
    }  # fmt: skip
    return load_config(data=raw)


def test_wgan_gp_trains_through_the_adversarial_step(tiny_data_dir, tmp_path):
    cfg = wgan_config(tiny_data_dir, tmp_path)
    torch.manual_seed(cfg.seed)  # the run's untrained model, as setup builds it
    tasks = build_tasks(cfg)
    untrained = evaluate(build_model(cfg, tasks), tasks[0], "validation", 128, torch.device("cpu"))

    result = train(cfg)
    trained = result.metrics["validation"]["gan"]
    assert trained["mean_gap"] < 0.5 * untrained["mean_gap"], (untrained, trained)
    state = load_checkpoint(latest_checkpoint(result.run_dir / "checkpoints"))
    steps = {
        name: {int(s["step"]) for s in opt["state"].values()}
        for name, opt in state["optimizers"].items()
    }
    assert steps == {"main": {STEPS}, "critic": {5 * STEPS}}  # n_critic critic steps a step
    logged = [r for r in train_losses(result.run_dir)]
    assert len(logged) == STEPS


@pytest.mark.slow
def test_wgan_gp_resumes_bit_exactly_after_sigkill(tiny_data_dir, tmp_path):
    configs = {}
    for name in ("reference", "victim"):
        configs[name] = tmp_path / f"{name}.yaml"
        save_config(wgan_config(tiny_data_dir, tmp_path, name), configs[name])
    subprocess.run(command(configs["reference"]), check=True, capture_output=True, timeout=300)
    victim = tmp_path / "victim"
    process = subprocess.Popen(command(configs["victim"]), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while last_step(victim) < 25 and process.poll() is None:
        assert time.monotonic() < deadline, "the victim run never reached the kill step"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert 0 < load_checkpoint(latest_checkpoint(victim / "checkpoints"))["step"] < STEPS

    resumed = subprocess.run(command(configs["victim"], "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ref = load_checkpoint(latest_checkpoint(tmp_path / "reference" / "checkpoints"))
    got = load_checkpoint(latest_checkpoint(victim / "checkpoints"))
    for name, weight in ref["model"].items():
        assert torch.equal(weight, got["model"][name]), name
    assert train_losses(victim) == train_losses(tmp_path / "reference")


@pytest.mark.slow
def test_wgan_gp_on_two_processes_trains_what_one_does(tiny_data_dir, tmp_path):
    runs = {}
    for nproc in (1, 2):
        path = tmp_path / f"ddp{nproc}.yaml"
        save_config(wgan_config(tiny_data_dir, tmp_path, f"ddp{nproc}", max_steps=12), path)
        cli_train(path, f"--nproc={nproc}")
        runs[nproc] = tmp_path / f"ddp{nproc}"
    one, two = train_losses(runs[1]), train_losses(runs[2])
    assert [r[:2] for r in one] == [r[:2] for r in two]
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-4, abs=1e-5)
    w1, w2 = (load_checkpoint(latest_checkpoint(runs[n] / "checkpoints"))["model"] for n in (1, 2))
    for name, value in w1.items():
        torch.testing.assert_close(w2[name], value, rtol=1e-4, atol=1e-5, msg=name)
