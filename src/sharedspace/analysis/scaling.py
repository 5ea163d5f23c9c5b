"""A metric against training-set size, one line per method with its spread over seeds — how
much each architecture gains from sharing as data gets scarce."""

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Series = dict[str, tuple[list[int], list[float], list[float]]]  # label → (sizes, means, stds)


def metric_vs_size_figure(panels: dict[str, Series], path: Path, ylabel: str) -> None:
    """Save a PNG with one panel per title, side by side on one y scale: in each, for each label
    (sizes, means, stds) a line with ±std error bars, sizes on a log axis (a std that is NaN,
    from one seed, draws no bar)."""
    fig = Figure(figsize=(1 + 6 * len(panels), 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (title, series) in zip(axes, panels.items(), strict=True):
        for label, (sizes, means, stds) in series.items():
            ax.errorbar(sizes, means, yerr=np.nan_to_num(stds), marker="o", capsize=3, label=label)
        ax.set_xscale("log")
        sizes = sorted({s for sizes, _, _ in series.values() for s in sizes})
        ax.set_xticks(sizes, labels=[str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training examples per task")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_title(title)
    axes[0].set_ylabel(ylabel)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
