"""A run killed with SIGKILL at a random step resumes from its last checkpoint and ends with
bit-identical weights to an uninterrupted run (CPU, same process count: every op is replayed in
the same order on the same data)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from sharedspace.config import save_config
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from tests.tiny import MULTIMODEL_OUTPUTS, SHARED_OUTPUTS, tiny_config

STEPS = 120


def command(config, *extra):
    return [sys.executable, "-m", "sharedspace.cli", "train", str(config), *extra]


def last_step(run_dir):
    """The step of the log's last complete record (the run may be writing the next one)."""
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().split("\n")[:-1] if path.exists() else []  # complete lines only
    return json.loads(lines[-1])["step"] if lines else 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("train.sampler=all", "train.epochs=6", "train.weighting=nash_mtl"),
        (*SHARED_OUTPUTS, "tasks.next_word.output=text", "train.epochs=6"),
        (*MULTIMODEL_OUTPUTS, "tasks.next_word.output=text", "train.epochs=6"),
    ],
    # nash_mtl: a gradient-level method with state; shared_outputs: a decoding space and
    # output nets with per-task start tokens, one language net for next-word and seq2seq;
    # multimodel: the same through MultiModel's body (its MoE blocks draw gate noise per token)
    ids=["one_task_per_step", "nash_mtl", "shared_outputs", "multimodel"],
)
def test_sigkill_at_a_random_step_then_resume_gives_identical_weights(
    tiny_data_dir, tmp_path, overrides
):
    kill_at = random.Random(7).randrange(15, STEPS - 15)
    configs = {}
    for name in ("reference", "victim"):
        cfg = tiny_config(
            tiny_data_dir, tmp_path, tasks=("classification", "reconstruction", "next_word"),
            epochs=5, max_steps=STEPS, log_every=1, checkpoint_every=7,
            overrides=[f"name={name}", *overrides],
        )  # fmt: skip
        configs[name] = tmp_path / f"{name}.yaml"
        save_config(cfg, configs[name])
    subprocess.run(command(configs["reference"]), check=True, capture_output=True, timeout=300)

    victim_dir = tmp_path / "victim"
    process = subprocess.Popen(command(configs["victim"]), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while last_step(victim_dir) < kill_at and process.poll() is None:
        assert time.monotonic() < deadline, "the victim run never reached the kill step"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not (victim_dir / "results.json").exists(), f"finished before step {kill_at}"
    stopped_at = load_checkpoint(latest_checkpoint(victim_dir / "checkpoints"))["step"]
    assert 0 < stopped_at < STEPS

    resumed = subprocess.run(command(configs["victim"], "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ref = load_checkpoint(latest_checkpoint(tmp_path / "reference" / "checkpoints"))
    got = load_checkpoint(latest_checkpoint(victim_dir / "checkpoints"))
    assert got["step"] == ref["step"] == STEPS
    for name, weight in ref["model"].items():
        assert torch.equal(weight, got["model"][name]), name
    reference_log = (tmp_path / "reference" / "metrics.jsonl").read_text().splitlines()
    victim_log = (victim_dir / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(line).items() if k != "time"} for line in reference_log]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "time"} for x in victim_log]
