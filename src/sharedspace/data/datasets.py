"""What a dataset loader returns, and the registries that name the loaders.

Loaders return whole splits as in-memory tensors or lists of documents (DESIGN: datasets live in
memory; batches are indexed, never built sample by sample).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
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
    # superclass → the classes it holds (CIFAR-100's 20 coarse labels); empty for other datasets
    superclasses: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class TextSplits:
    """A text corpus as lists of documents (a fortune, a WikiText line, a paragraph).

    ``categories`` maps a split's name to one category per document of that split, in the same
    order (a fortune's file, a .txt file's stem), so a classifier can learn the category from the
    text; it is empty for a corpus without categories.
    """

    train: list[str]
    validation: list[str]
    test: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)


ImageLoader = Callable[[Path | None], ImageSplits]
TextLoader = Callable[[Path | None], TextSplits]

IMAGE_DATASETS: Registry[ImageLoader] = Registry("image dataset")
TEXT_CORPORA: Registry[TextLoader] = Registry("text corpus")


def split_by_index(docs: list[str], categories: list[str] | None = None) -> TextSplits:
    """Split a corpus with no official split, the same way on every machine and every run.

    Document i goes to test when i % 20 == 19, to validation when i % 20 == 18, else to train
    (90/5/5): no randomness, so a corpus always splits alike whatever the seed. ``categories``
    (one per document) are split alongside the documents.
    """
    if categories is not None and len(categories) != len(docs):
        raise ValueError(f"{len(categories)} categories for {len(docs)} documents")
    return TextSplits(
        **_by_index(docs), categories={} if categories is None else _by_index(categories)
    )


def _by_index(items: list[str]) -> dict[str, list[str]]:
    """The i % 20 rule of ``split_by_index``, keyed by split name."""
    return {
        "train": [x for i, x in enumerate(items) if i % 20 < 18],
        "validation": items[18::20],
        "test": items[19::20],
    }
