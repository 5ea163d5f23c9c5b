"""The run record keeps every session: what was typed, the code it ran, how each session ended."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

import sharedspace
from sharedspace.errors import Interrupted, SharedSpaceError
from sharedspace.tasks import LossTerms
from sharedspace.tasks.classification import Classification
from sharedspace.train.record import Origin, RunRecord, code_version, describe_code
from sharedspace.train.runlog import RunLog
from sharedspace.train.trainer import stored_results, train
from tests.guards import guarded
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
    nan_loss = lambda self, output, batch: LossTerms.per_example(  # noqa: E731
        torch.full((len(batch["y"]),), float("nan"))
    )
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


# --- the run folder's JSON files, written by someone else ------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000  # past the JSON parser's recursion limit
GOOD = {
    "validation": {"a": {"loss": 0.5}},
    "test": {"a": {"loss": 0.6, "accuracy": float("nan")}},
    "run": {"steps": 8, "train_seconds": 1.5, "processes": 1},
}


def hostile(run_dir: Path, name: str, kind: str, content: str = "") -> None:
    """``run_dir/name`` as a FIFO, a link to /dev/zero or out of the folder, a sparse giant, or
    ``content``."""
    path = run_dir / name
    if kind == "fifo":
        os.mkfifo(path)  # opening it to read would wait for a writer forever
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")  # reading it whole would fill memory
    elif kind == "link_out":
        (run_dir.parent / f"theirs_{name}").write_text(content)
        path.symlink_to(run_dir.parent / f"theirs_{name}")
    elif kind == "giant":
        with path.open("wb") as f:
            f.truncate(65 << 20)  # sparse: past the 64 MiB a JSON file may have
    else:
        path.write_text(content)


RECORDS = {
    "fifo": "",
    "dev_zero": "",
    "link_out": json.dumps({"sessions": [{"command": "theirs"}]}),
    "giant": "",
    "deep": DEEP,
    "huge_int": '{"sessions": [' + "9" * 5000 + "]}",
    "string_sessions": '{"sessions": "abc"}',
    "number_sessions": '{"sessions": [1, 2]}',
    "list": "[]",
}


@pytest.mark.parametrize(("kind", "content"), RECORDS.items(), ids=list(RECORDS))
def test_a_hostile_run_record_is_a_one_line_error(tmp_path, kind, content):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    hostile(run_dir, "run.json", kind, content)
    with guarded(10), pytest.raises(SharedSpaceError) as caught:
        RunRecord(run_dir)
    message = str(caught.value)
    assert message.startswith(f"{run_dir / 'run.json'}: not a run record (")
    assert message.endswith("); move it aside to start a new record") and "\n" not in message


RESULTS = {
    "fifo": "",
    "dev_zero": "",
    "link_out": json.dumps(GOOD),
    "giant": "",
    "deep": DEEP,
    "huge_int": json.dumps(GOOD).replace("1.5", "9" * 5000),
    "list": "[]",
    "run_list": json.dumps({**GOOD, "run": []}),
    "steps_true": json.dumps({**GOOD, "run": {**GOOD["run"], "steps": True}}),
    "no_seconds": json.dumps({**GOOD, "run": {"steps": 8}}),
    "seconds_text": json.dumps({**GOOD, "run": {"steps": 8, "train_seconds": "1"}}),
    "no_test": json.dumps({k: v for k, v in GOOD.items() if k != "test"}),
    "metric_text": json.dumps({**GOOD, "test": {"a": {"loss": "low"}}}),
    "metrics_list": json.dumps({**GOOD, "validation": {"a": [0.5]}}),
}


@pytest.mark.parametrize(("kind", "content"), RESULTS.items(), ids=list(RESULTS))
def test_hostile_stored_results_read_as_not_finished(tmp_path, kind, content):
    """Resuming a finished run reads its results.json: anything but what ``write_results``
    writes, in a regular file of the run folder, means the run is evaluated again."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    steps = 1 if kind == "steps_true" else 8
    hostile(run_dir, "results.json", kind, content)
    with guarded(10):
        assert stored_results(run_dir, steps) is None
    (run_dir / "results.json").unlink()
    (run_dir / "results.json").write_text(json.dumps(GOOD))
    assert stored_results(run_dir, 8)["run"]["train_seconds"] == 1.5


def test_resume_keeps_the_log_records_up_to_its_step_whatever_their_types(tmp_path):
    lines = [{"step": 1, "loss": 1.0}, {"step": "2"}, {"step": None}, {"loss": 3}, {"step": 9}]
    text = "".join(json.dumps(line) + "\n" for line in lines) + "[1, 2]\n"
    (tmp_path / "metrics.jsonl").write_text(text + '{"step": 3, "lo')  # cut by a kill
    RunLog(tmp_path, resume_step=5).close()
    assert (tmp_path / "metrics.jsonl").read_text() == json.dumps(lines[0]) + "\n"


def test_resume_never_rewrites_a_log_that_links_out_of_the_run(tmp_path):
    theirs = tmp_path / "theirs.jsonl"
    theirs.write_text('{"step": 1}\n{"step": 9}\n')
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").symlink_to(theirs)
    with pytest.raises(SharedSpaceError, match=r"metrics\.jsonl: a link out of its folder"):
        RunLog(run_dir, resume_step=5)
    assert theirs.read_text() == '{"step": 1}\n{"step": 9}\n'
