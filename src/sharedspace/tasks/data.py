"""Turn a dataset into a task's in-memory splits, indexed one whole batch at a time.

Images stay uint8 (N, C, H, W); text is one int64 token stream per split read through sliding
windows (a view, no copy). ``get(idx)`` returns a batch dict in one vectorised step — no
per-sample Python in the training loop.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from sharedspace.config import DataConfig
from sharedspace.data import (
    IMAGE_DATASETS,
    TEXT_CORPORA,
    TOKENIZERS,
    encode_stream,
    tokenizer_from_state,
)
from sharedspace.errors import ConfigError
from sharedspace.modalities import ImageSpec, TextSpec

SPLITS = ("train", "validation", "test")


class Split(Protocol):
    def __len__(self) -> int: ...
    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]: ...
    def head(self, n: int | None) -> "Split": ...


@dataclass
class ImageSplit:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"x": self.images[idx], "y": self.labels[idx]}

    def head(self, n: int | None) -> "ImageSplit":
        return ImageSplit(self.images[:n], self.labels[:n])


@dataclass
class TokenWindows:
    """Windows of ``seq_len`` tokens and the token after each, ``stride`` apart in the stream."""

    stream: torch.Tensor  # (L,) int64
    seq_len: int
    stride: int = 1

    def __len__(self) -> int:
        return max(0, (len(self.stream) - self.seq_len - 1) // self.stride + 1)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        offsets = torch.arange(self.seq_len + 1)
        windows = self.stream[idx[:, None] * self.stride + offsets]  # (B, T + 1)
        return {"x": windows[:, :-1], "y": windows[:, -1]}

    def head(self, n: int | None) -> "TokenWindows":
        """The first ``n`` windows (all when None)."""
        end = None if n is None else (n - 1) * self.stride + self.seq_len + 1
        return TokenWindows(self.stream[:end], self.seq_len, self.stride)


@dataclass
class TaskData:
    splits: dict[str, Split]  # train / validation / test
    spec: Any  # the modality cap's input description (ImageSpec, TextSpec)
    classes: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # what must be saved to rebuild it


@functools.lru_cache(maxsize=8)
def _load_images(source: str, data_dir: str | None):
    return IMAGE_DATASETS.get(source)(Path(data_dir) if data_dir else None)


@functools.lru_cache(maxsize=8)
def _load_corpus(source: str, data_dir: str | None):
    return TEXT_CORPORA.get(source)(Path(data_dir) if data_dir else None)


def prepare_images(cfg: DataConfig, data_dir: str | None, seed: int, key: str) -> TaskData:
    """Validation is carved from the training set by a seeded shuffle; test is the official one."""
    ds = _load_images(cfg.source, data_dir)
    n = len(ds.train_labels)
    train_size = n - cfg.val_size if cfg.train_size is None else cfg.train_size
    if cfg.val_size < 0 or train_size <= 0 or cfg.val_size + train_size > n:
        raise ConfigError(
            f"{key}: val_size {cfg.val_size} + train_size {cfg.train_size} must fit in the "
            f"{n} training images of {cfg.source}"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[: cfg.val_size], order[cfg.val_size : cfg.val_size + train_size]
    train_images = ds.train_images[train]
    pixels = train_images.transpose(0, 1).flatten(1).float() / 255  # (C, N*H*W)
    _, c, h, w = train_images.shape
    spec = ImageSpec(c, h, w, tuple(pixels.mean(1).tolist()), tuple(pixels.std(1).tolist()))
    splits = {
        "train": ImageSplit(train_images, ds.train_labels[train]),
        "validation": ImageSplit(ds.train_images[val], ds.train_labels[val]).head(cfg.eval_size),
        "test": ImageSplit(ds.test_images, ds.test_labels).head(cfg.eval_size),
    }
    return TaskData(splits, spec, classes=list(ds.classes))


def prepare_text(
    cfg: DataConfig, data_dir: str | None, key: str, tokenizer_state: dict | None = None
) -> TaskData:
    """The tokenizer is fitted on the training split only, or restored from a checkpoint."""
    corpus = _load_corpus(cfg.source, data_dir)
    if tokenizer_state is None:
        tokenizer = TOKENIZERS.get(cfg.tokenizer)(corpus.train, cfg.vocab_size)
    else:
        tokenizer = tokenizer_from_state(tokenizer_state)
    splits = {}
    for split in SPLITS:
        stream = encode_stream(tokenizer, getattr(corpus, split))
        stride = cfg.stride if split == "train" else 1  # held out: every token after the first T
        limit = cfg.train_size if split == "train" else cfg.eval_size
        splits[split] = TokenWindows(stream, cfg.seq_len, stride).head(limit)
        if len(splits[split]) == 0:
            raise ConfigError(
                f"{key}: the {split} split of {cfg.source} has {len(stream)} tokens, "
                f"too few for seq_len {cfg.seq_len}"
            )
    spec = TextSpec(tokenizer.vocab_size, cfg.seq_len)
    return TaskData(splits, spec, state={"tokenizer": tokenizer.state_dict()})
