"""A grid of images in stacks: each column holds an input above what the model made of it
(a reconstruction; a colourisation above the true colours).

Drawn as one mosaic image (a single ``imshow``), which stays fast and pixel-exact for 64+ images
where a subplot per image would not.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def image_grid(
    rows: Sequence[torch.Tensor | np.ndarray], path: Path, title: str, columns: int = 8
) -> None:
    """Save a PNG where image k of every array of ``rows`` is stacked in order, first on top.

    rows: arrays (N, C, H, W) of one shape, C = 1 (grayscale) or 3 (RGB), values in [0, 1];
    values outside are clipped (a decoder without a final sigmoid can overshoot).
    """
    images = [_as_images(r) for r in rows]
    if not images or any(i.shape != images[0].shape for i in images):
        shapes = ", ".join(str(i.shape) for i in images) or "none"
        raise ValueError(f"rows must be ≥ 1 arrays of the same shape; got {shapes}")
    first = images[0]
    if first.ndim != 4 or first.shape[0] == 0 or first.shape[1] not in (1, 3):
        raise ValueError(
            f"images must have shape (N, C, H, W) with N >= 1, C in (1, 3); got {first.shape}"
        )
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")

    mosaic = _mosaic(images, columns)  # (rows, cols) or (rows, cols, 3)
    zoom = max(1, 64 // max(first.shape[2:]))  # small images (28 px) drawn at least ~64 px wide
    height, width = mosaic.shape[:2]
    fig = Figure(figsize=(max(3.0, width * zoom / 100), height * zoom / 100 + 0.5))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, y=1 - 0.1 / fig.get_figheight(), va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _as_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().float().numpy()
    return np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)


def _mosaic(rows: list[np.ndarray], columns: int) -> np.ndarray:
    """Tile K arrays (N, C, H, W) as N stacks of K on a white background: a thin line between
    images, a wider gap between stacks so each input is read with what is under it."""
    n, c, h, w = rows[0].shape
    k = len(rows)
    columns = min(columns, n)
    stacks = math.ceil(n / columns)
    pad = max(1, h // 14)
    gap = 3 * pad
    stride_y, stride_x = k * h + (k - 1) * pad + gap, w + pad
    canvas = np.ones((stacks * stride_y - gap, columns * stride_x - pad, c), dtype=np.float32)
    for i in range(n):
        stack, col = divmod(i, columns)
        x = col * stride_x
        for j, images in enumerate(rows):
            y = stack * stride_y + j * (h + pad)
            canvas[y : y + h, x : x + w] = images[i].transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas
