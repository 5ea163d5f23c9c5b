"""The one dataset registry, and what its loaders return.

Every dataset a config can name (``tasks.<t>.data.source``) is one ``DATASETS`` entry that
declares its data kind (a ``DATA_KINDS`` name: image, text, bits, …) and the type its loader
returns, so a new kind of data is a new spec class and new loaders, with no table to edit.
Loaders return whole splits as in-memory tensors or lists of documents (DESIGN: datasets live in
memory; batches are indexed, never built sample by sample).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from sharedspace.data.specs import DATA_KINDS
from sharedspace.data.text_scorer import TextScorer
from sharedspace.registry import Registry

L = TypeVar("L", bound=Callable[..., Any])


@dataclass(frozen=True)
class Dataset:
    """One entry of ``DATASETS``.

    ``load`` is the public loader function: ``(data_dir: Path | None) → splits`` for a stored
    dataset; a generator takes its kind's arguments instead (bits: ``(count, bits, seed)``).
    ``splits`` is the type ``load`` returns (ImageSplits, TextSplits; a uint8 tensor for bits).
    """

    name: str
    kind: str  # a DATA_KINDS name: which caps read it, which data views make tasks of it
    splits: type
    load: Callable[..., Any]


DATASETS: Registry[Dataset] = Registry("dataset")


def dataset(name: str, kind: str, splits: type) -> Callable[[L], L]:
    """Register the decorated loader as dataset ``name`` of data kind ``kind``; the loader
    itself stays a plain public function."""
    DATA_KINDS.get(kind)  # an unknown kind fails at import, naming the known ones

    def add(load: L) -> L:
        DATASETS.register(name)(Dataset(name, kind, splits, load))
        return load

    return add


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


@dataclass
class ParallelSplits:
    """Aligned texts (translations, sentences and their parse trees) as rows per split.

    A row maps each *side* it has (a language code such as "en", "de", or a name such as
    "words", "tree") to its text; a row may lack some sides (an English message translated into
    German but not French), so a task reading sides (a, b) uses the rows that have both.
    ``sides`` lists every side the dataset has, in a fixed order.
    """

    train: list[dict[str, str]]
    validation: list[dict[str, str]]
    test: list[dict[str, str]]
    sides: tuple[str, ...]
    # side → how a task scores a decoded text of that side beyond BLEU and chrF (a dependency
    # tree's attachment scores); a side not named is plain text
    scorers: dict[str, TextScorer] = field(default_factory=dict)


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
