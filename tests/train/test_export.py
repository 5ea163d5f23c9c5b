"""Weights files: safetensors with the tasks' data state, read back exactly or refused in one
line; the best-weights tracker follows each metric's goal."""

import math
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from sharedspace.errors import CheckpointError
from sharedspace.tasks import TASKS
from sharedspace.train.export import (
    FORMAT,
    HEADER_LIMIT,
    BestWeights,
    load_weights,
    save_weights,
)


class Tied(nn.Module):
    """Two names for one weight, which safetensors refuses unless the tensors are copied."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)
        self.b.weight = self.a.weight


def test_weights_round_trip_with_task_states_and_info(tmp_path):
    model = Tied()
    states = {"next_word": {"tokenizer": {"kind": "word", "words": ["a", "b"]}}}
    path = save_weights(model, states, tmp_path / "w.safetensors", step=7, metric="t.m")
    tensors, task_states, info = load_weights(path)
    assert task_states == states and info == {"step": 7, "metric": "t.m"}
    fresh = Tied()
    fresh.load_state_dict(tensors)
    for name, value in model.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[name]), name


def test_unreadable_or_foreign_files_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_weights(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_weights(tmp_path / "junk.safetensors")
    save_file({"w": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="not written by a sharedspace run"):
        load_weights(tmp_path / "other.safetensors")


class FakeTask:
    def __init__(self, name, kind):
        self.name, self.goals = name, TASKS.get(kind).goals


def test_best_weights_follow_the_metric_goal_and_ignore_nan():
    tasks = [FakeTask("cls", "classification"), FakeTask("rec", "reconstruction")]
    higher = BestWeights("cls.accuracy", tasks)
    seen = [higher.improves(s, "cls", {"accuracy": v}) for s, v in [(1, 0.5), (2, 0.4), (3, 0.7)]]
    assert seen == [True, False, True] and (higher.step, higher.value) == (3, 0.7)
    assert not higher.improves(4, "rec", {"accuracy": 0.9})  # another task's numbers
    assert not higher.improves(5, "cls", {"accuracy": math.nan})
    lower = BestWeights("rec.mse_pixel_01", tasks)
    lower.load_state_dict({"value": 0.2, "step": 10})  # as resumed from a checkpoint
    assert not lower.improves(11, "rec", {"mse_pixel_01": 0.3})
    assert lower.improves(12, "rec", {"mse_pixel_01": 0.1}) and lower.state_dict() == {
        "value": 0.1,
        "step": 12,
    }
    assert not BestWeights(None, tasks).improves(1, "cls", {"accuracy": 1.0})


def _weights(path, **metadata):
    """A weights file with one tensor and exactly ``metadata`` (str values)."""
    save_file({"w": torch.zeros(2)}, path, metadata={"format": FORMAT, **metadata})
    return path


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"step": "7"}, r"lacks 'task_states' \(the tasks' data state"),
        ({"task_states": "[]", "step": "7"}, r"'task_states' is a list, expected the tasks' data"),
        ({"task_states": "{}"}, r"lacks 'step' \(the step, an integer\)"),
        ({"task_states": "{}", "step": '"7"'}, r"'step' is a str, expected the step, an integer"),
        ({"task_states": "{}", "step": "true"}, r"'step' is a bool"),
        ({"task_states": "{}", "step": "7", "metric": "3"}, r"'metric' is a int"),
        ({"task_states": "{}", "step": "7", "value": '"low"'}, r"'value' is a str"),
        ({"task_states": "{", "step": "7"}, r"metadata 'task_states': not valid JSON"),
        ({"task_states": "[" * 100_000, "step": "7"}, r"'task_states': JSON nested too deeply"),
    ],
)
def test_metadata_of_the_wrong_shape_is_one_line_naming_the_key(tmp_path, metadata, message):
    path = _weights(tmp_path / "w.safetensors", **metadata)
    with pytest.raises(CheckpointError, match=rf"^{tmp_path}/w\.safetensors: .*{message}") as err:
        load_weights(path)
    assert "\n" not in str(err.value)


# load_weights in a child process: a regression that blocks (holding the GIL) fails the test
READ_IN_A_CHILD = """
import sys
from sharedspace.errors import CheckpointError
from sharedspace.train.export import load_weights
for path in sys.argv[1:]:
    try:
        load_weights(path)
    except CheckpointError as err:
        print(err)
"""


def test_only_a_regular_file_with_a_bounded_header_is_read(tmp_path):
    """A FIFO (or a link to one) blocked ``evaluate`` for ever in the library's open; a header
    declaring more than the library reads is refused before a byte of it is read."""
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    link = tmp_path / "link.safetensors"
    link.symlink_to(fifo)
    child = [sys.executable, "-c", READ_IN_A_CHILD, str(fifo), str(link)]
    done = subprocess.run(child, capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    assert [line.partition(": ")[::2] for line in lines] == [
        (str(path), "not a regular file (a folder, device, pipe or socket)")
        for path in (fifo, link)
    ], done.stdout
    lying = tmp_path / "lying.safetensors"
    lying.write_bytes((HEADER_LIMIT + 1).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match=f"a header of {HEADER_LIMIT + 1:,} bytes, more"):
        load_weights(lying)
