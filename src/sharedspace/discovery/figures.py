"""Figures of a search: how the best score grew, and what a found task's two classes look like."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def draw_trace(path: Path, names: Sequence[str], scores: Sequence[Sequence[float]]) -> Path:
    """The best score so far against labellings scored, one line per search (the baseline's
    too): a search that beats random search of its budget ends above its line."""
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, values in zip(names, scores, strict=True):
        ax.plot(np.arange(1, len(values) + 1), np.maximum.accumulate(values), label=name)
    ax.set_xlabel("labellings scored")
    ax.set_ylabel("best score so far")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def draw_task(path: Path, images: torch.Tensor, labels: torch.Tensor, columns: int = 10) -> Path:
    """``images`` (N, C, H, W) in [0, 1] and their 0/1 ``labels``: the positives in the top
    rows, the negatives below (at most two rows each)."""
    groups = [("positives", images[labels == 1]), ("negatives", images[labels == 0])]
    rows, titles = [], {}
    for name, group in groups:
        titles[len(rows)] = name
        rows += [group[i : i + columns] for i in range(0, min(len(group), 2 * columns), columns)]
    fig = Figure(figsize=(columns, 1.1 * len(rows)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(columns):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(row):
                picture = row[c].permute(1, 2, 0).numpy()
                ax.imshow(picture.squeeze(2) if picture.shape[2] == 1 else picture, cmap="gray")
    for r, name in titles.items():
        if r < len(rows):
            axes[r, 0].set_title(name, loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def draw_sanity(path: Path, groups: dict[str, dict[str, torch.Tensor]]) -> Path:
    """Histograms of each score (one panel each) for each group of labellings, e.g. real class
    splits against random labellings: a score worth searching with separates them."""
    names = list(next(iter(groups.values())))
    fig = Figure(figsize=(5 * len(names), 3.5))
    FigureCanvasAgg(fig)
    for ax, score in zip(fig.subplots(1, len(names), squeeze=False)[0], names, strict=True):
        values = [g[score].numpy() for g in groups.values()]
        bins = np.linspace(min(v.min() for v in values), max(v.max() for v in values), 25)
        for label, v in zip(groups, values, strict=True):
            ax.hist(v, bins=bins, alpha=0.6, label=f"{label} ({len(v)})")
        ax.set_xlabel(score)
        ax.set_ylabel("labellings")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def draw_studies(path: Path, panels: dict[str, list[dict]], score: str = "taskness") -> Path:
    """One panel per study: ``score`` (mean ± std over labellings) against the study's value."""
    fig = Figure(figsize=(4.5 * len(panels), 3.5))
    FigureCanvasAgg(fig)
    for ax, (xlabel, rows) in zip(
        fig.subplots(1, len(panels), squeeze=False)[0], panels.items(), strict=True
    ):
        x = [r["value"] for r in rows]
        ax.errorbar(
            x,
            [r[score] for r in rows],
            yerr=[r[f"{score}_std"] for r in rows],
            capsize=3,
            marker="o",
        )
        if min(x) > 0 and max(x) >= 10 * min(x):  # ratios 1 … 19: spread them evenly
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{score} (mean ± std)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
