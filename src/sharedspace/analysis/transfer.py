"""Which tasks help or hurt each other: the transfer a run measured, read back and drawn.

The trainer logs, every so many steps, one ``metrics.jsonl`` record per source task i with split
``transfer`` and, for each target task j, ``cosine.<j>`` (the cosine of the two tasks' gradients on
the shared parameters) and ``affinity.<j>`` (TAG's lookahead affinity, Fifty et al. 2021:
1 − L_j(θ − lr·g_i) / L_j(θ), positive when a step on i lowers j's loss). Drawn as two heatmaps,
rows = the task stepped on, columns = the task whose loss is measured.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sharedspace import layout
from sharedspace.errors import SharedSpaceError
from sharedspace.train.runlog import read_records

SPLIT = "transfer"
KINDS = ("cosine", "affinity")
CELLS = 1 << 24  # steps × tasks²: 10 tasks logged at 160,000 steps; 128 MiB an array


def _checked(record: dict, path: Path) -> dict:
    """A transfer record whose fields have the types the trainer writes, else an error naming
    the file, the step and the field."""
    step, task = record.get("step"), record.get("task")
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise SharedSpaceError(f"{path}: a transfer record's step is {step!r:.40}, not a step")
    if not isinstance(task, str):
        raise SharedSpaceError(f"{path}: step {step}: a transfer record's task is {task!r:.40}")
    for key, value in record.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key.partition(".")[0] in KINDS and not number:
            raise SharedSpaceError(f"{path}: step {step}: {key} is {value!r:.40}, not a number")
    return record


def read_transfer(run_dir: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(task names, steps (S,), cosine (S, T, T), affinity (S, T, T)) from a run's transfer records.

    Tasks are in order of first appearance (as source or target); [s, i, j] is source i's value for
    target j at ``steps[s]``, NaN where that step logged no such pair.
    """
    path = Path(run_dir) / layout.METRICS
    if not path.exists():
        raise SharedSpaceError(f"{path}: no such file (is {run_dir} a run folder?)")
    records = [_checked(r, path) for r in read_records(path) if r.get("split") == SPLIT]
    if not records:
        raise SharedSpaceError(
            f"{path}: no transfer records (split {SPLIT!r}); was the run trained with transfer on?"
        )

    names: dict[str, int] = {}
    for record in records:
        names.setdefault(record["task"], len(names))
        for key in record:
            kind, _, target = key.partition(".")
            if kind in KINDS:
                names.setdefault(target, len(names))
    steps = np.array(sorted({record["step"] for record in records}))
    if len(steps) * len(names) ** 2 > CELLS:  # the arrays are dense: steps × tasks × tasks
        raise SharedSpaceError(
            f"{path}: transfer records of {len(names):,} tasks at {len(steps):,} steps, more "
            f"than the {CELLS:,} values read_transfer holds"
        )
    at = {step: s for s, step in enumerate(steps)}
    values = {kind: np.full((len(steps), len(names), len(names)), np.nan) for kind in KINDS}
    for record in records:
        s, i = at[record["step"]], names[record["task"]]
        for key, value in record.items():
            kind, _, target = key.partition(".")
            if kind in KINDS:
                values[kind][s, i, names[target]] = value
    return list(names), steps, values["cosine"], values["affinity"]


def transfer_figure(
    task_names: Sequence[str],
    cosine: np.ndarray,
    affinity: np.ndarray,
    path: Path,
    title: str = "",
    cos_std: np.ndarray | None = None,
    aff_std: np.ndarray | None = None,
) -> None:
    """Save a PNG of two annotated heatmaps: mean gradient cosine (colours fixed to [-1, 1]) and
    mean TAG affinity (colours symmetric about 0); row i = task stepped on, column j = loss of.

    cosine, affinity: (S, T, T) per logged step (averaged here, ignoring NaN) or (T, T) already
    averaged (e.g. over seeds, then ``cos_std``/``aff_std`` (T, T) are annotated as "mean ± std").
    """
    n = len(task_names)
    panels = []
    for name, given, std in (("cosine", cosine, cos_std), ("affinity", affinity, aff_std)):
        values = np.asarray(given, dtype=np.float64)
        if values.ndim == 3:
            values = np.nanmean(values, axis=0)
        if values.shape != (n, n):
            raise ValueError(f"{name} must be (S, {n}, {n}) or ({n}, {n}), got {np.shape(given)}")
        if std is not None and np.shape(std) != (n, n):
            raise ValueError(f"the std of {name} must be ({n}, {n}), got {np.shape(std)}")
        panels.append((values, None if std is None else np.asarray(std, dtype=np.float64)))

    (cos, cos_sd), (aff, aff_sd) = panels
    fig = Figure(figsize=(2 * (1.6 + 0.9 * n) + 1.5, 1.6 + 0.8 * n), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _heatmap(left, cos, cos_sd, task_names, "gradient cosine", 1.0, ".2f")
    reach = np.nanmax(np.abs(aff)) if np.isfinite(aff).any() else 0.0
    _heatmap(
        right, aff, aff_sd, task_names, "TAG affinity 1 − L_j(θ − lr·g_i)/L_j(θ)", reach, ".2g"
    )
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _heatmap(
    ax: Axes,
    values: np.ndarray,
    std: np.ndarray | None,
    names: Sequence[str],
    title: str,
    reach: float,
    fmt: str,
) -> None:
    """One panel on a diverging colour map over [−reach, reach], each cell written in (NaN: "–")."""
    reach = reach if reach > 0 else 1.0
    image = ax.imshow(values, cmap="RdBu", vmin=-reach, vmax=reach)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    for (i, j), value in np.ndenumerate(values):
        text = "–" if np.isnan(value) else format(value, fmt)
        if std is not None and not np.isnan(std[i, j]):
            text += f"\n± {std[i, j]:{fmt}}"
        dark = not np.isnan(value) and abs(value) > 0.6 * reach
        ax.text(
            j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black"
        )
    ticks, tilt = range(len(names)), len(names) > 3 or max(map(len, names)) > 8
    ax.set_xticks(ticks, labels=names, rotation=45 if tilt else 0, ha="right" if tilt else "center")
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("loss of task j")
    ax.set_ylabel("step on task i")
    ax.set_title(title)
