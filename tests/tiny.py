"""Tiny generated datasets in the real file formats, and configs that train on them in seconds."""

import gzip
import struct
from pathlib import Path

import numpy as np

from sharedspace.config import ExperimentConfig
from sharedspace.resolve import load_config


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (gzip) as Fashion-MNIST ships it: magic, big-endian dims, then uint8 data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def learnable_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """28×28 images whose class is a bright horizontal band at one of 10 heights, plus noise."""
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 5 + 2 * label, 4:24] = 230
    return images.astype(np.uint8), labels.astype(np.uint8)


WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "box"]


IMAGE_DATA = {"source": "fashion_mnist", "train_size": 256, "val_size": 128, "eval_size": 128}
TEXT_DATA = {"source": "fortunes", "seq_len": 6, "vocab_size": 32, "stride": 3}
TASKS = {
    "classification": {"kind": "classification", "modality": "image", "data": IMAGE_DATA},
    "reconstruction": {"kind": "reconstruction", "modality": "image", "data": IMAGE_DATA},
    "next_word": {"kind": "language_model", "modality": "text", "data": TEXT_DATA},
}
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
