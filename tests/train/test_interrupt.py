"""Ctrl-C and SIGTERM lose nothing: the run stops at the end of the step, saves a checkpoint
there, says how to resume, and the resumed run ends exactly where an uninterrupted one does."""

import json
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

from sharedspace.config import save_config, to_dict
from sharedspace.errors import Interrupted
from sharedspace.train import optimizers
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from sharedspace.train.trainer import train
from tests.test_cli import run_cli
from tests.tiny import tiny_config
from tests.train.test_trainer import ALL, losses


def test_a_signal_the_process_ignores_stays_ignored(tiny_data_dir, tmp_path, monkeypatch):
    """A run started with SIGINT ignored (a shell's background job) is not stopped by one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal_at(monkeypatch, 3)
    train(tiny_config(tiny_data_dir, tmp_path, max_steps=6))
    assert saved_steps(tmp_path / "tiny")[-1] == 6
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def interrupt(signum=signal.SIGINT) -> None:
    """Signal this process's main thread, which runs the handler before its next bytecode. (A
    signal sent to the process may land on another thread — a BLAS, gloo or tokenizer thread —
    and two sent back to back then reach the handler as one: signals do not queue.)"""
    signal.pthread_kill(threading.main_thread().ident, signum)


def signal_at(monkeypatch, step, signum=signal.SIGINT):
    """Send this process ``signum`` while step ``step`` runs (from the schedule, mid-step)."""
    real = optimizers.lr_at

    def lr_at(s, *args):
        if s == step:
            interrupt(signum)
        return real(s, *args)

    monkeypatch.setattr(optimizers, "lr_at", lr_at)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_step_and_the_resume_is_exact(
    tiny_data_dir, tmp_path, monkeypatch, signum
):
    settings = dict(tasks=ALL, epochs=2, log_every=1, checkpoint_every=50)
    reference = train(tiny_config(tiny_data_dir, tmp_path / "a", **settings))
    cfg = tiny_config(tiny_data_dir, tmp_path / "b", **settings)
    signal_at(monkeypatch, 12, signum)
    before = signal.getsignal(signum)  # SIG_IGN where the shell started the tests in background
    with pytest.raises(Interrupted, match=r"stopped at step 13 of \d+; saved .*step_00000013"):
        train(cfg)
    assert before is not None and signal.getsignal(signum) == before  # the run's handler is gone
    assert load_checkpoint(latest_checkpoint(tmp_path / "b" / "tiny" / "checkpoints"))["step"] == 13
    monkeypatch.undo()
    resumed = train(cfg, resume=True)
    assert losses(resumed.run_dir) == losses(reference.run_dir)  # nothing lost, nothing twice
    for name, weight in reference.model.state_dict().items():
        assert torch.equal(weight, resumed.model.state_dict()[name]), name


def test_the_cli_prints_the_command_that_resumes(capsys, tiny_data_dir, tmp_path, monkeypatch):
    save_config(tiny_config(tiny_data_dir, tmp_path, epochs=3, max_steps=20), tmp_path / "c.yaml")
    signal_at(monkeypatch, 3)
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml", "seed=1", "--overwrite")
    assert status == 130 and "Traceback" not in err
    assert "stopped at step 4 of 20" in err
    assert f"resume with: sharedspace train {tmp_path / 'c.yaml'} seed=1 --resume" in err
    monkeypatch.undo()
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml", "seed=1", "--resume")
    assert status == 0, err
    records = [
        json.loads(r) for r in (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records if r["split"] == "test"] == [20]


STOPPER = '''
"""A sampler that sends SIGTERM to rank 1 alone at step 5: both ranks must stop after it."""
import os
import signal

from sharedspace.train.sampling import SAMPLERS, UniformSampler


@SAMPLERS.register("uniform_then_sigterm")
class UniformThenSigterm(UniformSampler):
    calls = 0

    def __call__(self):
        UniformThenSigterm.calls += 1
        if UniformThenSigterm.calls == 5 and os.environ.get("RANK") == "1":
            os.kill(os.getpid(), signal.SIGTERM)
        return super().__call__()
'''


@pytest.mark.slow
def test_under_ddp_a_signal_to_one_rank_stops_every_rank_after_the_same_step(
    tiny_data_dir, tmp_path
):
    (tmp_path / "stopper.py").write_text(textwrap.dedent(STOPPER))
    raw = to_dict(tiny_config(tiny_data_dir, tmp_path, max_steps=30, log_every=1))
    raw |= {"imports": ["stopper.py"], "train": raw["train"] | {"sampler": "uniform_then_sigterm"}}
    (tmp_path / "c.yaml").write_text(json.dumps(raw))  # JSON is YAML
    command = [sys.executable, "-m", "sharedspace.cli", "train", tmp_path / "c.yaml", "--nproc=2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 130, done.stderr[-10000:]
    assert "stopped at step 5 of" in done.stderr and "Traceback" not in done.stderr
    assert f"{tmp_path / 'c.yaml'} --resume --nproc=2" in done.stderr
    assert load_checkpoint(latest_checkpoint(tmp_path / "tiny" / "checkpoints"))["step"] == 5


def signals_in_save(monkeypatch, count):
    """Send this process ``count`` SIGINTs inside every ``torch.save`` (mid-checkpoint)."""
    real = torch.save

    def save(*args, **kwargs):
        for _ in range(count):
            interrupt()
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def saved_steps(run_dir):
    """Steps of the run's checkpoints, which must all verify; no temp file may be left."""
    folder = run_dir / "checkpoints"
    assert not list(folder.glob(".*.tmp"))
    return sorted(load_checkpoint(p)["step"] for p in folder.glob("step_*.pt"))


def test_a_second_ctrl_c_waits_for_the_stops_checkpoint(
    capsys, tiny_data_dir, tmp_path, monkeypatch
):
    """The stop's save completes (no torn file, no traceback), then the run ends as a stop
    does: the command that resumes, status 130."""
    save_config(tiny_config(tiny_data_dir, tmp_path, epochs=3, max_steps=20), tmp_path / "c.yaml")
    signal_at(monkeypatch, 3)
    signals_in_save(monkeypatch, 1)
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml")
    assert status == 130 and "Traceback" not in err
    assert "finishing the checkpoint being written first" in err
    assert "stopped at step 4 of 20" in err and "resume with: " in err
    assert saved_steps(tmp_path / "tiny") == [4]


def test_a_second_ctrl_c_in_another_save_quits_once_it_is_written(
    capsys, tiny_data_dir, tmp_path, monkeypatch
):
    """Both signals come while the epoch's checkpoint is written (step 8): it completes, then
    the run quits at once, in one line."""
    save_config(tiny_config(tiny_data_dir, tmp_path, epochs=3, max_steps=20), tmp_path / "c.yaml")
    signals_in_save(monkeypatch, 2)
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml")
    assert status == 130 and "Traceback" not in err
    assert err.endswith("finishing the checkpoint being written first\nsharedspace: interrupted\n")
    assert saved_steps(tmp_path / "tiny") == [8]


def test_a_second_ctrl_c_mid_step_quits_at_once(capsys, tiny_data_dir, tmp_path, monkeypatch):
    save_config(tiny_config(tiny_data_dir, tmp_path, epochs=3, max_steps=20), tmp_path / "c.yaml")
    real = optimizers.lr_at

    def lr_at(s, *args):
        if s == 3:
            interrupt()
            interrupt()
        return real(s, *args)

    monkeypatch.setattr(optimizers, "lr_at", lr_at)
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml")
    assert status == 130 and err.endswith("again to quit at once)\nsharedspace: interrupted\n")
    assert saved_steps(tmp_path / "tiny") == []
