"""The real Debian packages, where installed (CI installs them): full sizes and sanity.

``isolated_home`` leaves only the Debian locations to be found.
"""

from pathlib import Path

import pytest
import torch

from sharedspace.data import DATASETS

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
FORTUNES = Path("/usr/share/games/fortunes/fortunes")


@pytest.mark.skipif(not FASHION.exists(), reason="needs `apt-get install -y dataset-fashion-mnist`")
def test_debian_fashion_mnist(isolated_home):
    splits = DATASETS.get("fashion_mnist").load(None)
    assert splits.train_images.shape == (60_000, 1, 28, 28)
    assert splits.test_images.shape == (10_000, 1, 28, 28)
    assert torch.equal(splits.train_labels.bincount(), torch.full((10,), 6000))
    assert torch.equal(splits.test_labels.bincount(), torch.full((10,), 1000))
    assert 60 < splits.train_images.float().mean() < 90  # mostly dark background


@pytest.mark.skipif(not FORTUNES.exists(), reason="needs `apt-get install -y fortunes`")
def test_debian_fortunes(isolated_home):
    splits = DATASETS.get("fortunes").load(None)
    n = len(splits.train) + len(splits.validation) + len(splits.test)
    assert n > 10_000
    assert len(splits.test) == n // 20 or len(splits.test) == n // 20 + 1
    docs = splits.train + splits.validation + splits.test
    assert not any(line == "%" for doc in docs for line in doc.split("\n"))
    assert all(doc.strip() for doc in docs)
    for split in ("train", "validation", "test"):
        assert len(splits.categories[split]) == len(getattr(splits, split))
    assert {"art", "computers", "science"} <= set(splits.categories["train"])
    assert not any(c in ("off", "rude") or "." in c for c in splits.categories["train"])
