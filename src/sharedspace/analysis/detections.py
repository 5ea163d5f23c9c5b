"""Detections drawn on images: the true boxes and the detector's, each with its class.

True boxes dashed white, detections solid in a colour per class with the class and score above;
only detections scored ≥ ``threshold`` are drawn (a CenterNet keeps 100 per image, most near 0).
"""

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from sharedspace.layers.boxes import Detections


def detection_figure(
    images: torch.Tensor,
    found: Detections,
    truth: tuple[torch.Tensor, torch.Tensor],
    classes: Sequence[str],
    path: Path,
    threshold: float = 0.3,
    columns: int = 4,
) -> None:
    """Save a PNG of ``images`` (N, 3, H, W) uint8 with their boxes.

    found: the detections (N, K); truth: boxes (N, G, 4) x0, y0, x1, y1 pixels and labels
    (N, G), −1 where none.
    """
    n = len(images)
    if n == 0 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W) with N >= 1; got {images.shape}")
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    colours = colormaps["tab20"]
    fig = Figure(figsize=(3 * columns, 3 * rows + 0.4))
    FigureCanvasAgg(fig)
    for i in range(n):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(images[i].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
        ax.set_axis_off()
        for box, label in zip(truth[0][i], truth[1][i], strict=True):
            if label >= 0:
                ax.add_patch(_rectangle(box, "white", "--"))
        keep = (found.labels[i] >= 0) & (found.scores[i] >= threshold)
        for box, label, score in zip(
            found.boxes[i][keep], found.labels[i][keep], found.scores[i][keep], strict=True
        ):
            colour = colours(int(label) % colours.N)
            ax.add_patch(_rectangle(box, colour, "-"))
            name = classes[int(label)].rsplit("/", 1)[-1]
            x0, y0 = (float(v) for v in box[:2])
            box_style = {"facecolor": colour, "pad": 0.5, "linewidth": 0}
            label = f"{name} {float(score):.2f}"
            ax.text(x0, y0, label, color="black", fontsize=6, va="bottom", bbox=box_style)
    fig.suptitle(
        f"dashed white: true boxes; coloured: detections scored ≥ {threshold:g}", fontsize=9
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _rectangle(box: torch.Tensor, colour: object, style: str) -> Rectangle:
    x0, y0, x1, y1 = np.asarray(box, dtype=float)
    return Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=colour,
                     linestyle=style, linewidth=1.2)  # fmt: skip
