"""Tiny generated datasets in the real file formats, configs that train on them in seconds, and
a run killed mid-training."""

import json
from pathlib import Path

import numpy as np
import pytest

from sharedspace.config import ExperimentConfig
from sharedspace.resolve import load_config
from sharedspace.train import optimizers
from sharedspace.train.trainer import train
from tests.data.data_formats import write_idx


def learnable_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """28×28 images whose class is a bright horizontal band at one of 10 heights, plus noise."""
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 5 + 2 * label, 4:24] = 230
    return images.astype(np.uint8), labels.astype(np.uint8)


WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "box"]

# the categories configs/fortunes/category.yaml keeps
CATEGORIES = [
    "art", "computers", "education", "food", "law", "love", "politics", "science", "sports"
]  # fmt: skip


def write_learnable_images(
    folder: Path, n_train: int, n_test: int, rng: np.random.Generator
) -> None:
    """Fashion-MNIST's four gzipped IDX files, holding ``learnable_images``."""
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = learnable_images(n, rng)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


def write_fortunes(path: Path, n: int, rng: np.random.Generator) -> None:
    """One fortunes file: ``n`` entries of 12 random words, `%`-separated as Debian ships them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [" ".join(rng.choice(WORDS, 12)) + " ." for _ in range(n)]
    path.write_text("\n%\n".join(entries) + "\n%\n")


def write_categories(folder: Path, rng: np.random.Generator, n: int = 300) -> None:
    """One fortunes file per category in ``CATEGORIES``, ``n`` entries each: common words mixed
    with a few words typical of the category, so the category can be learned from the text."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in CATEGORIES:
        typical = [f"{name}{k}" for k in range(4)]
        entries = []
        for _ in range(n):
            words = list(rng.choice(WORDS, rng.integers(5, 12)))
            for _ in range(rng.integers(1, 3)):
                words.insert(rng.integers(0, len(words) + 1), str(rng.choice(typical)))
            entries.append(" ".join(words) + " .")
        (folder / name).write_text("\n%\n".join(entries) + "\n%\n")
        (folder / f"{name}.dat").write_bytes(b"index")  # as strfile writes beside it


def write_silver_trees(path: Path, sentences: list[str]) -> None:
    """``data download english_silver_trees``'s file: per sentence a JSON row of its words and
    a bracketed tree with XX for each word."""
    path.parent.mkdir(parents=True)
    lines = []
    for sentence in sentences:
        words = sentence.split()
        tree = "(S (NP " + " ".join("XX" for _ in words[:-1]) + " ) XX )"
        lines.append(json.dumps({"words": sentence, "tree": tree}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


IMAGE_DATA = {"source": "fashion_mnist", "train_size": 256, "val_size": 128, "eval_size": 128}
TEXT_DATA = {"source": "fortunes", "seq_len": 6, "vocab_size": 32, "stride": 3}
TASKS = {
    "classification": {"kind": "classification", "modality": "image", "data": IMAGE_DATA},
    "reconstruction": {"kind": "reconstruction", "modality": "image", "data": IMAGE_DATA},
    "next_word": {"kind": "language_model", "modality": "text", "data": TEXT_DATA},
}
# tiny_config overrides for the shared output side: a seq2seq task through a decoding space
# and a language output net, and classification through a categorical output net
SHARED_OUTPUTS = (
    "tasks.classification.output=labels",
    "+tasks.reverse={kind: seq2seq, modality: text, output: text, data: {source: fortunes, "
    "seq_len: 6, min_len: 2, vocab_size: 32}}",
    "~model.space",
    "model.space={name: decoder, embed_dim: 16, heads: 2, layers: 1, ff_dim: 32, max_len: 8}",
    "model.outputs={labels: categorical, text: language}",
)
# the same tasks with MultiModel's body as the decoding space: every block kind, small
MULTIMODEL_OUTPUTS = tuple(
    "model.space={name: multimodel, width: 16, heads: 2, encoder_blocks: 2, mixer_blocks: 1, "
    "decoder_blocks: 2, experts: 4, expert_width: 16, max_len: 8}"
    if override.startswith("model.space=")
    else override
    for override in SHARED_OUTPUTS
)
SMALL_MODEL = {
    "width": 64,
    "modalities": {
        "image": {"name": "image_cnn", "channels": [4, 8]},
        "text": {"name": "text_transformer", "embed_dim": 8, "heads": 2, "ff_dim": 16},
    },
    "space": {"name": "sus", "hidden": [48], "out_dim": 32},
}


def tiny_config(
    data_dir: Path, out_dir: Path, tasks=("classification",), overrides=(), **train
) -> ExperimentConfig:
    """A small model on the tiny data; ``train`` keys override the train section."""
    raw = {
        "name": "tiny",
        "data_dir": str(data_dir),
        "out_dir": str(out_dir),
        "tasks": {name: TASKS[name] for name in tasks},
        "model": SMALL_MODEL,
        "train": {"epochs": 1, "batch_size": 32, "warmup_steps": 2, "progress": False, **train},
    }
    return load_config(data=raw, overrides=list(overrides))


def compositional_features(
    attributes: int = 6, objects: int = 4, dim: int = 16, per_pair: int = 40, seed: int = 0
):
    """``PairFeatures`` whose pictures' features are compositional, as a zero-shot method needs:
    relu(attribute vector + object vector + noise), so an unseen pair's features follow from its
    attribute's and its object's. 3 validation-unseen and 3 test-unseen pairs; ``per_pair``
    training features of each seen pair, half as many of each pair in validation and test."""
    import torch

    from sharedspace.data.attribute_pairs import split_pairs
    from sharedspace.data.pair_features import PairFeatures

    g = torch.Generator().manual_seed(seed)
    split = split_pairs(
        tuple(f"attr{i}" for i in range(attributes)), tuple(f"obj{i}" for i in range(objects)), 3
    )
    a_vectors, o_vectors = (
        torch.randn(attributes, dim, generator=g),
        torch.randn(objects, dim, generator=g),
    )
    pair_sets = {
        "train": (split.seen, per_pair),
        "validation": (split.seen + split.validation_unseen, per_pair // 2),
        "test": (split.seen + split.test_unseen, per_pair // 2),
    }
    features, attrs, objs = {}, {}, {}
    for name, (pairs, n) in pair_sets.items():
        ids = torch.tensor(pairs).repeat_interleave(n, 0)  # (N, 2)
        noise = 0.3 * torch.randn(len(ids), dim, generator=g)
        features[name] = (a_vectors[ids[:, 0]] + o_vectors[ids[:, 1]] + noise).relu()
        attrs[name], objs[name] = ids[:, 0].clone(), ids[:, 1].clone()
    return PairFeatures(split, features, attrs, objs, {"made": "tests.tiny"})


def train_until_killed(cfg: ExperimentConfig, step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train ``cfg`` and stop it dead as step ``step`` starts (a KeyboardInterrupt where the
    learning rate is looked up), leaving what a kill leaves: its checkpoints up to then."""
    real_lr_at = optimizers.lr_at

    def crash(at: int, *args):
        if at == step:
            raise KeyboardInterrupt
        return real_lr_at(at, *args)

    monkeypatch.setattr(optimizers, "lr_at", crash)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.setattr(optimizers, "lr_at", real_lr_at)
