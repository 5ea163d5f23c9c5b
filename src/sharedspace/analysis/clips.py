"""Examples of clip classes: a row of frames per class (the report's Fig. 4.3: a camera motion
of each bin)."""

from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def clip_figure(clips: torch.Tensor, labels: Sequence[str], path: Path, title: str) -> None:
    """Save a PNG with clip k's frames (K, F, 3, h, w) uint8 in row k, labelled ``labels[k]``."""
    if clips.ndim != 5 or clips.shape[2] != 3 or len(clips) != len(labels) or not len(clips):
        raise ValueError(
            f"clips must be (K, F, 3, h, w) with K = {len(labels)} labels, K ≥ 1; "
            f"got {tuple(clips.shape)}"
        )
    k, frames = clips.shape[:2]
    fig = Figure(figsize=(1.3 * frames + 1.2, 1.3 * k + 0.5))
    FigureCanvasAgg(fig)
    for row in range(k):
        for f in range(frames):
            ax = fig.add_subplot(k, frames, row * frames + f + 1)
            ax.imshow(clips[row, f].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if f == 0:
                ax.set_ylabel(labels[row], fontsize=8)
            if row == 0:
                ax.set_title(f"frame {f + 1}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
