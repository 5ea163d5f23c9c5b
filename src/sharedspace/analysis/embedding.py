"""Where inputs land in the shared space: a 2-D PCA projection coloured by modality and by task.

If the space is shared, points of different modalities mix; if tasks separate, it says so.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def pca_figure(
    vectors: np.ndarray,
    modality: Sequence[str],
    task: Sequence[str],
    path: Path,
    title: str = "",
) -> np.ndarray:
    """Save a PNG of the first two principal components, coloured by modality and by task.

    vectors: (N, D) shared-space embeddings; ``modality[i]`` and ``task[i]`` label row i.
    Returns the explained-variance ratios of PC1 and PC2, shape (2,).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or min(vectors.shape) < 2:
        raise ValueError(f"vectors must have shape (N, D) with N, D >= 2, got {vectors.shape}")
    n = len(vectors)
    if len(modality) != n or len(task) != n:
        raise ValueError(
            f"need one modality and one task label per vector ({n}), "
            f"got {len(modality)} modalities and {len(task)} tasks"
        )

    pca = PCA(n_components=2)
    points = pca.fit_transform(vectors)  # (N, 2)
    ratios = pca.explained_variance_ratio_

    fig = Figure(figsize=(12, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _scatter_by(left, points, modality, "modality", ratios)
    _scatter_by(right, points, task, "task", ratios)
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return ratios


def _scatter_by(
    ax: Axes, points: np.ndarray, labels: Sequence[str], name: str, ratios: np.ndarray
) -> None:
    """One panel: a colour (and, past the palette, a marker) per label, in first-seen order."""
    labels = np.asarray([str(label) for label in labels])
    groups = list(dict.fromkeys(labels))
    palette = list(colormaps["tab10" if len(groups) <= 10 else "tab20"].colors)
    size = max(4.0, 40.0 / np.sqrt(len(points) / 50))
    for i, group in enumerate(groups):
        mask = labels == group
        ax.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size,
            alpha=0.7,
            color=palette[i % len(palette)],
            marker=_MARKERS[(i // len(palette)) % len(_MARKERS)],
            label=f"{group} ({mask.sum()})",
        )
    ax.set_xlabel(f"PC1 ({ratios[0]:.1%} of variance)")
    ax.set_ylabel(f"PC2 ({ratios[1]:.1%} of variance)")
    ax.set_title(f"by {name}")
    # Past a handful of groups a legend inside the axes hides the points it explains.
    outside = {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0)} if len(groups) > 8 else {}
    ax.legend(title=name, fontsize="small", markerscale=1.5, **outside)
