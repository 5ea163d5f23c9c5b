"""The registry-wide checks of data kinds, datasets and data views, as functions: the
parametrised tests (test_data_kinds.py) run them over every registered entry, and a kind of data
written in a test file runs them over itself (tests/tasks/test_new_data_kind.py)."""

import dataclasses

import pytest
import torch

from sharedspace.data import DATA_KINDS, DATASETS, TARGET_KINDS
from sharedspace.registry import Registry
from sharedspace.tasks import TASKS
from sharedspace.tasks.data import SPLITS, DataView, Sizes, TaskData
from sharedspace.tasks.views import DATA_VIEWS


def check_data_kind(name: str) -> None:
    """The spec class names its kind, and its example batch is seeded, batched and, where
    padded, masked with a full first row and no empty one."""
    spec = DATA_KINDS.get(name).toy()
    assert spec.kind == name
    batch = spec.example(5, torch.Generator().manual_seed(0))
    again = spec.example(5, torch.Generator().manual_seed(0))
    assert set(batch) in ({"x"}, {"x", "x_mask"}) and batch["x"].shape[0] == 5
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    if "x_mask" in batch:
        mask = batch["x_mask"]
        assert mask.dtype == torch.bool and mask.shape == batch["x"].shape[:2]
        assert mask[0].all() and mask.any(1).all() and not mask.all()


def check_dataset(name: str) -> None:
    """An entry names its kind (a registered one), its splits type and a documented loader,
    and some task kind has a view of its kind."""
    entry = DATASETS.get(name)
    assert entry.name == name and entry.kind in DATA_KINDS
    assert isinstance(entry.splits, type) and callable(entry.load) and entry.load.__doc__
    assert any(kind == entry.kind for _, kind, _, _ in DATA_VIEWS), f"no task reads {name}"


def check_view(task_kind: str, data_kind: str, name: str, view: type[DataView]) -> None:
    """A view is filed under its own kind and name, reads a registered data kind, yields a
    target kind its task kind's head produces, and has a Config of data fields."""
    assert task_kind in TASKS and data_kind in DATA_KINDS
    assert (view.kind, view.name) == (data_kind, name)
    assert view.target in TARGET_KINDS and view.target in TASKS.get(task_kind).targets
    assert dataclasses.is_dataclass(view.Config) and issubclass(view.Config, Sizes)


def check_prepared(view: type[DataView], data: TaskData) -> None:
    """Prepared data has every split, specs of the view's kinds, and batches whose inputs look
    like its spec's example (same trailing shape and dtype)."""
    assert set(data.splits) == set(SPLITS)
    assert type(data.spec) is DATA_KINDS.get(view.kind) and data.spec.kind == view.kind
    assert type(data.target) is TARGET_KINDS.get(view.target) and data.target.kind == view.target
    x = data.splits["train"].get(torch.arange(2))["x"]
    example = data.spec.example(2)["x"]
    assert x.shape == example.shape and x.dtype == example.dtype


def isolate(monkeypatch: pytest.MonkeyPatch, *registries: Registry) -> None:
    """What a test registers in ``registries`` and ``DATA_VIEWS`` is gone after it."""
    for registry in registries:
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    views = {task: {kind: dict(named) for kind, named in kinds.items()}
             for task, kinds in DATA_VIEWS._views.items()}  # fmt: skip
    monkeypatch.setattr(DATA_VIEWS, "_views", views)
