"""Every data reader takes only regular files of a size its format allows: a FIFO, a link to
/dev/zero or a sparse giant in place of a data file is a DataError naming it, at once.

Each case runs ``guarded``, so a reader that regresses to waiting on the FIFO or reading the
device fails within seconds instead of hanging or eating the machine.
"""

import os
import sys
from pathlib import Path

import pytest

from sharedspace.data import DATASETS
from sharedspace.data.archives import ARCHIVE_LIMIT, extract
from sharedspace.data.cifar import IMAGE_BYTES, NAMES_LIMIT, PICKLED_IMAGE_BYTES
from sharedspace.data.idx import IDX_LIMIT
from sharedspace.data.text import FORTUNES_LIMIT, TEXT_LIMIT, WIKITEXT2_LIMIT
from sharedspace.errors import DataError
from tests.data.data_formats import (
    write_cifar10,
    write_cifar100,
    write_cifar100_binary,
    write_fashion_mnist,
    write_fortunes,
    write_wikitext,
)
from tests.guards import guarded

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="FIFOs, /dev/zero, /proc")


def cifar100_binary(root: Path) -> None:
    write_cifar100_binary(
        write_cifar100(root / "py" / "cifar-100-python"), root / "cifar-100-binary"
    )


def own_text(root: Path) -> None:
    (root / "own").mkdir()
    for name in ("a", "b"):
        (root / "own" / f"{name}.txt").write_text(f"{name} one\n\n{name} two\n")


# (loader, writes the data under root, the data folder, file replaced, most bytes it may hold)
CASES = {
    "fashion_mnist images": (
        DATASETS.get("fashion_mnist").load,
        lambda root: write_fashion_mnist(root / "fashion-mnist"),
        ".",
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        IDX_LIMIT,
    ),
    "fashion_mnist labels": (
        DATASETS.get("fashion_mnist").load,
        lambda root: write_fashion_mnist(root / "fashion-mnist"),
        ".",
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        IDX_LIMIT,
    ),
    "cifar10 batch": (
        DATASETS.get("cifar10").load,
        lambda root: write_cifar10(root / "cifar-10-batches-py", per_batch=2),
        ".",
        "cifar-10-batches-py/data_batch_1",
        10_000 * PICKLED_IMAGE_BYTES,
    ),
    "cifar100 test batch": (
        DATASETS.get("cifar100").load,
        lambda root: write_cifar100(root / "cifar-100-python"),
        ".",
        "cifar-100-python/test",
        50_000 * PICKLED_IMAGE_BYTES,
    ),
    "cifar100 binary batch": (
        DATASETS.get("cifar100").load,
        cifar100_binary,
        ".",
        "cifar-100-binary/train.bin",
        50_000 * (2 + IMAGE_BYTES),
    ),
    "cifar100 binary names": (
        DATASETS.get("cifar100").load,
        cifar100_binary,
        ".",
        "cifar-100-binary/coarse_label_names.txt",
        NAMES_LIMIT,
    ),
    "wikitext2": (
        DATASETS.get("wikitext2").load,
        lambda root: write_wikitext(root / "wikitext-2"),
        ".",
        "wikitext-2/wiki.valid.tokens",
        WIKITEXT2_LIMIT,
    ),
    "text_files": (DATASETS.get("text_files").load, own_text, "own", "own/b.txt", TEXT_LIMIT),
}


def fifo(path: Path, limit: int) -> None:
    os.mkfifo(path)


def dev_zero(path: Path, limit: int) -> None:
    path.symlink_to("/dev/zero")


def sparse(path: Path, limit: int) -> None:
    """A regular file one byte over ``limit``: no disk, yet far more than a reader may take."""
    with path.open("wb") as f:
        f.truncate(limit + 1)


@pytest.mark.parametrize("make", [fifo, dev_zero, sparse])
@pytest.mark.parametrize("case", CASES)
def test_only_regular_files_of_a_bounded_size_are_read(tmp_path, isolated_home, case, make):
    load, write, data_dir, replaced, limit = CASES[case]
    write(tmp_path)
    target = tmp_path / replaced
    target.unlink()
    make(target, limit)
    with guarded(), pytest.raises(DataError) as info:
        load(tmp_path / data_dir)
    expected = "more than the" if make is sparse else "not a regular file"
    assert str(target) in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("make", [fifo, dev_zero, sparse])
def test_an_archive_must_be_a_regular_file_of_bounded_size(tmp_path, make):
    archive = tmp_path / "wikitext-2-v1.zip"
    make(archive, ARCHIVE_LIMIT)
    refused = r"wikitext-2-v1\.zip: .*(not a regular file|more than the)"
    with guarded(), pytest.raises(DataError, match=refused):
        extract(archive, tmp_path / "out")


def test_fortunes_skip_fifos_and_links_and_bound_each_file(tmp_path, isolated_home):
    folder = write_fortunes(tmp_path / "fortunes", n_per_file=3)
    os.mkfifo(folder / "pipe")
    (folder / "zero").symlink_to("/dev/zero")
    with guarded():
        splits = DATASETS.get("fortunes").load(tmp_path)
    assert set(splits.categories["train"]) == {"alpha", "beta"}
    sparse(folder / "gamma", FORTUNES_LIMIT)
    with guarded(), pytest.raises(DataError, match=r"gamma: .* more than the .* expected"):
        DATASETS.get("fortunes").load(tmp_path)


@pytest.mark.parametrize("make", [fifo, dev_zero])
def test_a_single_text_file_that_is_not_regular_is_refused(tmp_path, make):
    make(tmp_path / "corpus.txt", TEXT_LIMIT)
    with guarded(), pytest.raises(DataError, match=r"corpus\.txt: not a regular file"):
        DATASETS.get("text_files").load(tmp_path / "corpus.txt")


def test_a_cifar_binary_batch_one_record_over_the_official_size_is_refused(tmp_path, isolated_home):
    """The bound is the largest official file's size (CIFAR-100's train.bin, 50,000 records)."""
    cifar100_binary(tmp_path)
    batch = tmp_path / "cifar-100-binary" / "test.bin"
    record = 2 + IMAGE_BYTES
    with batch.open("r+b") as f:
        f.truncate(50_000 * record + record)
    with (
        guarded(),
        pytest.raises(DataError, match=r"test\.bin: 153,703,074 bytes, more than the 153,700,000"),
    ):
        DATASETS.get("cifar100").load(tmp_path)
