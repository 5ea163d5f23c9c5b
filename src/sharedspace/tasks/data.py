"""A task's data: in-memory splits indexed one whole batch at a time, and the views that make them.

A *data view* turns a dataset of one data kind into what one kind of task reads, with an input
spec and a target spec; views register per (task kind, data kind) in ``tasks.views``. Each view's
``Config`` lists exactly the data fields that make sense for it (an image field on a text task is
an unknown key, not silently ignored), and its ``target`` names the target kind it yields.

A split's ``get(idx)`` returns a batch dict in one vectorised step — no per-sample Python in the
training loop. Batch keys: ``x`` inputs, ``y`` targets, ``x_mask`` / ``y_mask`` (bool, True at
real positions) where sequences are padded.
"""

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch

from sharedspace.data import DATASETS
from sharedspace.data.text_scorer import TextScorer
from sharedspace.errors import ConfigError

SPLITS = ("train", "validation", "test")


class Split(Protocol):
    def __len__(self) -> int: ...
    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]: ...
    def first(self, n: int | None) -> "Split": ...


@dataclass
class LabelledSplit:
    """Inputs and one class label each (images, bit strings)."""

    inputs: torch.Tensor  # (N, ...) the batch's ``x``
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"x": self.inputs[idx], "y": self.labels[idx]}

    def first(self, n: int | None) -> "LabelledSplit":
        return LabelledSplit(self.inputs[:n], self.labels[:n])


@dataclass
class TaskData:
    splits: dict[str, Split]  # train / validation / test
    spec: Any  # the input's description, read by the modality cap (ImageSpec, TextSpec, …)
    target: Any  # the targets' description, read by the head (ClassesTarget, TokensTarget, …)
    state: dict[str, Any] = field(default_factory=dict)  # what must be saved to rebuild it
    # target token ids → their text (the target tokenizer's decode), for scores of decoded text
    # (BLEU, chrF); None: the targets are not text
    detokenize: Callable[[list[int]], str] | None = None
    # scores of the decoded text beyond BLEU and chrF that the target side's data defines (a
    # dependency tree's uas and las); None: none
    score_text: TextScorer | None = None
    # inputs per example: > 1, ``x`` is (B, F, …), F frames that the cap and the space read as
    # B·F inputs and the task's head joins (views of one scene as a camera moves)
    frames: int = 1


@dataclass
class Sizes:
    """Data fields every view has. A view's ``positive`` fields must be ≥ 1 (or None where
    their type allows it), checked when the config is read — so `validate` refuses
    ``eval_size: 0`` before any data loads, not an evaluation after training."""

    positive: ClassVar[tuple[str, ...]] = ("train_size", "eval_size")

    train_size: int | None = None  # training examples (images, windows, documents); None: all
    eval_size: int | None = None  # cap on validation/test examples (smoke runs); None: all
    view: str | None = None  # which view of this data the task reads; None: the only one

    def __post_init__(self) -> None:
        for name in self.positive:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"{name}: expected a whole number ≥ 1, got {value!r}")

    def per_split(self) -> dict[str, int | None]:
        """How many examples of each split a task keeps (its first ones; None: all)."""
        return {"train": self.train_size, "validation": self.eval_size, "test": self.eval_size}


class DataView:
    """Makes a task's splits from one kind of dataset: ``kind`` is the data kind it reads (a
    DATA_KINDS name), ``target`` the target kind it yields (a TARGET_KINDS name), ``name`` what
    ``tasks.<t>.data.view`` calls it."""

    kind: ClassVar[str]
    target: ClassVar[str]
    name: ClassVar[str]
    Config: ClassVar[type] = Sizes
    # the splits type of the datasets it reads (ParallelSplits, TextSplits); None: any of its kind
    reads: ClassVar[type | None] = None
    # True: read only when ``data.view`` names it, a second reading of data that has a usual one
    by_name: ClassVar[bool] = False

    @classmethod
    def prepare(
        cls, source: str, cfg: Any, data_dir: str | None, seed: int, key: str, state: dict
    ) -> TaskData:
        """``key`` names the config section in errors; ``state`` is ``TaskData.state`` from a
        checkpoint, or the tokenizer of the task's shared vocabulary (empty for a new run)."""
        raise NotImplementedError

    @classmethod
    def texts(cls, source: str, cfg: Any, data_dir: str | None) -> dict[str, list[str]]:
        """The training text a shared vocabulary (tasks/vocabulary.py) is fitted on, by a name
        unique to that text ("gettext.en"), so tasks that read one text count it once; none for
        a view that reads no text."""
        return {}


def source_kind(source: str) -> str:
    """The data kind of a dataset: "image", "text", "bits", … (ConfigError when unknown)."""
    return DATASETS.get(source).kind


@functools.lru_cache(maxsize=16)  # 8 image datasets and 8 corpora, as before
def load_dataset(source: str, data_dir: str | None) -> Any:
    """A stored dataset's splits, loaded once per (source, data_dir)."""
    return DATASETS.get(source).load(Path(data_dir) if data_dir else None)


def warn_unscored(key: str, split: str, kept: int, total: int, why: str) -> None:
    """Warn that ``total - kept`` examples of an evaluation split are left out (``why``): its
    scores are on the rest, which flatters them when the long ones are the hard ones. Training
    splits leave examples out silently (a truncated target teaches stopping mid-sentence)."""
    if split != "train" and kept < total:
        warnings.warn(
            f"{key}: {total - kept:,} of {total:,} {split} examples are {why} and are not "
            "scored; raise the lengths to score them all",
            stacklevel=2,
        )
