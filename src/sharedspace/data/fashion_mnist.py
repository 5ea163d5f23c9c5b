"""Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey images of clothes in 10 classes.

Read from the four official IDX files, gzipped (as downloaded and as Debian's
``dataset-fashion-mnist`` ships them) or already unpacked.
"""

from pathlib import Path

import numpy as np
import torch

from sharedspace.data.datasets import IMAGE_DATASETS, ImageSplits
from sharedspace.data.idx import read_idx
from sharedspace.data.locate import find_dataset
from sharedspace.errors import DataError

FOLDER = "fashion-mnist"
DEBIAN_ROOT = Path("/usr/share/datasets")
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension


@IMAGE_DATASETS.register("fashion_mnist")
def load_fashion_mnist(data_dir: Path | None = None) -> ImageSplits:
    """Load the official 60,000/10,000 train/test split as uint8 (N, 1, 28, 28) images."""
    folder = find_dataset(
        FOLDER,
        ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"),
        data_dir,
        debian_root=DEBIAN_ROOT,
        how_to_get=(
            "get it with `apt-get install -y dataset-fashion-mnist` or "
            "`sharedspace data download fashion_mnist --data-dir DIR`"
        ),
    )
    train_images, train_labels = _split(folder, "train")
    test_images, test_labels = _split(folder, "t10k")
    return ImageSplits(train_images, train_labels, test_images, test_labels, list(CLASSES))


def _split(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images_path = _file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _file(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: images are {images.shape[1:]}, expected (28, 28)")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images")
    if labels.size and labels.max() >= len(CLASSES):
        raise DataError(f"{labels_path}: label {labels.max()} is not one of {len(CLASSES)} classes")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _file(folder: Path, name: str) -> Path:
    """The gzipped file if present, else the unpacked one; the error names the gzipped one."""
    gz = folder / f"{name}.gz"
    if gz.is_file() or not (folder / name).is_file():
        return gz
    return folder / name
