"""Which experts each task uses, and which tasks cluster together (Yan et al. 2020, Fig. 3.3).

A multi-clustering space's gate probabilities p_i(t) (tasks × experts) say how likely task t is
to use expert i; two tasks whose rows are alike share experts. Drawn as two panels: the gate
probabilities, and the correlation between the tasks' rows (Pearson, over experts).
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def task_correlation(p: np.ndarray) -> np.ndarray:
    """(T, M) gate probabilities → (T, T) Pearson correlation of the tasks' rows; a task whose
    row is constant (no preference) correlates 0 with the others and 1 with itself."""
    centred = p - p.mean(1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    corr = (centred / safe[:, None]) @ (centred / safe[:, None]).T
    np.fill_diagonal(corr, 1.0)
    return corr


def gates_figure(p: np.ndarray, task_names: Sequence[str], path: Path, title: str = "") -> None:
    """Save a PNG: p_i(t) (tasks × experts, 0–1) beside the task–task correlation of its rows."""
    p = np.asarray(p, dtype=np.float64)
    t, m = p.shape
    fig = Figure(figsize=(3 + 0.45 * (m + t), 1.5 + 0.4 * t), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, width_ratios=[m, t])
    image = left.imshow(p, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=left, shrink=0.8)
    left.set_xticks(range(m))
    left.set_yticks(range(t), labels=task_names)
    left.set_xlabel("expert i")
    left.set_title("gate probability p_i(t)")
    image = right.imshow(task_correlation(p), cmap="RdBu", vmin=-1, vmax=1)
    fig.colorbar(image, ax=right, shrink=0.8)
    right.set_xticks(range(t), labels=task_names, rotation=90)
    right.set_yticks(range(t), labels=task_names)
    right.set_title("task–task correlation")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
