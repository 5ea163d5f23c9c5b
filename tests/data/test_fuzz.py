"""Any bytes, random or a cut-off real file, give data or a DataError: nothing else, no hang."""

import contextlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sharedspace.data import DATASETS
from sharedspace.data.idx import read_idx
from sharedspace.data.safe_pickle import load_pickle
from sharedspace.errors import DataError
from tests.data.data_formats import (
    write_cifar10,
    write_cifar10_binary,
    write_fashion_mnist,
    write_fortunes,
    write_idx,
    write_wikitext,
)

FUZZ = settings(
    max_examples=150,
    deadline=2000,  # ms; a generous bound that still catches a hang or a runaway allocation
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    write_fashion_mnist(root / "fashion-mnist")
    write_cifar10(root / "cifar-10-batches-py", per_batch=2)
    write_cifar10_binary(root / "cifar-10-batches-py", root / "bin" / "cifar-10-batches-bin")
    write_wikitext(root / "wikitext-2")
    write_fortunes(root / "fortunes", n_per_file=3)
    return root


def loads_or_data_error(load, *args) -> None:
    with contextlib.suppress(DataError):
        load(*args)


def replaced(data_dir: Path, relative: str, transform) -> Path:
    """A fresh copy of data_dir whose file ``relative`` is ``transform(original bytes)``."""
    copy = data_dir.parent / f"{data_dir.name}-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(data_dir, copy, symlinks=True)
    target, original = copy / relative, data_dir / relative
    target.write_bytes(transform(original.read_bytes()))
    return copy


@FUZZ
@given(raw=st.binary(max_size=300))
def test_idx_random_bytes(tmp_path, raw):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(raw)
    loads_or_data_error(read_idx, path)


@FUZZ
@example(dims=[0, 3_036_988_439, 3_037_012_561], body=b"")  # once crashed numpy's reshape
@given(
    dims=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4), body=st.binary(max_size=64)
)
def test_idx_lying_headers(tmp_path, dims, body):
    header = bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(header + body)
    loads_or_data_error(read_idx, path)


@FUZZ
@given(data=st.data())
def test_idx_truncated_gzip_and_raw(tmp_path, data):
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    path = write_idx(tmp_path / "x.gz", array, gz=data.draw(st.booleans()))
    raw = path.read_bytes()
    path.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    with pytest.raises(DataError):
        read_idx(path)


@FUZZ
@given(raw=st.binary(max_size=400))
def test_pickle_random_bytes(tmp_path, raw):
    path = tmp_path / "batch"
    path.write_bytes(raw)
    loads_or_data_error(load_pickle, path)


def cut_and_flipped(data: st.DataObject):
    """A transform for ``replaced``: the file cut short, then up to three bytes flipped."""

    def corrupt(raw: bytes) -> bytes:
        raw = bytearray(raw[: data.draw(st.integers(0, len(raw)))])
        for i in data.draw(st.lists(st.integers(0, max(len(raw) - 1, 0)), max_size=3)):
            if raw:
                raw[i] ^= data.draw(st.integers(1, 255))
        return bytes(raw)

    return corrupt


@FUZZ
@given(data=st.data())
def test_cifar_truncated_or_flipped_batch(data_dir, data):
    name = data.draw(st.sampled_from(["data_batch_1", "test_batch", "batches.meta"]))
    copy = replaced(data_dir, f"cifar-10-batches-py/{name}", cut_and_flipped(data))
    loads_or_data_error(DATASETS.get("cifar10").load, copy)


@FUZZ
@given(data=st.data())
def test_cifar_binary_truncated_or_flipped_batch(data_dir, data):
    name = data.draw(st.sampled_from(["data_batch_1.bin", "test_batch.bin", "batches.meta.txt"]))
    copy = replaced(data_dir, f"bin/cifar-10-batches-bin/{name}", cut_and_flipped(data))
    loads_or_data_error(DATASETS.get("cifar10").load, copy / "bin")


@FUZZ
@given(data=st.data())
def test_fashion_mnist_truncated_file(data_dir, data):
    name = data.draw(st.sampled_from(["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]))
    cut = data.draw(st.integers(0, 10_000))
    copy = replaced(data_dir, f"fashion-mnist/{name}", lambda raw: raw[: min(cut, len(raw) - 1)])
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        DATASETS.get("fashion_mnist").load(copy)


@FUZZ
@given(raw=st.binary(max_size=300), data=st.data())
def test_text_loaders_random_bytes(data_dir, raw, data):
    corpus, relative = data.draw(
        st.sampled_from(
            [
                ("wikitext2", "wikitext-2/wiki.train.tokens"),
                ("wikitext2", "wikitext-2/wiki.test.tokens"),
                ("fortunes", "fortunes/alpha"),
            ]
        )
    )
    copy = replaced(data_dir, relative, lambda _: raw)
    loads_or_data_error(DATASETS.get(corpus).load, copy)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_text_files_random_bytes(tmp_path, raw):
    path = tmp_path / "corpus.txt"
    path.write_bytes(raw)
    loads_or_data_error(DATASETS.get("text_files").load, path)
