"""Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey images of clothes in 10 classes.

Read from the four official IDX files, gzipped (as downloaded and as Debian's
``dataset-fashion-mnist`` ships them) or already unpacked.
"""

from pathlib import Path

import numpy as np
import torch

from sharedspace.data.datasets import ImageSplits, dataset
from sharedspace.data.idx import IdxFile
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
# The official split's sizes: a header declaring more images is refused before inflating (a gzip
# file of a few MB may otherwise declare GBs, within what deflate can pack)
SPLIT_SIZES = {"train": 60_000, "t10k": 10_000}


@dataset("fashion_mnist", kind="image", splits=ImageSplits)
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
    train_images, train_labels = _split(folder, "train", SPLIT_SIZES["train"])
    test_images, test_labels = _split(folder, "t10k", SPLIT_SIZES["t10k"])
    return ImageSplits(train_images, train_labels, test_images, test_labels, list(CLASSES))


def _split(folder: Path, prefix: str, most: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One split's images and labels; the two headers are compared (and the image count held to
    ``most``) before either body is read, so a lying pair costs no memory."""
    images_path = _file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _file(folder, f"{prefix}-labels-idx1-ubyte")
    with (
        IdxFile(images_path, IMAGES_MAGIC) as images_file,
        IdxFile(labels_path, LABELS_MAGIC) as labels_file,
    ):
        (n, *shape), (n_labels,) = images_file.dims, labels_file.dims
        if tuple(shape) != (28, 28):
            raise DataError(f"{images_path}: images are {tuple(shape)}, expected (28, 28)")
        if n_labels != n:
            raise DataError(f"{labels_path}: {n_labels} labels for {n} images")
        if n > most:
            raise DataError(f"{images_path}: {n:,} images, more than the official {most:,}")
        images, labels = images_file.read(), labels_file.read()
    if labels.size and labels.max() >= len(CLASSES):
        raise DataError(f"{labels_path}: label {labels.max()} is not one of {len(CLASSES)} classes")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _file(folder: Path, name: str) -> Path:
    """The gzipped file if present, else the unpacked one; the error names the gzipped one."""
    gz = folder / f"{name}.gz"
    if gz.is_file() or not (folder / name).is_file():
        return gz
    return folder / name
