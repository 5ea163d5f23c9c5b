"""A grid that shows what a reconstruction cap gives back: inputs above their reconstructions.

Drawn as one mosaic image (a single ``imshow``), which stays fast and pixel-exact for 64+ images
where a subplot per image would not.
"""

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TITLE = "top: input, bottom: reconstruction"


def reconstruction_grid(
    originals: torch.Tensor | np.ndarray,
    reconstructions: torch.Tensor | np.ndarray,
    path: Path,
    columns: int = 8,
) -> None:
    """Save a PNG where each row of inputs has its reconstructions directly beneath it.

    originals, reconstructions: (N, C, H, W) with C = 1 (grayscale) or 3 (RGB), values in [0, 1];
    values outside are clipped (a decoder without a final sigmoid can overshoot).
    """
    top, bottom = _as_images(originals), _as_images(reconstructions)
    if top.shape != bottom.shape:
        raise ValueError(
            f"originals {top.shape} and reconstructions {bottom.shape} must have the same shape"
        )
    if top.ndim != 4 or top.shape[0] == 0 or top.shape[1] not in (1, 3):
        raise ValueError(
            f"images must have shape (N, C, H, W) with N >= 1, C in (1, 3); got {top.shape}"
        )
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")

    mosaic = _mosaic(top, bottom, columns)  # (rows, cols) or (rows, cols, 3)
    zoom = max(1, 64 // max(top.shape[2:]))  # small images (28 px) drawn at least ~64 px wide
    height, width = mosaic.shape[:2]
    fig = Figure(figsize=(max(3.0, width * zoom / 100), height * zoom / 100 + 0.5))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(TITLE, y=1 - 0.1 / fig.get_figheight(), va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _as_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().float().numpy()
    return np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)


def _mosaic(top: np.ndarray, bottom: np.ndarray, columns: int) -> np.ndarray:
    """Tile (N, C, H, W) pairs on a white background: a thin line between images, a wider gap
    between row pairs so each input is read with the reconstruction under it."""
    n, c, h, w = top.shape
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    pad = max(1, h // 14)
    gap = 3 * pad
    stride_y, stride_x = 2 * h + pad + gap, w + pad
    canvas = np.ones((rows * stride_y - gap, columns * stride_x - pad, c), dtype=np.float32)
    for k in range(n):
        row, col = divmod(k, columns)
        y, x = row * stride_y, col * stride_x
        canvas[y : y + h, x : x + w] = top[k].transpose(1, 2, 0)
        canvas[y + h + pad : y + 2 * h + pad, x : x + w] = bottom[k].transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas
