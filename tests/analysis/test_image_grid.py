"""The image grid is a real PNG with each input above what was made of it."""

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from sharedspace.analysis.image_grid import _mosaic, image_grid


def test_grayscale_tensor_grid(tmp_path: Path) -> None:
    originals = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "recon.png"
    image_grid([originals, originals * 0.5], path, "t", columns=4)
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    # 3 row pairs of 28 px images at zoom 2 (plus title), 4 columns.
    assert 6 * 28 * 2 <= height <= 6 * 28 * 2 + 150
    assert 4 * 28 * 2 <= width <= 4 * 28 * 2 + 100


def test_rgb_array_grid_with_out_of_range_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    originals = rng.uniform(size=(5, 3, 32, 32)).astype(np.float32)
    path = tmp_path / "sub" / "recon.png"
    image_grid([originals, originals + 0.3], path, "t")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300


def test_each_input_sits_above_its_reconstruction() -> None:
    top = np.zeros((3, 1, 4, 4), dtype=np.float32) + np.arange(3).reshape(3, 1, 1, 1) / 10
    bottom = top + 0.5
    mosaic = _mosaic([top, bottom], columns=2)  # pad 1, gap 3: pairs start at rows 0 and 12
    assert mosaic.shape == (2 * 12 - 3, 2 * 5 - 1)
    assert np.all(mosaic[0:4, 5:9] == 0.1) and np.all(mosaic[5:9, 5:9] == 0.6)
    assert np.all(mosaic[12:16, 0:4] == 0.2) and np.all(mosaic[17:21, 0:4] == 0.7)
    assert np.all(mosaic[12:, 5:] == 1.0)  # the empty cell is background


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        ((2, 1, 8, 8), (3, 1, 8, 8), "same shape"),
        ((2, 2, 8, 8), (2, 2, 8, 8), r"C in \(1, 3\)"),
        ((2, 8, 8), (2, 8, 8), "N, C, H, W"),
    ],
)
def test_bad_shapes_are_refused(tmp_path: Path, a: tuple, b: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        image_grid([np.zeros(a), np.zeros(b)], tmp_path / "recon.png", "t")


def test_three_rows_stack_in_order() -> None:
    rows = [np.full((2, 3, 4, 4), v, dtype=np.float32) for v in (0.1, 0.4, 0.7)]
    mosaic = _mosaic(rows, columns=2)  # pad 1: a stack is 3 × 4 + 2 = 14 rows
    assert mosaic.shape == (14, 2 * 5 - 1, 3)
    assert np.all(mosaic[0:4, 0:4] == 0.1) and np.all(mosaic[5:9, 5:9] == 0.4)
    assert np.all(mosaic[10:14, 0:4] == 0.7) and np.all(mosaic[4, :4] == 1.0)
