import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS
from sharedspace.data.safe_pickle import load_pickle
from sharedspace.errors import DataError
from tests.data.data_formats import (
    cifar_batch,
    python2_pickle,
    write_cifar10,
    write_cifar10_binary,
    write_cifar100,
    write_cifar100_binary,
    write_pickle,
)


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_cifar10_loads_all_batches(tmp_path, bytes_keys):
    write_cifar10(tmp_path / "cifar-10-batches-py", bytes_keys=bytes_keys)
    splits = DATASETS.get("cifar10").load(tmp_path)
    assert splits.train_images.shape == (20, 3, 32, 32)
    assert splits.train_images.dtype == torch.uint8
    assert splits.test_images.shape == (4, 3, 32, 32)
    assert splits.train_labels.dtype == torch.int64
    assert splits.train_labels[:8].tolist() == [0, 1, 2, 3, 1, 2, 3, 4]
    assert splits.classes[0] == "airplane" and len(splits.classes) == 10


def test_cifar10_rows_are_channel_planes(tmp_path):
    folder = write_cifar10(tmp_path / "cifar-10-batches-py")
    batch = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")
    splits = DATASETS.get("cifar10").load(folder)
    row = batch[b"data"][0]
    assert splits.test_images[0, 1, 0, 0] == row[1024]  # green plane starts at 1024
    assert splits.test_images[0, 2, 31, 31] == row[3071]


def test_cifar100_fine_and_coarse(tmp_path):
    write_cifar100(tmp_path / "cifar-100-python")
    fine = DATASETS.get("cifar100").load(tmp_path)
    coarse = DATASETS.get("cifar100_coarse").load(tmp_path)
    assert len(fine.classes) == 100 and len(coarse.classes) == 20
    assert fine.train_images.shape == (7, 3, 32, 32)
    assert torch.equal(fine.train_images, coarse.train_images)
    assert torch.equal(coarse.train_labels, fine.train_labels // 5)
    assert coarse.classes[3] == "coarse3"


def test_cifar100_groups_its_classes_by_superclass(tmp_path):
    folder = write_cifar100(tmp_path / "cifar-100-python", n_train=200)  # every fine class
    fine = DATASETS.get("cifar100").load(tmp_path)
    assert list(fine.superclasses) == [f"coarse{i}" for i in range(20)]
    assert fine.superclasses["coarse3"] == [f"fine{i}" for i in range(15, 20)]
    batch = cifar_batch(np.random.default_rng(0), 2, fine_labels=[7, 7], coarse_labels=[1, 2])
    write_pickle(folder / "train", batch)  # fine7 under two superclasses
    with pytest.raises(DataError, match=r"cifar-100-python: classes \['fine7'\] carry more"):
        DATASETS.get("cifar100").load(tmp_path)


def test_archive_in_data_dir_is_unpacked_beside_it(tmp_path):
    source = write_cifar10(tmp_path / "src" / "cifar-10-batches-py")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(source, arcname="cifar-10-batches-py")
    splits = DATASETS.get("cifar10").load(data_dir)
    assert splits.train_images.shape[0] == 20
    assert (data_dir / "cifar-10-batches-py" / "batches.meta").is_file()


class RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_pickle_that_runs_code_is_refused(tmp_path):
    folder = write_cifar10(tmp_path / "cifar-10-batches-py")
    witness = tmp_path / "pwned"
    evil = {b"data": RunsCommand(f"touch {witness}"), b"labels": [0]}
    (folder / "data_batch_3").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3.*refused to load (posix|os)\.system"):
        DATASETS.get("cifar10").load(tmp_path)
    assert not witness.exists()


def test_any_global_outside_numpy_arrays_is_refused(tmp_path):
    path = tmp_path / "meta"
    path.write_bytes(pickle.dumps({"names": pickle.Pickler}, protocol=2))
    with pytest.raises(DataError, match=r"refused to load pickle\.Pickler"):
        load_pickle(path)


def test_python2_pickles_load_with_bytes_strings(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(2, 6)
    path = tmp_path / "batch"
    path.write_bytes(python2_pickle({b"data": array, b"labels": [1, 2], b"name": b"x" * 300}))
    loaded = load_pickle(path)
    assert loaded[b"labels"] == [1, 2] and loaded[b"name"] == b"x" * 300
    np.testing.assert_array_equal(loaded[b"data"], array)
    assert pickle.loads(path.read_bytes(), encoding="bytes").keys() == loaded.keys()


def test_python3_protocols_load_too(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}"
        path.write_bytes(pickle.dumps({b"data": array}, protocol=protocol))
        np.testing.assert_array_equal(load_pickle(path)[b"data"], array)


def test_truncated_batch_names_the_file(tmp_path):
    folder = write_cifar10(tmp_path / "cifar-10-batches-py")
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=r"data_batch_2.*not a readable data pickle"):
        DATASETS.get("cifar10").load(tmp_path)


def test_missing_batch_names_the_file(tmp_path):
    folder = write_cifar10(tmp_path / "cifar-10-batches-py")
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataError, match=r"data_batch_5"):
        DATASETS.get("cifar10").load(tmp_path)


def nested(depth: int) -> list:
    value: list = [0, 0, 0, 0]
    for _ in range(depth):
        value = [value] * 4
    return value


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({b"data": np.zeros((4, 3072), np.int32)}, r"int32 .*expected uint8 \(N, 3072\)"),
        ({b"data": np.zeros((4, 1024), np.uint8)}, r"expected uint8 \(N, 3072\)"),
        ({b"data": [1, 2]}, r"data is a list"),
        ({b"labels": [0, 1, 2]}, r"3 labels for 4 images"),
        ({b"labels": [0, 1, 2, 10]}, r"labels outside 0\.\.9"),
        ({b"labels": [0, "x", 2, 3]}, r"labels are not all integers"),
        ({b"labels": 7}, r"labels is a int, expected a list of 4 ints"),
        # a few hundred bytes: one list shared 4 ways at each of 40 levels, 4⁴⁰ leaves to numpy
        ({b"labels": nested(40)}, r"labels are not all integers"),
    ],
)
def test_malformed_batch_contents(tmp_path, change, message):
    folder = write_cifar10(tmp_path / "cifar-10-batches-py")
    batch = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")
    (folder / "test_batch").write_bytes(pickle.dumps({**batch, **change}, protocol=2))
    with pytest.raises(DataError, match=message) as info:
        DATASETS.get("cifar10").load(tmp_path)
    assert "test_batch" in str(info.value)


def test_batch_that_is_not_a_dict(tmp_path):
    folder = write_cifar10(tmp_path / "cifar-10-batches-py")
    (folder / "batches.meta").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DataError, match=r"batches\.meta: holds a list"):
        DATASETS.get("cifar10").load(tmp_path)


def test_not_found_says_how_to_download(tmp_path, isolated_home):
    with pytest.raises(DataError, match=r"sharedspace data download cifar100 --data-dir") as info:
        DATASETS.get("cifar100_coarse").load(None)
    assert str(isolated_home / ".cache" / "sharedspace" / "data" / "cifar-100-python") in str(
        info.value
    )


def test_pickle_cannot_allocate_what_it_does_not_hold(tmp_path):
    """A few bytes asking for numpy.ndarray((2**31,)) or a memo slot 2**31 must not allocate it."""
    huge_array = tmp_path / "array"
    huge_array.write_bytes(b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x7f\x85R.")
    with pytest.raises(DataError, match=r"not a readable data pickle"):
        load_pickle(huge_array)
    huge_memo = tmp_path / "memo"
    huge_memo.write_bytes(b"\x80\x02}r\xff\xff\xff\x7f.")  # LONG_BINPUT 2**31 - 1
    assert load_pickle(huge_memo) == {}


CIFAR10_FILES = (write_cifar10, "cifar-10-batches-py", write_cifar10_binary, "cifar-10-batches-bin")
CIFAR100_FILES = (write_cifar100, "cifar-100-python", write_cifar100_binary, "cifar-100-binary")


@pytest.mark.parametrize(
    ("dataset", "files"),
    [("cifar10", CIFAR10_FILES), ("cifar100", CIFAR100_FILES), ("cifar100_coarse", CIFAR100_FILES)],
)
def test_binary_version_reads_as_the_python_one(tmp_path, dataset, files):
    write_python, python_folder, write_binary, binary_folder = files
    write_binary(
        write_python(tmp_path / "python" / python_folder), tmp_path / "bin" / binary_folder
    )
    python, binary = (DATASETS.get(dataset).load(tmp_path / v) for v in ("python", "bin"))
    assert binary.classes == python.classes and binary.superclasses == python.superclasses
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(binary, field), getattr(python, field)), field


def test_binary_version_errors_name_the_file(tmp_path):
    folder = write_cifar10_binary(
        write_cifar10(tmp_path / "python" / "cifar-10-batches-py"),
        tmp_path / "cifar-10-batches-bin",
    )
    batch = folder / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"data_batch_3\.bin: 12291 bytes is not a whole number"):
        DATASETS.get("cifar10").load(tmp_path)
    batch.write_bytes(bytes([10]) + bytes(3072))  # label 10 of 10 classes
    with pytest.raises(DataError, match=r"data_batch_3\.bin: labels outside 0\.\.9"):
        DATASETS.get("cifar10").load(tmp_path)


def test_missing_dataset_says_the_binary_version_is_read_too(tmp_path):
    with pytest.raises(DataError, match=r"the binary version, cifar-10-batches-bin, is read too"):
        DATASETS.get("cifar10").load(tmp_path)
