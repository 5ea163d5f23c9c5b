import re
import tracemalloc

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS, fashion_mnist
from sharedspace.errors import DataError
from tests.data.data_formats import write_fashion_mnist, write_idx, write_zeros_idx

load = DATASETS.get("fashion_mnist").load


@pytest.mark.parametrize("gz", [True, False])
def test_loads_official_files_gzipped_or_raw(tmp_path, gz):
    write_fashion_mnist(tmp_path / "fashion-mnist", gz=gz)
    splits = load(tmp_path)
    assert splits.train_images.shape == (12, 1, 28, 28)
    assert splits.train_images.dtype == torch.uint8
    assert splits.test_images.shape == (5, 1, 28, 28)
    assert splits.train_labels.dtype == torch.int64
    assert splits.train_labels.tolist() == [i % 10 for i in range(12)]
    assert len(splits.classes) == 10 and splits.classes[9] == "Ankle boot"


def test_pixels_are_in_row_major_order(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    image = np.arange(28 * 28, dtype=np.uint16).reshape(1, 28, 28).astype(np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", image)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([3], np.uint8))
    splits = load(tmp_path)
    assert torch.equal(splits.test_images[0, 0], torch.from_numpy(image[0]))


def test_data_dir_may_be_the_dataset_folder_itself(tmp_path):
    folder = write_fashion_mnist(tmp_path / "somewhere")
    assert load(folder).train_images.shape[0] == 12


def test_found_through_environment_variable(tmp_path, isolated_home, monkeypatch):
    write_fashion_mnist(tmp_path / "store" / "fashion-mnist")
    monkeypatch.setenv("SHAREDSPACE_DATA_DIR", str(tmp_path / "store"))
    assert load(None).test_images.shape[0] == 5


def test_found_in_user_cache(isolated_home):
    write_fashion_mnist(isolated_home / ".cache" / "sharedspace" / "data" / "fashion-mnist")
    assert load(None).test_images.shape[0] == 5


def test_not_found_lists_every_place_and_how_to_get_it(tmp_path, isolated_home, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_ROOT", tmp_path / "debian")
    monkeypatch.setenv("SHAREDSPACE_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DataError) as info:
        load(None)
    message = str(info.value)
    for place in (
        tmp_path / "env" / "fashion-mnist",
        isolated_home / ".cache" / "sharedspace" / "data" / "fashion-mnist",
        tmp_path / "debian" / "fashion-mnist",
    ):
        assert str(place) in message
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "sharedspace data download fashion_mnist" in message


def test_truncated_images_name_the_file(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist", gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*truncated"):
        load(tmp_path)


def test_missing_labels_file_is_named(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz"):
        load(tmp_path)


def test_label_count_must_match_image_count(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match=r"11 labels for 12 images"):
        load(tmp_path)


def test_labels_swapped_with_images_are_caught_by_magic(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    labels = folder / "train-labels-idx1-ubyte.gz"
    (folder / "train-images-idx3-ubyte.gz").write_bytes(labels.read_bytes())
    with pytest.raises(DataError, match=r"magic number is 0x00000801, expected 0x00000803"):
        load(tmp_path)


def test_label_out_of_range(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 10], np.uint8))
    with pytest.raises(DataError, match=r"label 10"):
        load(tmp_path)


def peak_memory(run) -> tuple[object, int]:
    """``run()``'s result (or the DataError it raised) and the most memory it held at once."""
    tracemalloc.start()
    try:
        try:
            result = run()
        except DataError as e:
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# images dims, label count, the error: each pair is refused from the two headers alone
LYING_PAIRS = {
    "counts differ": ([25_000, 28, 28], 10, r"10 labels for 25000 images"),
    "not 28x28": ([25_000, 28, 27], 25_000, r"images are \(28, 27\), expected \(28, 28\)"),
    "more than official": ([70_000, 28, 28], 70_000, r"70,000 images, more than the official"),
}


@pytest.mark.parametrize("pair", LYING_PAIRS)
def test_a_lying_pair_is_refused_from_its_headers_before_inflating(tmp_path, pair):
    """Gzipped images whose bodies really inflate to 20-55 MB (a real bomb inflates to GBs, still
    within what deflate can pack): refused having used well under 1 MB."""
    dims, n_labels, message = LYING_PAIRS[pair]
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    write_zeros_idx(folder / "train-images-idx3-ubyte.gz", dims, dims[0] * dims[1] * dims[2])
    write_zeros_idx(folder / "train-labels-idx1-ubyte.gz", [n_labels], n_labels)
    error, peak = peak_memory(lambda: load(tmp_path))
    assert isinstance(error, DataError), error
    assert re.search(message, str(error)), error
    assert peak < 1 << 20


def test_a_valid_pair_loads_into_one_copy(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    write_zeros_idx(folder / "train-images-idx3-ubyte.gz", [20_000, 28, 28], 20_000 * 28 * 28)
    write_zeros_idx(folder / "train-labels-idx1-ubyte.gz", [20_000], 20_000)
    splits, peak = peak_memory(lambda: load(tmp_path))
    assert splits.train_images.shape == (20_000, 1, 28, 28)
    assert splits.train_labels.shape == (20_000,)
    assert peak < splits.train_images.numel() + (3 << 20)  # plus int64 labels and a chunk
