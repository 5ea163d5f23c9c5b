"""Each task on the tiny data: batch shapes, metric definitions, and overfitting one tiny batch."""

import math

import pytest
import torch

from sharedspace.errors import ConfigError
from sharedspace.model import build_model
from sharedspace.resolve import load_config
from sharedspace.tasks import build_tasks
from sharedspace.train.trainer import train
from tests.data.data_formats import write_cifar100
from tests.tiny import tiny_config

NAMES = ["classification", "reconstruction", "next_word"]


@pytest.fixture(scope="module")
def built(tiny_data_dir, tmp_path_factory):
    cfg = tiny_config(tiny_data_dir, tmp_path_factory.mktemp("runs"), tasks=NAMES)
    tasks = build_tasks(cfg)
    return cfg, tasks


def test_splits_have_the_configured_sizes(built):
    _, tasks = built
    cls, rec, lm = tasks
    assert [len(cls.data.splits[s]) for s in ("train", "validation", "test")] == [256, 128, 128]
    batch = cls.data.splits["train"].get(torch.arange(4))
    assert batch["x"].shape == (4, 1, 28, 28) and batch["x"].dtype == torch.uint8
    text = lm.data.splits["train"].get(torch.tensor([0, 1]))
    assert text["x"].shape == (2, 6) and text["y"].shape == (2,)
    stream = lm.data.splits["train"].stream
    assert torch.equal(text["x"][1], stream[3:9]) and text["y"][1] == stream[9]  # stride 3
    assert cls.data.target.kind == "classes" and len(cls.data.target.classes) == 10
    assert rec.data.spec == cls.data.spec and rec.data.target.shape == (1, 28, 28)
    assert lm.data.target.vocab_size == lm.data.spec.vocab_size


@pytest.mark.parametrize("index", range(3), ids=NAMES)
def test_each_task_overfits_a_tiny_batch(built, index):
    cfg, tasks = built
    torch.manual_seed(0)
    model = build_model(cfg, tasks)
    task = tasks[index]
    batch = task.data.splits["train"].get(torch.arange(16))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        terms = task.loss(model(index, batch)[0], batch)
        assert terms.sums.shape == (16,)
        loss = terms.mean(task.reduction)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first, (first, loss.item())


def test_metrics_follow_their_definitions(built):
    _, (cls, rec, lm) = built
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    sums = cls.metric_sums(logits, {"y": torch.tensor([0, 0, 0])})
    m = cls.metrics({k: float(v) for k, v in sums.items()})
    assert m["accuracy"] == pytest.approx(2 / 3)
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 0, 0])).item()
    assert m["loss"] == pytest.approx(expected)

    x = torch.full((2, 1, 2, 2), 255, dtype=torch.uint8)  # target 1.0 everywhere
    out = torch.full((2, 1, 2, 2), 0.5)
    m = rec.metrics({k: float(v) for k, v in rec.metric_sums(out, {"x": x}).items()})
    assert m["mse_pixel_01"] == pytest.approx(0.25)
    assert m["mse_pixel_255"] == pytest.approx(0.25 * 255**2)
    assert m["sse_image_01"] == pytest.approx(0.25 * 4)

    logits = torch.zeros(4, 8)  # uniform over 8 words → perplexity 8; a pad target is skipped
    y = torch.tensor([3, 5, 0, 7])
    m = lm.metrics({k: float(v) for k, v in lm.metric_sums(logits, {"y": y}).items()})
    assert m["perplexity"] == pytest.approx(8.0) and m["loss"] == pytest.approx(math.log(8))


def test_tasks_on_class_subsets_of_one_dataset_share_its_image_cap(tiny_data_dir, tmp_path):
    """Statistics come from the whole dataset, so class-subset tasks give the cap one spec."""
    from sharedspace.data import DATASETS
    from sharedspace.resolve import load_config

    names = DATASETS.get("fashion_mnist").load(tiny_data_dir).classes
    data = {"source": "fashion_mnist", "val_size": 20, "eval_size": 50}
    subsets = {"first": names[:3], "later": [names[7], names[4]]}
    raw = {
        "name": "subsets",
        "data_dir": str(tiny_data_dir),
        "out_dir": str(tmp_path),
        "tasks": {
            name: {"kind": "classification", "modality": "image", "data": {**data, "classes": kept}}
            for name, kept in subsets.items()
        },
        "model": {"width": 16, "space": {"name": "sus", "hidden": [16], "out_dim": 8}},
    }
    cfg = load_config(data=raw)
    first, later = build_tasks(cfg)
    assert first.data.spec == later.data.spec and first.data.target.classes == tuple(names[:3])
    model = build_model(cfg, [first, later])
    assert list(model.caps) == ["image"] and model.heads["1"].out_features == 2
    full = DATASETS.get("fashion_mnist").load(tiny_data_dir)
    for task, kept in ((first, [0, 1, 2]), (later, [7, 4])):
        test = task.data.splits["test"]
        assert set(test.labels.tolist()) <= set(range(len(kept)))
        # the relabelled test images are exactly the official ones of the kept classes, in order
        mask = torch.isin(full.test_labels, torch.tensor(kept))
        assert torch.equal(test.inputs, full.test_images[mask][: len(test)])
        assert torch.equal(torch.tensor(kept)[test.labels], full.test_labels[mask][: len(test)])


def test_the_cifar100_mtl_config_trains_one_five_way_task_per_superclass(tmp_path):
    """configs/mtl/cifar100.yaml on a CIFAR-100 fixture whose superclasses carry the config's
    names: each task gets the five fine classes of its superclass (small sizes and model)."""
    cfg = load_config("configs/mtl/cifar100.yaml")
    write_cifar100(
        tmp_path / "cifar-100-python", n_train=200, n_test=100, coarse_names=list(cfg.tasks)
    )
    sizes = [f"tasks.{t}.data.{k}" for t in cfg.tasks for k in ("train_size=8", "val_size=2")]
    small = ["model.space.experts=2", "model.space.expert.channels=[4]", "train.max_steps=3"]
    cfg = load_config(
        "configs/mtl/cifar100.yaml",
        [f"data_dir={tmp_path}", f"out_dir={tmp_path}", *sizes, *small, "train.batch_size=4"],
    )
    result = train(cfg)
    assert len(result.tasks) == 20
    for i, task in enumerate(result.tasks):
        assert task.data.target.classes == tuple(f"fine{5 * i + j}" for j in range(5))
        assert len(task.data.splits["test"]) == 5 and len(task.data.splits["train"]) == 8
    assert set(result.metrics["test"]) == set(cfg.tasks)
    wrong = load_config(
        "configs/mtl/cifar100.yaml",
        [f"data_dir={tmp_path}", *sizes, "tasks.fish.data.superclass=fishes"],
    )
    with pytest.raises(ConfigError, match=r"tasks.fish.data.superclass: 'fishes' — one of: aqua"):
        build_tasks(wrong)
