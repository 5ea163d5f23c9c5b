"""Which loss weighting or gradient aggregation removes SUS's negative transfer?

    sharedspace reproduce weighting [--budget smoke|default|full] [--data-dir DIR] [key=value …]

The three SUS tasks train jointly, every task in every step (``configs/weighting/joint.yaml``),
once per weighting method and seed; each task also trains alone for the same number of steps.
The table gives each task's test metric (mean ± std over seeds) and Δm% (Maninis et al. 2019;
LibMTL's Δp): the mean over tasks of the relative change against single-task training,
sign-corrected so that positive is better, Δm = 100/T · Σ_t s_t (M_joint,t − M_single,t) /
M_single,t with s_t = +1 where higher is better and −1 where lower is. A method with joint ≥
single on every task has no negative transfer. Each joint run probes task transfer (gradient
cosine, TAG affinity); ``transfer-<method>.png`` averages them over seeds. Every run keeps its
folder under ``OUT/weighting-BUDGET/``, so ``--resume`` continues an interrupted study.
"""

from pathlib import Path
from typing import Any

import numpy as np

from sharedspace import layout
from sharedspace.analysis.transfer import read_transfer, transfer_figure
from sharedspace.config import CONFIGS, ExperimentConfig, load_yaml
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions, budget_setting
from sharedspace.experiments.sus import Budget, table_note
from sharedspace.overrides import apply_to_each
from sharedspace.resolve import load_config
from sharedspace.runs import draw_run_figures
from sharedspace.tables import mean_std, write_table
from sharedspace.train.record import Origin
from sharedspace.train.weighting import WEIGHTINGS

CONFIG = CONFIGS / "weighting" / "joint.yaml"

# loss level, then gradient level (``fixed`` needs weights chosen by hand: not a method to rank)
METHODS = [
    "equal", "uncertainty", "dwa", "rlw", "famo",
    "gradnorm", "pcgrad", "mgda", "cagrad", "nash_mtl", "imtl_g", "aligned_mtl", "upgrad",
]  # fmt: skip

# task name in the config → (table column, metric, +1 higher is better / −1 lower is better)
METRICS = {
    "classification": ("Accuracy", "accuracy", +1),
    "reconstruction": ("MSE per pixel, 0–1", "mse_pixel_01", -1),
    "next_word": ("Perplexity", "perplexity", -1),
}

BUDGETS = {
    # seconds: wiring only, numbers meaningless
    "smoke": (
        Budget(
            train={"max_steps": 4, "batch_size": 32, "log_every": 2, "warmup_steps": 2,
                   "transfer_every": 3, "eval_every": None, "progress": False},
            data={"image": {"train_size": 512, "val_size": 256, "eval_size": 256},
                  "text": {"train_size": 512, "eval_size": 256}},
        ),
        [0],
    ),
    # about 1 minute per joint run on 2 CPU cores, the study in about an hour; three seeds
    "default": (
        Budget(
            train={"max_steps": 200, "eval_every": None, "transfer_every": 25},
            data={kind: {"train_size": 20000, "eval_size": 2000} for kind in ("image", "text")},
        ),
        [0, 1, 2],
    ),
    # the configuration as written; three seeds
    "full": (Budget(), [0, 1, 2]),
}  # fmt: skip


def run_configs(
    budget: str, out_dir: str, data_dir: str | None, overrides: list[str], methods: list[str]
) -> dict[str, ExperimentConfig]:
    """Run name → config, each validated before any trains: each task alone with equal
    weighting (``single-<task>-seed<s>``) and each method's joint run (``<method>-seed<s>``)."""
    budget_of, seeds = BUDGETS[budget]
    runs = [(task, "equal") for task in METRICS] + [(None, method) for method in methods]
    raws = {}
    for seed in seeds:
        for task, method in runs:
            raw = budget_of.apply(load_yaml(CONFIG))
            if task is not None:
                raw["tasks"] = {task: raw["tasks"][task]}
                raw["train"]["transfer_every"] = 0
            raw["train"]["weighting"] = method
            name = f"{method}-seed{seed}" if task is None else f"single-{task}-seed{seed}"
            raw.update(name=name, seed=seed, out_dir=str(Path(out_dir) / f"weighting-{budget}"))
            raws[name] = raw | {"data_dir": data_dir}
    apply_to_each(list(raws.values()), overrides)
    return {name: load_config(data=raw, source=str(CONFIG)) for name, raw in raws.items()}


def delta_m(joint: dict[str, float], single: dict[str, float]) -> float:
    """Δm% of one joint result against the single-task means: 100/T Σ_t s_t (J_t − S_t) / S_t."""
    changes = [sign * (joint[t] - single[t]) / single[t] for t, (_, _, sign) in METRICS.items()]
    return 100 * float(np.mean(changes))


@EXPERIMENTS.register("weighting")
def reproduce_weighting(
    run: RunOptions,
    methods: list[str] | None = None,
) -> Path:
    """Train the single-task references and every method's joint runs, then write
    results.md/.csv and the transfer heatmaps; returns the .md path."""
    _, seeds = budget_setting(BUDGETS, run.budget)
    study = Path(run.out_dir) / f"weighting-{run.budget}"
    methods = list(methods or METHODS)
    for method in list(methods):
        entry = WEIGHTINGS.get(method)
        if entry.missing_modules():  # the study skips, and says, what is not installed
            print(f"skipped {method}: the {entry.install_extra} extra is not installed")
            methods.remove(method)
    configs = run_configs(run.budget, run.out_dir, run.data_dir, list(run.overrides), methods)

    results = []

    def test_metric(name: str) -> dict[str, float]:
        print(f"== {study / name}", flush=True)
        origin = Origin(str(CONFIG), list(run.overrides))
        result = run.train(configs[name], origin=origin)
        draw_run_figures(result.run_dir, result.model, result.tasks)
        results.append(result)
        return {t: result.metrics["test"][t][METRICS[t][1]] for t in result.metrics["test"]}

    # each task alone, its mean over seeds
    single = {
        t: float(np.mean([test_metric(f"single-{t}-seed{s}")[t] for s in seeds])) for t in METRICS
    }
    rows: list[dict[str, Any]] = [
        {"Method": "single-task", **{METRICS[t][0]: v for t, v in single.items()}, "Δm%": 0.0}
    ]
    for method in methods:
        runs = [test_metric(f"{method}-seed{s}") for s in seeds]
        row: dict[str, Any] = {"Method": method}
        for task, (column, _, _) in METRICS.items():
            row[column], row[f"{column} std"] = mean_std([r[task] for r in runs])
        row["Δm%"], row["Δm% std"] = mean_std([delta_m(r, single) for r in runs])
        row["Every task ≥ single"] = all(
            sign * (row[column] - single[task]) >= 0 for task, (column, _, sign) in METRICS.items()
        )
        rows.append(row)
        transfer_over_seeds(method, [study / f"{method}-seed{s}" for s in seeds], study)
    columns = ["Method"]
    for column, _, _ in METRICS.values():
        columns += [column, f"{column} std"]
    columns += ["Δm%", "Δm% std", "Every task ≥ single"]
    note = table_note(run.budget, list(configs.values()), results)
    md, _ = write_table(rows, columns, study / layout.RESULTS, overwrite=True, note=note)
    return md


def transfer_over_seeds(method: str, run_dirs: list[Path], out: Path) -> None:
    """``transfer-<method>.png``: each run's mean cosine and affinity, averaged over seeds."""
    names, cosines, affinities = None, [], []
    for run_dir in run_dirs:
        names, _, cosine, affinity = read_transfer(run_dir)
        cosines.append(np.nanmean(cosine, axis=0))
        affinities.append(np.nanmean(affinity, axis=0))
    cos, aff = np.stack(cosines), np.stack(affinities)
    spread = len(run_dirs) > 1
    transfer_figure(
        names, cos.mean(0), aff.mean(0), out / f"transfer-{method}.png",
        title=f"{method}: transfer over {len(run_dirs)} seed(s)",
        cos_std=cos.std(0, ddof=1) if spread else None,
        aff_std=aff.std(0, ddof=1) if spread else None,
    )  # fmt: skip
