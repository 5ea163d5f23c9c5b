"""Checkpoints round-trip a full training state, survive crashes and refuse bad or unsafe files."""

import builtins
import hashlib
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sharedspace.errors import CheckpointError
from sharedspace.train.checkpoint import (
    LATEST,
    latest_checkpoint,
    load_checkpoint,
    load_newest_good,
    previous_good,
    save_checkpoint,
)
from tests.guards import guarded


def training_state(seed: int = 0) -> dict:
    """What a trainer saves after one step: model, Adam moments, RNG states, sampler and config."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)
    model(torch.randn(5, 4)).pow(2).mean().backward()
    optimizer.step()
    scheduler.step()
    numpy_state = np.random.default_rng(seed).bit_generator.state
    return {
        "step": 1,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "generator": torch.Generator().manual_seed(seed).get_state(),
            "python": list(random.Random(seed).getstate()[1]),
            "numpy_pcg64": {"state": str(numpy_state["state"]["state"])},
        },
        "sampler": {"order": torch.randperm(6), "position": 2, "weights": [0.5, 0.25, 0.25]},
        "config": {"name": "tiny", "lr": 1e-3, "tasks": ["a", "b"], "smoke": True, "seed": None},
        "tokenizer": {"vocab": {"<pad>": 0, "the": 1}, "lowercase": True},
    }


def assert_same(a: object, b: object, where: str = "state") -> None:
    """Deep equality that compares tensors by value, dtype and shape."""
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def steps_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_round_trip_of_a_training_state(tmp_path: Path) -> None:
    state = training_state()
    path = save_checkpoint(state, tmp_path, step=100)
    assert path == tmp_path / "step_00000100.pt"
    assert_same(load_checkpoint(path), state)


def test_loaded_state_restores_model_and_optimizer(tmp_path: Path) -> None:
    state = training_state()
    loaded = load_checkpoint(save_checkpoint(state, tmp_path, step=1))
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    model.load_state_dict(loaded["model"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(loaded["optimizer"])
    assert_same(optimizer.state_dict()["state"], state["optimizer"]["state"])


def test_layout_sidecar_and_latest_pointer(tmp_path: Path) -> None:
    save_checkpoint({"x": 1}, tmp_path, step=5)
    save_checkpoint({"x": 2}, tmp_path, step=7)
    assert steps_in(tmp_path) == [
        LATEST,
        "step_00000005.pt",
        "step_00000005.pt.sha256",
        "step_00000007.pt",
        "step_00000007.pt.sha256",
    ]
    assert (tmp_path / LATEST).read_text().strip() == "step_00000007.pt"
    digest, name = (tmp_path / "step_00000007.pt.sha256").read_text().split()
    assert name == "step_00000007.pt" and len(digest) == 64
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000007.pt"


def test_latest_without_pointer_is_newest_that_verifies(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path / "absent") is None
    assert latest_checkpoint(tmp_path) is None
    save_checkpoint({"x": 1}, tmp_path, step=1)
    save_checkpoint({"x": 2}, tmp_path, step=2)
    (tmp_path / LATEST).unlink()
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000002.pt"
    (tmp_path / "step_00000002.pt").write_bytes(b"junk")
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000001.pt"


def test_pointer_outside_the_directory_is_ignored(tmp_path: Path) -> None:
    save_checkpoint({"x": 1}, tmp_path, step=1)
    (tmp_path / LATEST).write_text("../../etc/passwd\n")
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000001.pt"


def test_pruning_keeps_the_newest(tmp_path: Path) -> None:
    for step in (10, 20, 30, 40, 50):
        save_checkpoint({"step": step}, tmp_path, step=step, keep=2)
    assert steps_in(tmp_path) == [
        LATEST,
        "step_00000040.pt",
        "step_00000040.pt.sha256",
        "step_00000050.pt",
        "step_00000050.pt.sha256",
    ]


def test_pruning_never_deletes_the_checkpoint_just_written(tmp_path: Path) -> None:
    # A run resumed from an earlier step writes below abandoned later checkpoints.
    for step in (100, 200):
        save_checkpoint({"step": step}, tmp_path, step=step)
    path = save_checkpoint({"step": 150}, tmp_path, step=150, keep=1)
    assert path.exists()
    assert latest_checkpoint(tmp_path) == path
    assert load_checkpoint(path) == {"step": 150}


@pytest.mark.parametrize("failing_call", [1, 2, 3], ids=["checkpoint", "sidecar", "pointer"])
def test_crash_during_save_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    good = save_checkpoint({"step": 100}, tmp_path, step=100)
    real_replace = os.replace
    calls = []

    def crash_on_nth(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == failing_call:
            raise OSError("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_nth)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint({"step": 200}, tmp_path, step=200)
    monkeypatch.undo()

    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    if failing_call == 1:
        assert not (tmp_path / "step_00000200.pt").exists()
    assert (tmp_path / LATEST).read_text().strip() == good.name
    assert latest_checkpoint(tmp_path) == good
    assert load_checkpoint(good) == {"step": 100}


def test_crash_inside_torch_save_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_checkpoint({"step": 1}, tmp_path, step=1)

    def half_then_die(obj: object, f: object) -> None:
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"step": 2}, tmp_path, step=2)
    assert steps_in(tmp_path) == [LATEST, "step_00000001.pt", "step_00000001.pt.sha256"]


def test_truncated_file_names_itself_and_the_previous_good(tmp_path: Path) -> None:
    save_checkpoint(training_state(), tmp_path, step=100)
    bad = save_checkpoint(training_state(1), tmp_path, step=200)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(bad)
    message = str(caught.value)
    assert str(bad) in message
    assert "truncated" in message
    assert f"previous good checkpoint is {tmp_path / 'step_00000100.pt'}" in message
    # The advice works: with the bad file moved aside, resuming finds the good one.
    bad.rename(tmp_path / "bad.pt")
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000100.pt"


def test_resume_falls_back_on_the_newest_checkpoint_that_loads(tmp_path: Path, capsys) -> None:
    assert load_newest_good(tmp_path) is None
    for step in (100, 200, 300):
        save_checkpoint(training_state(step), tmp_path, step=step, keep=3)
    for bad in ("step_00000300.pt", "step_00000200.pt"):
        (tmp_path / bad).write_bytes(b"torn")
    path, state = load_newest_good(tmp_path)
    assert path == tmp_path / "step_00000100.pt"
    assert_same(state, training_state(100))
    (warning,) = capsys.readouterr().err.splitlines()  # previous_good skips 200 by its checksum
    assert warning.startswith("warning: skipping step_00000300.pt: checkpoint")
    assert "fails its checksum" in warning and warning.endswith("resuming from step_00000100.pt")
    (tmp_path / "step_00000100.pt").write_bytes(b"torn")
    with pytest.raises(CheckpointError, match=r"no older checkpoint in .* verifies"):
        load_newest_good(tmp_path)


def test_one_flipped_byte_is_detected(tmp_path: Path) -> None:
    path = save_checkpoint(training_state(), tmp_path, step=3)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its checksum"):
        load_checkpoint(path)
    assert previous_good(path) is None


def test_missing_file_and_missing_sidecar(tmp_path: Path) -> None:
    good = save_checkpoint({"x": 1}, tmp_path, step=1)
    with pytest.raises(CheckpointError, match=r"step_00000009\.pt does not exist; the previous"):
        load_checkpoint(tmp_path / "step_00000009.pt")
    unsealed = save_checkpoint({"x": 2}, tmp_path, step=2)
    (tmp_path / "step_00000002.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="no checksum file") as caught:
        load_checkpoint(unsealed)
    assert str(good) in str(caught.value)


class WritesMarker:
    """Unpickling this calls open(marker, "w"): code execution that leaves evidence on disk."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (builtins.open, (str(self.marker), "w"))


def test_malicious_pickle_with_valid_checksum_is_refused(tmp_path: Path) -> None:
    good = save_checkpoint({"step": 100}, tmp_path, step=100)
    marker = tmp_path / "pwned"
    planted = tmp_path / "step_00000200.pt"
    torch.save({"model": {}, "payload": WritesMarker(marker)}, planted)
    digest = hashlib.sha256(planted.read_bytes()).hexdigest()
    (tmp_path / "step_00000200.pt.sha256").write_text(f"{digest}  {planted.name}\n")

    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(planted)
    assert not marker.exists()
    message = str(caught.value)
    assert str(planted) in message and "cannot be loaded safely" in message
    assert "open" in message and str(good) in message
    assert "weights_only=False" not in message

    # The payload is live: an unsafe load would have run it.
    torch.load(planted, weights_only=False)["payload"].close()
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a checkpoint at all", "cannot be loaded safely.*not a torch checkpoint"),
        (b"PK\x03\x04" + bytes(100), r"matches its checksum but torch\.load cannot read"),
    ],
    ids=["not-a-pickle", "broken-zip"],
)
def test_garbage_with_valid_checksum_is_refused(tmp_path: Path, content: bytes, match: str) -> None:
    planted = tmp_path / "step_00000001.pt"
    planted.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    (tmp_path / "step_00000001.pt.sha256").write_text(f"{digest}  {planted.name}\n")
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(planted)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"cfg": {"lr": np.float64(0.1)}}, r"state\['cfg'\]\['lr'\] is a numpy.float64"),
        ({"rng": [np.zeros(3)]}, r"state\['rng'\]\[0\] is a numpy.ndarray"),
        ({"fn": print}, r"state\['fn'\] is a builtins"),
    ],
)
def test_unloadable_state_fails_at_save_not_at_resume(
    tmp_path: Path, bad: dict, named: str
) -> None:
    with pytest.raises(CheckpointError, match=named):
        save_checkpoint(bad, tmp_path, step=1)
    assert not any(tmp_path.iterdir())


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep"):
        save_checkpoint({}, tmp_path, step=1, keep=0)
    with pytest.raises(ValueError, match="step"):
        save_checkpoint({}, tmp_path, step=-1)


# --- run folders from elsewhere: planted fields, links, pipes -------------------------------


def plant(directory: Path, step: int, state: dict) -> Path:
    """A checkpoint written by someone else: any state, with a checksum that matches it, and
    the ``latest`` pointer naming it."""
    path = directory / f"step_{step:08d}.pt"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (directory / f"{path.name}.sha256").write_text(f"{digest}  {path.name}\n")
    (directory / LATEST).write_text(f"{path.name}\n")
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("step", "7"),
        ("step", 10**15),
        ("step", -1),
        ("step", True),
        ("train_seconds", float("nan")),
        ("train_seconds", "12"),
        ("model", {0: torch.zeros(1)}),
        ("weighting", [torch.zeros(1)]),
        ("optimizer", {"state": {}}),
        ("rng", {"torch": torch.zeros(3)}),
        ("streams", {"position": 1}),
        ("sampler", [1, 2]),
        ("config", "name: x"),
        ("task_states", None),
        ("best", 0.5),
    ],
)
def test_planted_fields_of_the_wrong_type_or_range_name_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture, key: str, value: object
) -> None:
    good = save_checkpoint(training_state(), tmp_path, step=100)
    planted = plant(tmp_path, 200, {**training_state(), key: value})
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(planted)
    message = str(caught.value)
    assert message.startswith(f"checkpoint {planted} holds {key!r} = ")
    assert "\n" not in message and str(good) in message
    path, _ = load_newest_good(tmp_path)  # resume skips it, naming it, for the one before
    assert path == good
    warning = f"skipping {planted.name}: checkpoint {planted} holds {key!r}"
    assert warning in capsys.readouterr().err


def test_links_are_never_read_nor_pruned(tmp_path: Path) -> None:
    run, elsewhere = tmp_path / "checkpoints", tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = plant(elsewhere, 500, training_state())
    good = save_checkpoint({"step": 1}, run, step=1)
    for name in (theirs.name, f"{theirs.name}.sha256"):  # verifies, and is the newest
        (run / name).symlink_to(elsewhere / name)
    (run / LATEST).unlink()
    assert latest_checkpoint(run) == good
    (run / LATEST).symlink_to(elsewhere / "latest")
    (elsewhere / "latest").write_text(f"{theirs.name}\n")
    assert latest_checkpoint(run) == good  # a pointer that is a link is not read either
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(run / theirs.name)
    assert load_newest_good(run)[0] == good
    save_checkpoint({"step": 2}, run, step=2, keep=1)  # prunes step 1, leaves the links alone
    assert steps_in(run) == [
        LATEST,
        "step_00000002.pt",
        "step_00000002.pt.sha256",
        theirs.name,
        f"{theirs.name}.sha256",
    ]
    assert (run / theirs.name).is_symlink() and theirs.exists()


def test_a_checksum_file_that_links_out_is_not_read(tmp_path: Path) -> None:
    path = save_checkpoint({"step": 1}, tmp_path / "checkpoints", step=1)
    sidecar = path.with_name(f"{path.name}.sha256")
    (tmp_path / "outside.sha256").write_bytes(sidecar.read_bytes())
    sidecar.unlink()
    sidecar.symlink_to(tmp_path / "outside.sha256")
    with pytest.raises(CheckpointError, match=r"unreadable checksum file .*not a regular file"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", [LATEST, "step_00000002.pt", "step_00000001.pt.sha256"])
def test_pipes_and_devices_are_refused_without_blocking(tmp_path: Path, name: str) -> None:
    good = save_checkpoint({"step": 1}, tmp_path, step=1)
    (tmp_path / name).unlink(missing_ok=True)
    os.mkfifo(tmp_path / name)  # opening it to read would wait for a writer forever
    (tmp_path / "step_00000003.pt").symlink_to("/dev/zero")  # would hash forever
    (tmp_path / "step_00000003.pt.sha256").write_text(f"{'0' * 64}  step_00000003.pt\n")
    with guarded(10):
        if name.endswith(".sha256"):  # the one checkpoint has no checksum to read
            with pytest.raises(CheckpointError, match="unreadable checksum file"):
                load_newest_good(tmp_path)
        else:
            assert load_newest_good(tmp_path)[0] == good
        with pytest.raises(CheckpointError, match="not a regular file"):
            load_checkpoint(tmp_path / "step_00000003.pt")


def test_a_checkpoints_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "someone_elses_run" / "checkpoints"
    for step in (1, 2, 3):
        save_checkpoint({"step": step}, elsewhere, step=step, keep=3)
    linked = tmp_path / "run" / "checkpoints"
    linked.parent.mkdir()
    linked.symlink_to(elsewhere)
    for call in (latest_checkpoint, load_newest_good, lambda d: save_checkpoint({}, d, 4, keep=1)):
        with pytest.raises(CheckpointError, match=f"{linked}: a link"):
            call(linked)
    assert len(list(elsewhere.glob("*.pt"))) == 3  # nothing pruned there


def test_a_pickled_alias_bomb_is_refused_before_anything_spells_it_out(tmp_path):
    """Shared references make a few kB of pickle a 10¹⁰-value config; resume would compare it,
    print it in a warning and write it to run.json."""
    bomb: list = ["lol"]
    for _ in range(10):
        bomb = [bomb] * 10
    path = plant(tmp_path, 5, {"step": 5, "config": {"name": bomb}})
    assert path.stat().st_size < 10_000
    with guarded(10), pytest.raises(CheckpointError, match="shared so many times over"):
        load_checkpoint(path)
    fine = plant(tmp_path, 6, {"step": 6, "config": {"name": [["a"] * 10] * 100}})
    assert load_checkpoint(fine)["step"] == 6  # sharing that stays small is what pickles do
