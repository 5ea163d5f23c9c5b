"""Shared fixtures: the tiny datasets every end-to-end test trains on."""

from pathlib import Path

import numpy as np
import pytest

from tests.tiny import WORDS, learnable_images, write_idx


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fashion-mnist/ (1000 train, 200 test) and fortunes/fortunes (`%`-separated entries)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    fm = root / "fashion-mnist"
    fm.mkdir()
    for prefix, n in (("train", 1000), ("t10k", 200)):
        images, labels = learnable_images(n, rng)
        write_idx(fm / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(fm / f"{prefix}-labels-idx1-ubyte.gz", labels)
    fortunes = root / "fortunes"
    fortunes.mkdir()
    entries = [" ".join(rng.choice(WORDS, 12)) + " ." for _ in range(400)]
    (fortunes / "fortunes").write_text("\n%\n".join(entries) + "\n%\n")
    return root


CATEGORIES = [
    "art",
    "computers",
    "education",
    "food",
    "law",
    "love",
    "politics",
    "science",
    "sports",
]


@pytest.fixture(scope="session")
def tiny_category_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fortunes/ with one file per category (the names the shipped config keeps), 300 entries
    each: common words mixed with a few words typical of the category, so it can be learned."""
    root = tmp_path_factory.mktemp("categories")
    rng = np.random.default_rng(1)
    (root / "fortunes").mkdir()
    for name in CATEGORIES:
        typical = [f"{name}{k}" for k in range(4)]
        entries = []
        for _ in range(300):
            words = list(rng.choice(WORDS, rng.integers(5, 12)))
            for _ in range(rng.integers(1, 3)):
                words.insert(rng.integers(0, len(words) + 1), str(rng.choice(typical)))
            entries.append(" ".join(words) + " .")
        (root / "fortunes" / name).write_text("\n%\n".join(entries) + "\n%\n")
        (root / "fortunes" / f"{name}.dat").write_bytes(b"index")  # as strfile writes beside it
    return root
