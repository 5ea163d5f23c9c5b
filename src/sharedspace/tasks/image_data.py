"""Images as tasks read them: uint8 (N, C, H, W) and labels, normalised by dataset statistics.

Validation is carved from the official training set by a seeded shuffle; test is the official one.
The statistics are computed once per dataset from all of its official training images, so every
task on one dataset — whatever slice or class subset it takes — gives the image cap the same spec
and can share it (the validation carve-out is among those images: two moments, a negligible leak).
"""

import functools
from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from sharedspace.data.datasets import ImageSplits
from sharedspace.data.specs import ClassesTarget, ImageSpec, PixelsTarget
from sharedspace.errors import ConfigError
from sharedspace.tasks.data import DataView, LabelledSplit, Sizes, TaskData, load_dataset


@functools.lru_cache(maxsize=8)
def image_spec(source: str, data_dir: str | None) -> ImageSpec:
    """Per-channel mean/std (0–1 scale) of all the dataset's official training images."""
    return images_spec(load_dataset(source, data_dir).train_images)


def images_spec(images: torch.Tensor) -> ImageSpec:
    """The spec of uint8 (N, C, H, W) images: their per-channel mean/std on the 0–1 scale."""
    _, c, h, w = images.shape
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for chunk in images.split(4096):  # bounded memory: float64 of 4096 images at a time
        values = chunk.transpose(0, 1).flatten(1).double() / 255  # (C, n·H·W)
        total += values.sum(1)
        squares += values.square().sum(1)
    count = images.numel() / c
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt() * (count / (count - 1)) ** 0.5
    return ImageSpec(c, h, w, tuple(mean.tolist()), tuple(std.tolist()))


def keep_classes(
    images: torch.Tensor, labels: torch.Tensor, kept: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The examples of the ``kept`` class ids, relabelled 0..k-1 in the order of ``kept``."""
    relabel = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long)
    relabel[kept] = torch.arange(len(kept))
    new = relabel[labels]
    return images[new >= 0], new[new >= 0]


class Images(DataView):
    """Images and their class labels.

    ``classes`` keeps a subset of the dataset's classes, relabelled in the order given — tasks on
    different subsets of one dataset (a 10-task benchmark of class subsets) still share its
    statistics, so they share one image cap. ``superclass`` keeps the classes of one of the
    dataset's superclasses (CIFAR-100's coarse labels: the 20 five-way tasks of CIFAR-100 MTL).
    """

    kind = "image"
    target = "classes"
    name = "images"
    reads = ImageSplits

    @dataclass
    class Config(Sizes):
        positive: ClassVar[tuple[str, ...]] = (*Sizes.positive, "val_size")

        val_size: int = 5000  # held out from the (kept) official training set for validation
        classes: list[str] | None = None  # class names to keep; None: all
        superclass: str | None = None  # or the classes of this superclass (cifar100)

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        ds = load_dataset(source, data_dir)
        names = list(ds.classes)
        if cfg.superclass is not None:
            if cfg.classes is not None or cfg.superclass not in ds.superclasses:
                known = ", ".join(ds.superclasses) or f"none in {source}"
                raise ConfigError(
                    f"{key}.superclass: {cfg.superclass!r} — one of: {known} (and no classes)"
                )
            cfg = replace(cfg, classes=ds.superclasses[cfg.superclass])
        if cfg.classes is not None:
            unknown = [c for c in cfg.classes if c not in names]
            if unknown or len(set(cfg.classes)) != len(cfg.classes) or not cfg.classes:
                raise ConfigError(
                    f"{key}.classes: {unknown or cfg.classes} — need distinct names of {names}"
                )
            kept = torch.tensor([names.index(c) for c in cfg.classes])
            train_images, train_labels = keep_classes(ds.train_images, ds.train_labels, kept)
            test_images, test_labels = keep_classes(ds.test_images, ds.test_labels, kept)
            ds = replace(
                ds,
                train_images=train_images,
                train_labels=train_labels,
                test_images=test_images,
                test_labels=test_labels,
                classes=list(cfg.classes),
            )
        n = len(ds.train_labels)
        train_size = n - cfg.val_size if cfg.train_size is None else cfg.train_size
        if cfg.val_size < 0 or train_size <= 0 or cfg.val_size + train_size > n:
            raise ConfigError(
                f"{key}: val_size {cfg.val_size} + train_size {cfg.train_size} must fit in the "
                f"{n} training images of {source}"
            )
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        val, train = order[: cfg.val_size], order[cfg.val_size : cfg.val_size + train_size]
        splits = {
            "train": LabelledSplit(ds.train_images[train], ds.train_labels[train]),
            "validation": LabelledSplit(ds.train_images[val], ds.train_labels[val]).first(
                cfg.eval_size
            ),
            "test": LabelledSplit(ds.test_images, ds.test_labels).first(cfg.eval_size),
        }
        target = ClassesTarget(tuple(ds.classes))
        return TaskData(splits, image_spec(source, data_dir), target)


class ImagePixels(Images):
    """The same images (and splits) as ``Images``, each its own target: pixels on the 0–1 scale."""

    target = "pixels"
    name = "pixels"

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        data = super().prepare(source, cfg, data_dir, seed, key, state)
        s = data.spec
        return replace(data, target=PixelsTarget((s.channels, s.height, s.width)))
