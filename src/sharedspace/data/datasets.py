"""What a dataset loader returns, and the registries that name the loaders.

Loaders return whole splits as in-memory tensors or lists of documents (DESIGN: datasets live in
memory; batches are indexed, never built sample by sample).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from sharedspace.registry import Registry


@dataclass
class ImageSplits:
    """An image classification dataset with its official train/test split.

    Images are uint8 (N, C, H, W) so a batch is converted and normalised in one step.
    """

    train_images: torch.Tensor  # (N, C, H, W) uint8
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor  # (M, C, H, W) uint8
    test_labels: torch.Tensor  # (M,) int64
    classes: list[str]


@dataclass
class TextSplits:
    """A text corpus as lists of documents (a fortune, a WikiText line, a paragraph)."""

    train: list[str]
    validation: list[str]
    test: list[str]


ImageLoader = Callable[[Path | None], ImageSplits]
TextLoader = Callable[[Path | None], TextSplits]

IMAGE_DATASETS: Registry[ImageLoader] = Registry("image dataset")
TEXT_CORPORA: Registry[TextLoader] = Registry("text corpus")


def split_by_index(docs: list[str]) -> TextSplits:
    """Split a corpus with no official split, the same way on every machine and every run.

    Document i goes to test when i % 20 == 19, to validation when i % 20 == 18, else to train
    (90/5/5): no randomness, so a corpus always splits alike whatever the seed.
    """
    return TextSplits(
        train=[d for i, d in enumerate(docs) if i % 20 < 18],
        validation=docs[18::20],
        test=docs[19::20],
    )
