"""Text through the step contract: fortune categories classified from a YAML file, and a
sequence-to-sequence task trained with teacher forcing and decoded greedily."""

from pathlib import Path

import torch

from sharedspace.resolve import load_config
from sharedspace.train.trainer import train
from tests.tiny import CATEGORIES

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMALL = [
    "model.width=32",
    "model.modalities.text={name: text_encoder, embed_dim: 32, heads: 4, layers: 1, ff_dim: 64}",
    "model.space={name: sus, hidden: [32], out_dim: 32}",
    "train.progress=false",
]


def test_fortune_categories_train_from_the_yaml_file_and_beat_the_majority(
    tiny_category_dir, tmp_path
):
    cfg = load_config(
        CONFIGS / "fortunes" / "category.yaml",
        [f"data_dir={tiny_category_dir}", f"out_dir={tmp_path}", "train.epochs=6", *SMALL],
    )
    assert cfg.tasks["category"].data.config.categories == CATEGORIES
    result = train(cfg)
    (task,) = result.tasks
    assert task.data.target.classes == tuple(CATEGORIES)
    test = task.data.splits["test"]
    batch = test.get(torch.arange(len(test)))
    assert batch["x_mask"].any(1).all() and not batch["x_mask"].all()  # padded, never empty
    majority = batch["y"].bincount().max().item() / len(test)
    accuracy = result.metrics["test"]["category"]["accuracy"]
    assert accuracy > majority + 0.2, (accuracy, majority)


def test_reversal_trains_with_teacher_forcing_and_decodes_greedily(tiny_category_dir, tmp_path):
    data = {"source": "fortunes", "seq_len": 6, "min_len": 3, "vocab_size": 64}
    head = {"embed_dim": 32, "heads": 4, "layers": 2, "ff_dim": 64, "max_len": 8}
    raw = {
        "name": "reverse",
        "data_dir": str(tiny_category_dir),
        "out_dir": str(tmp_path),
        "tasks": {"reverse": {"kind": "seq2seq", "modality": "text", "data": data, "head": head}},
        "train": {"sampler": "all", "batch_size": 64, "lr": 3e-3, "warmup_steps": 20},
    }
    cfg = load_config(data=raw, overrides=[*SMALL, "model.space=none", "train.epochs=12"])
    result = train(cfg)
    (task,) = result.tasks
    batch = task.data.splits["validation"].get(torch.arange(4))
    assert batch["x_mask"].sum(1).tolist() != [6] * 4  # inputs of unequal length
    validation = result.metrics["validation"]["reverse"]
    assert validation["exact_match"] >= 0.95, validation
    predicted = result.model.predict(0, batch)
    width = batch["y"].shape[1]
    assert predicted.shape[1] <= width and predicted[:, 0].tolist() == [
        row[n - 1]
        for row, n in zip(batch["x"].tolist(), batch["x_mask"].sum(1).tolist(), strict=True)
    ]  # the first word out is the last word in
