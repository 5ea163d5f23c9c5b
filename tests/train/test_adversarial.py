"""The adversarial update rule on a toy WGAN-GP as a plug-in (``tests/train/wgan_parts.py``): two
optimizers, the critic stepped n_critic = 5 times per generator step, and it learns. That such a
run resumes bit-exactly after SIGKILL and trains on 2 processes what it does on 1 is tested on the
shipped adversarial task kind, TFG (``tests/tasks/test_zero_shot.py``)."""

from pathlib import Path

import torch

from sharedspace.model import build_model
from sharedspace.resolve import load_config
from sharedspace.tasks import build_tasks
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from sharedspace.train.evaluation import evaluate
from sharedspace.train.trainer import train
from tests.tiny import IMAGE_DATA, SMALL_MODEL
from tests.train.test_distributed import train_losses

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
