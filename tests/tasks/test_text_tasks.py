"""Text through the step contract: fortune categories classified from a YAML file, a
sequence-to-sequence task trained with teacher forcing and decoded greedily, and fortunes
continued from their first halves through MultiModel's body (language modelling there)."""

import math
from pathlib import Path

import pytest
import torch

from sharedspace.config import from_dict
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.tasks.data import load_dataset
from sharedspace.tasks.text_data import Continuations, ReversalPairs, tokenizer_for
from sharedspace.tasks.views import DATA_VIEWS
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


def _continuations(data_dir, **fields):
    cfg = from_dict(Continuations.Config, {"vocab_size": 64, **fields})
    return cfg, Continuations.prepare("fortunes", cfg, str(data_dir), 0, "tasks.lm.data", {})


def test_a_continuation_is_a_documents_second_half_after_its_first(tiny_category_dir):
    cfg, data = _continuations(tiny_category_dir, seq_len=8, max_len=10)
    tokenizer = tokenizer_for("fortunes", cfg, str(tiny_category_dir), {})
    texts = load_dataset("fortunes", str(tiny_category_dir)).train
    documents = {tuple(ids) for ids in tokenizer.encode_batch(texts)}
    train_split = data.splits["train"]
    batch = train_split.get(torch.arange(len(train_split)))
    for x, x_mask, y, y_mask in zip(
        *(batch[k] for k in ("x", "x_mask", "y", "y_mask")), strict=True
    ):
        start, rest = x[x_mask].tolist(), y[y_mask].tolist()
        assert rest[-1] == 2 and len(start) == (len(start) + len(rest) - 1) // 2  # <eos> = 2
        assert tuple(start + rest[:-1]) in documents
    assert batch["x_mask"].sum(1).max() <= 8 and batch["y_mask"].sum(1).max() <= 10


def test_long_documents_are_dropped_and_warned_of_and_the_view_is_picked_by_name(
    tiny_category_dir,
):
    with pytest.warns(UserWarning) as caught:
        _, data = _continuations(tiny_category_dir, seq_len=4, max_len=6)
    why = "examples are of one token or longer than seq_len 4 / max_len 6 and are not scored"
    messages = [str(w.message) for w in caught]
    assert [f"validation {why}" in messages[0], f"test {why}" in messages[1]] == [True, True]
    assert data.splits["train"].get(torch.arange(1))["x"].shape == (1, 4)
    with pytest.raises(ConfigError, match=r"^tasks.lm.data: the train split of fortunes has no "):
        _continuations(tiny_category_dir, seq_len=1, max_len=1)
    assert DATA_VIEWS.pick("seq2seq", "fortunes", None) is ReversalPairs  # the usual reading
    assert DATA_VIEWS.pick("seq2seq", "fortunes", "continuations") is Continuations


def test_multimodel_continues_fortunes_better_than_their_word_frequencies(
    tiny_category_dir, tmp_path
):
    data = {"source": "fortunes", "view": "continuations", "seq_len": 8, "max_len": 10,
            "vocab_size": 64}  # fmt: skip
    space = {"name": "multimodel", "width": 32, "heads": 2, "encoder_blocks": 2, "mixer_blocks": 1,
             "decoder_blocks": 2, "experts": 4, "expert_width": 32, "max_len": 10}  # fmt: skip
    raw = {
        "name": "continue",
        "data_dir": str(tiny_category_dir),
        "out_dir": str(tmp_path),
        "tasks": {"lm": {"kind": "seq2seq", "modality": "text", "output": "text", "data": data}},
        "model": {
            "width": 32,
            "modalities": {"text": "text_embedding"},
            "space": space,
            "outputs": {"text": "language"},
        },
        "train": {"batch_size": 64, "lr": 3e-3, "warmup_steps": 20, "epochs": 3},
    }
    result = train(load_config(data=raw, overrides=["train.progress=false"]))
    (task,) = result.tasks
    targets = task.data.splits["train"].get(torch.arange(len(task.data.splits["train"])))
    counts = targets["y"][targets["y_mask"]].bincount().double()
    p = counts[counts > 0] / counts.sum()
    unigram = math.exp(-(p * p.log()).sum())  # the perplexity of the targets' word frequencies
    perplexity = result.metrics["validation"]["lm"]["perplexity"]
    assert perplexity < 0.75 * unigram, (perplexity, unigram)
