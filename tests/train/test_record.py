"""The run record keeps every session: what was typed, the code it ran, how each session ended."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

import sharedspace
from sharedspace.errors import Interrupted, SharedSpaceError
from sharedspace.tasks.classification import Classification
from sharedspace.train.record import Origin, RunRecord, code_version, describe_code
from sharedspace.train.trainer import train
from tests.tiny import tiny_config
from tests.train.test_interrupt import signal_at


def sessions(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "run.json").read_text())["sessions"]


def test_code_version_names_this_checkout():
    version = code_version()
    root = Path(sharedspace.__file__).resolve().parents[2]
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert version["commit"] == (head or None)
    assert version["torch"].startswith("2.") and version["numpy"] and version["python"]
    both = describe_code(version, {})
    assert both == f"code: {describe_code(version)}; code version not recorded"


def test_sessions_record_stop_resume_and_finish(tiny_data_dir, tmp_path, monkeypatch):
    origin = Origin("my.yaml", ["train.lr=3e-4"])
    signal_at(monkeypatch, 3)
    with pytest.raises(Interrupted):
        train(tiny_config(tiny_data_dir, tmp_path, max_steps=8), origin=origin)
    monkeypatch.undo()
    cfg = tiny_config(tiny_data_dir, tmp_path, max_steps=8, lr=0.002)
    result = train(cfg, resume=True, origin=Origin("my.yaml", ["train.lr=0.002"]))
    first, second = sessions(result.run_dir)
    assert (first["outcome"], first["from_step"], first["to_step"]) == ("stopped", 0, 4)
    assert first["config"] == "my.yaml" and first["overrides"] == ["train.lr=3e-4"]
    assert (second["outcome"], second["from_step"], second["to_step"]) == ("finished", 4, 8)
    assert second["changed"] == {"train.lr": [0.001, 0.002]}
    assert second["test"] == result.metrics["test"] and second["ended"] >= second["started"]
    assert second["commit"] == code_version()["commit"] and second["processes"] == 1
    train(cfg, resume=True)  # a finished run: no new session
    assert len(sessions(result.run_dir)) == 2
    note = (result.run_dir / "results.md").read_text().splitlines()[0]
    assert note.startswith("tiny: 8 steps, seed 0,") and describe_code(code_version()) in note


def test_a_failed_session_says_why(tiny_data_dir, tmp_path, monkeypatch):
    nan_loss = lambda self, output, batch: torch.full((len(batch["y"]),), float("nan"))  # noqa: E731
    monkeypatch.setattr(Classification, "loss", nan_loss)
    with pytest.raises(SharedSpaceError):
        train(tiny_config(tiny_data_dir, tmp_path, max_steps=6))
    (session,) = sessions(tmp_path / "tiny")
    assert session["outcome"].startswith("failed (TrainingDiverged: step 0: ")
    assert session["to_step"] == 0


def test_a_corrupt_record_is_a_one_line_error(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(SharedSpaceError, match=r"run\.json: not a run record"):
        RunRecord(tmp_path)
