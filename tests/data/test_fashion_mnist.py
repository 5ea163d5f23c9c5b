import numpy as np
import pytest
import torch

from sharedspace.data import IMAGE_DATASETS, fashion_mnist
from sharedspace.errors import DataError
from tests.data.data_formats import write_fashion_mnist, write_idx

load = IMAGE_DATASETS.get("fashion_mnist")


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
