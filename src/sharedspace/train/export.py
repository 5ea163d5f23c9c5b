"""Trained weights without the optimizer: the safetensors files a run keeps and ``load_run`` reads.

A resume checkpoint also holds the optimizer's moments (Adam: 3× the weights) and is replaced as
training goes on; what a researcher keeps is the weights — ``model.safetensors`` after the last
step, ``best.safetensors`` at the best validation value of ``train.keep_best``. The tasks' data
state (tokenizers) and where the weights come from ride in the file's metadata as JSON, so one
file and the run's ``config.yaml`` rebuild the model. A safetensors file holds no code: one from
elsewhere can fail to load, never execute anything. Nor can it stall or crash the reader: only a
regular file with a bounded header is opened, each metadata value must be JSON of the type
written here, and ``load_run`` rebuilds the tokenizers from their data, never trusting a setting.
"""

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save
from torch import nn

from sharedspace.errors import CheckpointError
from sharedspace.files import atomic_write
from sharedspace.tasks import Task
from sharedspace.untrusted import read_tagged_safetensors

FORMAT = "sharedspace.weights"
# the header holds tensor names and shapes and the tokenizers (a 1M-token BPE takes 40-85 MB):
# the safetensors library's own limit, checked before it reads anything
HEADER_LIMIT = 100_000_000
# the metadata load_weights reads: key -> (JSON types, what the error says, whether every file
# has it; the best weights add the metric and its value)
INFO_TYPES: dict[str, tuple[tuple[type, ...], str, bool]] = {
    "task_states": ((dict,), "the tasks' data state, a JSON object", True),
    "step": ((int,), "the step, an integer", True),
    "metric": ((str,), "task.metric, a string", False),
    "value": ((float, int), "the metric's value, a number", False),
}


def save_weights(model: nn.Module, task_states: dict[str, Any], path: Path, **info: Any) -> Path:
    """Write ``model``'s state dict atomically to ``path`` with the task states and ``info``
    (step, metric, …; JSON values) in the metadata."""
    # clone: safetensors refuses tensors that share memory (tied weights, views)
    tensors = {
        k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()
    }
    metadata = {"format": FORMAT, "task_states": json.dumps(task_states)}
    metadata |= {key: json.dumps(value) for key, value in info.items()}
    data = save(tensors, metadata=metadata)
    atomic_write(Path(path), lambda f: f.write(data))
    return Path(path)


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """``path`` → (state dict, task states, info) as ``save_weights`` wrote them. The file may
    come from anyone: it must be a regular file whose header (the metadata) is at most
    ``HEADER_LIMIT`` bytes, and each metadata value must be JSON of the type sharedspace writes."""
    other = "it was not written by a sharedspace run"
    tensors, info = read_tagged_safetensors(
        Path(path), HEADER_LIMIT, FORMAT, CheckpointError, other
    )
    for key, (types, expected, required) in INFO_TYPES.items():
        if key not in info and required:
            raise CheckpointError(f"{path}: its metadata lacks {key!r} ({expected})")
        if key in info and type(info[key]) not in types:
            shown = type(info[key]).__name__
            raise CheckpointError(f"{path}: metadata {key!r} is a {shown}, expected {expected}")
    return tensors, info.pop("task_states"), info


class BestWeights:
    """``train.keep_best``: the best validation value of one task's metric so far and its step;
    each new best's weights go to ``best.safetensors``. Its state rides in the checkpoint, so a
    resumed run compares against what the killed one had seen."""

    def __init__(self, spec: str | None, tasks: list[Task]) -> None:
        self.task, _, self.metric = (spec or "").partition(".")
        self.spec = spec
        goals = next((task.goals for task in tasks if task.name == self.task), {})
        self.sign = 1.0 if goals.get(self.metric) == "max" else -1.0
        self.value: float | None = None
        self.step: int | None = None

    def improves(self, step: int, task: str, values: dict[str, float]) -> bool:
        """Record ``values`` (one task's validation metrics at ``step``); True for a new best."""
        if self.spec is None or task != self.task:
            return False
        value = values.get(self.metric)  # absent: a validation that did not decode
        if value is None or not math.isfinite(value):
            return False
        if self.value is not None and self.sign * value <= self.sign * self.value:
            return False
        self.value, self.step = float(value), step
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value, self.step = state["value"], state["step"]
