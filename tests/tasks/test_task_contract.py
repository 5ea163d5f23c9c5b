"""Every registered task kind keeps the contract on every kind of data it reads and every
representation form its head accepts: per-example losses (B,), gradients into the whole head,
metrics from sums, and a prediction path where it decodes."""

import math

import pytest
import torch

from sharedspace.config import from_dict
from sharedspace.parts import collect
from sharedspace.representation import PaddedSequence
from sharedspace.tasks import TASKS
from sharedspace.tasks.views import DATA_VIEWS

CASES = [
    (name, kind, view, form)
    for name, kind, view, _ in DATA_VIEWS
    for form in TASKS.get(name).accepts
]
FIELDS = {
    "image": {"train_size": 64, "val_size": 16, "eval_size": 16},
    "text": {"vocab_size": 64},
    "bits": {"train_size": 64, "val_size": 16, "test_size": 16, "parity": [0, 1]},
}


@pytest.fixture(scope="module")
def sources(tiny_data_dir, tiny_category_dir):
    """kind of data → (source, data_dir): the category fixture for text, as it has categories."""
    return {
        "image": ("fashion_mnist", tiny_data_dir),
        "text": ("fortunes", tiny_category_dir),
        "bits": ("random_bits", None),
    }


@pytest.mark.parametrize(("name", "kind", "view", "form"), CASES)
def test_task_contract(name, kind, view, form, sources):
    cls = TASKS.get(name)
    view = DATA_VIEWS.of(name)[kind][view]
    source, data_dir = sources[kind]
    data = view.prepare(
        source,
        from_dict(view.Config, FIELDS[kind]),
        data_dir and str(data_dir),
        0,
        "tasks.t.data",
        {},
    )
    assert set(data.splits) == {"train", "validation", "test"} and data.spec.kind == kind
    assert data.target.kind == view.target
    task = cls("t", 0, kind, from_dict(cls.Config, {}), data)
    torch.manual_seed(0)
    head = task.build_head(16)
    batch = data.splits["train"].get(torch.arange(4))
    z = torch.randn(4, 16) if form == "vector" else PaddedSequence(
        torch.randn(4, 3, 16), torch.tensor([[True, True, True], [True, False, False]] * 2)
    )  # fmt: skip
    output = head(z, batch)  # only the output: aux losses are emitted (parts.emit)
    assert set(collect(head.modules())) <= set(cls.aux_losses)
    terms = task.loss(output, batch)
    assert terms.sums.shape == terms.weights.shape == (4,) and (terms.weights >= 0).all()
    assert torch.isfinite(terms.losses()).all() and cls.reduction in ("example", "token")
    terms.mean(cls.reduction).backward()
    missing = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reaches {missing}"
    prediction = head.predict(z) if cls.decodes else None
    if prediction is not None:
        assert prediction.dtype == torch.long and prediction.shape[0] == 4
    sums = task.metric_sums(output.detach(), batch, prediction)
    metrics = task.metrics({k: float(v) for k, v in sums.items()})
    assert set(metrics) >= {"loss"} and all(math.isfinite(v) for v in metrics.values())
    assert set(metrics) <= set(cls.goals), (
        f"metrics without a goal: {set(metrics) - set(cls.goals)}"
    )
    assert set(cls.goals.values()) <= {"max", "min"}
