"""Figures of TFG's generator (Yan et al. 2020, Figs. 5.6 and 5.7): where the features it writes
for unseen pairs lie among the real ones, and how the noise it adds depends on the pair.

Both are 2-D PCA projections (scikit-learn; UMAP is not installable offline here), fitted on all
the points drawn, so distances between the groups are those of the features, not of a layout.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA


def _save(fig: Figure, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _colours(n: int) -> list:
    return list(colormaps["tab10" if n <= 10 else "tab20"].colors)


def real_and_generated(
    real: torch.Tensor,
    real_pairs: torch.Tensor,
    generated: torch.Tensor,
    generated_pairs: torch.Tensor,
    names: Sequence[str],
    path: Path,
    title: str = "",
) -> None:
    """Save a PNG of real features (dots) and generated ones (crosses) of some pairs, a colour a
    pair. real (N, D) with pair ids (N,); generated (M, D) with pair ids (M,); ``names[i]``
    names pair i."""
    points = PCA(2).fit_transform(torch.cat([real, generated]).double().numpy())
    shown = sorted(set(real_pairs.tolist()) | set(generated_pairs.tolist()))
    palette = _colours(len(shown))
    fig = Figure(figsize=(7, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ids = np.concatenate([real_pairs.numpy(), generated_pairs.numpy()])
    is_real = np.arange(len(ids)) < len(real)
    for i, pair in enumerate(shown):
        colour = palette[i % len(palette)]
        mine = ids == pair
        ax.scatter(*points[mine & is_real].T, s=8, alpha=0.5, color=colour, label=names[pair])
        ax.scatter(*points[mine & ~is_real].T, s=14, marker="x", alpha=0.7, color=colour)
    ax.set_title(title or "real (dots) and generated (crosses) features of unseen pairs")
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.legend(fontsize=7, markerscale=2)
    _save(fig, path)


def added_noise(
    panels: dict[str, torch.Tensor], pairs: torch.Tensor, names: Sequence[str], path: Path
) -> None:
    """Save a PNG of one panel per generator: the noise each adds to a layer (rows (N, W), e.g.
    TDS's E_t(t) ⊙ E_n(n) and UDS's E_n(n)) for draws of some pairs (ids (N,)), a colour a pair
    — one cloud for every pair where the noise ignores the task, a cloud a pair where it does."""
    fig = Figure(figsize=(6 * len(panels), 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes: list[Axes] = list(np.atleast_1d(fig.subplots(1, len(panels))))
    shown = sorted(set(pairs.tolist()))
    palette = _colours(len(shown))
    for ax, (label, rows) in zip(axes, panels.items(), strict=True):
        points = PCA(2).fit_transform(rows.double().numpy())
        for i, pair in enumerate(shown):
            mine = (pairs == pair).numpy()
            ax.scatter(*points[mine].T, s=6, alpha=0.5, color=palette[i % len(palette)],
                       label=names[pair])  # fmt: skip
        ax.set_title(label)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
    axes[0].legend(fontsize=7, markerscale=2)
    _save(fig, path)
