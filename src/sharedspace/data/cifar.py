"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009), from the official "python" or "binary" versions.

The python version's batch files are pickled dicts: ``data`` is (N, 3072) uint8, the red, green
and blue 32x32 planes of each image in turn, and the labels are lists of ints. The files were
pickled under Python 2, so their keys and strings load as bytes; str keys are accepted too. They
are read with ``safe_pickle`` because a pickle can run code. The binary version holds the same
images as fixed-size records (the label bytes, then the 3072 image bytes) and the class names as
text files, one per line; it is read into the same dicts, so both are checked the same way.
"""

import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sharedspace.data.datasets import ImageSplits, dataset
from sharedspace.data.locate import find_dataset
from sharedspace.data.safe_pickle import load_pickle
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, read_bytes

IMAGE_BYTES = 3 * 32 * 32
# A batch holds per image its 3072 bytes, a file name and one or two labels: a few pickle opcodes.
# Allowing 16 objects per image's bytes still stops a file of tiny objects early.
BYTES_PER_OBJECT = IMAGE_BYTES // 16
# The most bytes a pickled batch may spend per image: its bytes twice over (Python 3's protocol 2
# stores bytes as UTF-8 text) and 2 KiB for its file name, labels and opcodes. The official files
# spend about 3,104.
PICKLED_IMAGE_BYTES = 2 * IMAGE_BYTES + 2048
NAMES_LIMIT = 1 * MiB  # a meta pickle or class-names file: the official ones are under 2 kB


@dataclass(frozen=True)
class PythonVersion:
    """The python version: pickled dicts, the class names in ``meta_file``."""

    folder: str
    archive: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    per_file: int  # the most images one official batch file holds

    @property
    def marker(self) -> str:
        return self.meta_file

    def read_meta(self, folder: Path) -> dict[str, Any]:
        return _dict(folder / self.meta_file, NAMES_LIMIT)

    def read_batch(self, path: Path) -> dict[str, Any]:
        return _dict(path, self.per_file * PICKLED_IMAGE_BYTES)


@dataclass(frozen=True)
class BinaryVersion:
    """The binary version: records of one byte per label key, in ``labels`` order, then the image;
    the names of each label key's classes in a text file. ``labels``: (label key, names key,
    names file) as the python version names them."""

    folder: str
    archive: str
    train_files: tuple[str, ...]
    test_file: str
    labels: tuple[tuple[str, str, str], ...]
    per_file: int  # the most records one official batch file holds

    @property
    def marker(self) -> str:
        return self.labels[-1][2]

    def read_meta(self, folder: Path) -> dict[str, Any]:
        return {names: _lines(folder / file) for _, names, file in self.labels}

    def read_batch(self, path: Path) -> dict[str, Any]:
        record = len(self.labels) + IMAGE_BYTES
        raw = read_bytes(path, self.per_file * record, DataError)
        if not raw or len(raw) % record:
            raise DataError(
                f"{path}: {len(raw)} bytes is not a whole number of {record}-byte records "
                f"({len(self.labels)} label bytes, then the image's {IMAGE_BYTES})"
            )
        rows = np.frombuffer(raw, np.uint8).reshape(-1, record)
        batch = {key: rows[:, i].astype(np.int64) for i, (key, _, _) in enumerate(self.labels)}
        return {**batch, "data": rows[:, len(self.labels) :]}


@dataclass(frozen=True)
class CifarLayout:
    """One CIFAR variant in both official versions; the python one is looked for first."""

    name: str  # as `sharedspace data download` knows it
    python: PythonVersion
    binary: BinaryVersion


CIFAR10 = CifarLayout(
    "cifar10",
    PythonVersion(
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        10_000,
    ),
    BinaryVersion(
        "cifar-10-batches-bin",
        "cifar-10-binary.tar.gz",
        tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test_batch.bin",
        (("labels", "label_names", "batches.meta.txt"),),
        10_000,
    ),
)
CIFAR100 = CifarLayout(
    "cifar100",
    PythonVersion(
        "cifar-100-python", "cifar-100-python.tar.gz", ("train",), "test", "meta", 50_000
    ),
    BinaryVersion(
        "cifar-100-binary",
        "cifar-100-binary.tar.gz",
        ("train.bin",),
        "test.bin",
        (
            ("coarse_labels", "coarse_label_names", "coarse_label_names.txt"),
            ("fine_labels", "fine_label_names", "fine_label_names.txt"),
        ),
        50_000,
    ),
)
COARSE = ("coarse_labels", "coarse_label_names")  # CIFAR-100's superclass of each image


@dataset("cifar10", kind="image", splits=ImageSplits)
def load_cifar10(data_dir: Path | None = None) -> ImageSplits:
    """CIFAR-10: 50,000/10,000 32x32 colour images in 10 classes, uint8 (N, 3, 32, 32)."""
    return load_cifar(CIFAR10, "labels", "label_names", data_dir)


@dataset("cifar100", kind="image", splits=ImageSplits)
def load_cifar100(data_dir: Path | None = None) -> ImageSplits:
    """CIFAR-100 with its 100 fine labels, grouped by the 20 coarse ones (``superclasses``)."""
    return load_cifar(CIFAR100, "fine_labels", "fine_label_names", data_dir, COARSE)


@dataset("cifar100_coarse", kind="image", splits=ImageSplits)
def load_cifar100_coarse(data_dir: Path | None = None) -> ImageSplits:
    """CIFAR-100 with its 20 coarse labels (superclasses)."""
    return load_cifar(CIFAR100, "coarse_labels", "coarse_label_names", data_dir)


def load_cifar(
    layout: CifarLayout,
    label_key: str,
    names_key: str,
    data_dir: Path | None,
    group: tuple[str, str] | None = None,
) -> ImageSplits:
    """One CIFAR variant; ``group`` = (labels key, names key) of a coarser labelling whose
    grouping of the classes becomes ``superclasses`` (read from the training labels' pairs)."""
    folder, version = _locate(layout, data_dir)
    meta_path = folder / version.marker
    meta = version.read_meta(folder)
    classes = _names(meta, names_key, meta_path)
    keys = {label_key: len(classes)}
    if group:
        groups = _names(meta, group[1], meta_path)
        keys[group[0]] = len(groups)
    train = [_batch(version, folder / f, keys) for f in version.train_files]
    test_images, (test_labels, *_) = _batch(version, folder / version.test_file, keys)
    train_labels = [torch.cat(labels) for labels in zip(*(ls for _, ls in train), strict=True)]
    return ImageSplits(
        train_images=torch.cat([images for images, _ in train]),
        train_labels=train_labels[0],
        test_images=test_images,
        test_labels=test_labels,
        classes=classes,
        superclasses=_grouping(classes, groups, *train_labels, meta_path) if group else {},
    )


def _locate(
    layout: CifarLayout, data_dir: Path | None
) -> tuple[Path, PythonVersion | BinaryVersion]:
    """The folder of the python version, else of the binary one; if neither, the python
    version's error (where we looked, how to download it)."""
    how_to_get = (
        f"get it with `sharedspace data download {layout.name} --data-dir DIR` "
        f"(the binary version, {layout.binary.folder}, is read too)"
    )
    missing = []
    for version in (layout.python, layout.binary):
        try:
            where = find_dataset(
                version.folder,
                (version.marker,),
                data_dir,
                archive=version.archive,
                how_to_get=how_to_get,
            )
            return where, version
        except DataError as e:
            missing.append(e)
    raise missing[0]


def _names(meta: dict[str, Any], key: str, path: Path) -> list[str]:
    names = _field(meta, key, path)
    if not isinstance(names, list | tuple):
        raise DataError(f"{path}: {key!r} is a {type(names).__name__}, expected a list")
    return [_text(n, path) for n in names]


def _grouping(
    classes: list[str], groups: list[str], labels: torch.Tensor, group_labels: torch.Tensor, path
) -> dict[str, list[str]]:
    """Group name → the classes whose images carry it; a class in two groups is an error."""
    pairs = torch.stack([labels, group_labels], 1).unique(dim=0).tolist()  # (class, group)
    owners = [c for c, _ in pairs]
    if len(owners) != len(set(owners)):
        twice = sorted({classes[c] for c in owners if owners.count(c) > 1})
        raise DataError(f"{path.parent}: classes {twice} carry more than one superclass")
    grouped: dict[str, list[str]] = {name: [] for name in groups}
    for c, g in pairs:
        grouped[groups[g]].append(classes[c])
    return grouped


def _batch(
    version: PythonVersion | BinaryVersion, path: Path, keys: dict[str, int]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One batch file as uint8 (N, 3, 32, 32) images and, per label key (→ its number of
    classes), int64 (N,) labels."""
    batch = version.read_batch(path)
    data = _field(batch, "data", path)
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: data is a {type(data).__name__}, expected a uint8 array")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise DataError(f"{path}: data is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    images = torch.from_numpy(np.require(data, requirements="CW").reshape(-1, 3, 32, 32))
    return images, [_labels(batch, key, n, len(data), path) for key, n in keys.items()]


def _labels(batch: dict[str, Any], key: str, n_classes: int, n: int, path: Path) -> torch.Tensor:
    """The official files hold a flat list of ints; anything else is refused before numpy
    reads it (a few hundred bytes of pickle can nest one shared list in itself 40 levels deep,
    which numpy would expand to 2⁴⁰ numbers)."""
    raw = _field(batch, key, path)
    if not isinstance(raw, list | np.ndarray):
        raise DataError(f"{path}: {key} is a {type(raw).__name__}, expected a list of {n} ints")
    if len(raw) != n:
        raise DataError(f"{path}: {len(raw)} {key} for {n} images")
    if isinstance(raw, list) and not all(type(v) is int for v in raw):
        raise DataError(f"{path}: {key} are not all integers")
    try:
        labels = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: {key} are not integers ({e})") from e
    if labels.shape != (n,):
        raise DataError(f"{path}: {labels.size} {key} for {n} images")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{path}: {key} outside 0..{n_classes - 1}")
    return torch.from_numpy(labels)


def _lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped (the binary version's class names)."""
    try:
        text = read_bytes(path, NAMES_LIMIT, DataError).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from e
    return [line.strip() for line in text.splitlines() if line.strip()]


def _dict(path: Path, limit: int) -> dict[str, Any]:
    """A batch or meta pickle of at most ``limit`` bytes with its keys as str, whichever Python
    wrote it."""
    loaded = load_pickle(path, bytes_per_object=BYTES_PER_OBJECT, limit=limit)
    if not isinstance(loaded, dict):
        raise DataError(f"{path}: holds a {type(loaded).__name__}, expected a dict")
    return {_text(k, path): v for k, v in loaded.items()}


def _field(d: dict[str, Any], key: str, path: Path) -> Any:
    if key not in d:
        raise DataError(f"{path}: no {key!r} entry (has {reprlib.repr(sorted(d))})")
    return d[key]


def _text(value: object, path: Path) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: {value[:20]!r} is not UTF-8 text") from e
    if isinstance(value, str):
        return value
    raise DataError(f"{path}: {reprlib.repr(value)} is a {type(value).__name__}, expected text")
