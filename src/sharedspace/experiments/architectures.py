"""Multi-task architectures compared on ten overlapping Fashion-MNIST tasks (after Yan et al.
2020, ch. 3): how much should each task share, and does learning the sharing pay?

    sharedspace reproduce architectures [--budget smoke|default|full] [--data-dir DIR] [key=value …]

``configs/mtl/fashion_mnist.yaml`` defines the tasks (task i: a 4-way classification of the
classes i … i+3 mod 10) and the model (the report's conv expert on the pixels, a linear head per
task). Each architecture below trains on it at several training-set sizes per task and seeds;
every mixture has ``EXPERTS`` copies of the config's expert block. The tables give the mean test
accuracy over the ten tasks (mean ± std over seeds) per size, and, for multi-clustering at the
largest size, the accuracy with each task's round(k(t)) experts, with round(mean k) for every
task, and with all experts. Figures: accuracy against size, and per multi-clustering run (seed
0, largest size) the tasks × experts gate probabilities beside the task–task correlation.
Every run keeps its folder under ``OUT/architectures-BUDGET/``, so ``--resume`` continues.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sharedspace.analysis.gates import gates_figure
from sharedspace.analysis.scaling import metric_vs_size_figure
from sharedspace.config import CONFIGS, ExperimentConfig, load_yaml
from sharedspace.errors import ConfigError
from sharedspace.experiments.registry import EXPERIMENTS
from sharedspace.experiments.sus import Budget, table_note
from sharedspace.experiments.weighting import mean_std
from sharedspace.overrides import apply_to_each
from sharedspace.resolve import load_config
from sharedspace.tables import write_table
from sharedspace.train.evaluation import evaluate
from sharedspace.train.record import Origin
from sharedspace.train.trainer import TrainResult, train

CONFIG = CONFIGS / "mtl" / "fashion_mnist.yaml"
EXPERTS = 8
MC = {"name": "multi_clustering", "experts": EXPERTS}
# run-name prefix → (table label, the space section; its expert is the config's)
SPACES: dict[str, tuple[str, dict[str, Any]]] = {
    "separate": ("separate (one block per task)", {"name": "separate"}),
    "hard": ("hard sharing (one block)", {"name": "mixture", "experts": 1}),
    "mixture": (f"ungated mixture of {EXPERTS}", {"name": "mixture", "experts": EXPERTS}),
    "mmoe": ("MMoE", {"name": "mmoe", "experts": EXPERTS}),
    "cross_stitch": ("cross-stitch", {"name": "cross_stitch", "experts": EXPERTS}),
    "routing": ("routing (REINFORCE)", {"name": "routing", "experts": EXPERTS}),
    "mc0.01": ("multi-clustering λ = 0.01", {**MC, "density": 0.01}),
    "mc0.1": ("multi-clustering λ = 0.1", {**MC, "density": 0.1}),
    "mc1": ("multi-clustering λ = 1", {**MC, "density": 1.0}),
}
EVAL_EXPERTS = {"per_task": "k(t) per task", "mean": "mean k", "all": f"all {EXPERTS}"}


@dataclass
class Study:
    budget: Budget  # overrides of every run
    sizes: list[int]  # training examples per task
    seeds: list[int]


STUDIES = {
    # seconds: wiring only, numbers meaningless
    "smoke": Study(
        Budget(
            train={"epochs": 1, "max_steps": 4, "batch_size": 16, "log_every": 2,
                   "warmup_steps": 1, "eval_every": None, "progress": False},
            data={"image": {"val_size": 64, "eval_size": 64}},
        ),
        [64],
        [0],
    ),
    # about 6 hours on 2 CPU cores (8 dense conv experts a row are the slow ones)
    "default": Study(
        Budget(train={"eval_every": None}, data={"image": {"eval_size": 1000}}),
        [250, 1000],
        [0, 1, 2],
    ),
    # the config's epochs and evaluation sizes, four sizes
    "full": Study(Budget(), [100, 300, 1000, 3000], [0, 1, 2]),
}  # fmt: skip


def run_configs(
    budget: str, out_dir: str, data_dir: str | None, overrides: list[str], spaces: list[str]
) -> dict[str, ExperimentConfig]:
    """Run name (``<space>-n<size>-seed<s>``) → its config, each validated before any trains."""
    study = STUDIES[budget]
    where = {"out_dir": str(Path(out_dir) / f"architectures-{budget}"), "data_dir": data_dir}
    raws = {}
    for key in spaces:
        for size in study.sizes:
            for seed in study.seeds:
                raw = study.budget.apply(load_yaml(CONFIG))
                expert = raw["model"]["space"].get("expert", "mlp")
                raw["model"]["space"] = {**SPACES[key][1], "expert": expert}
                for task in raw["tasks"].values():
                    task["data"]["train_size"] = size
                name = f"{key}-n{size}-seed{seed}"
                raws[name] = raw | where | {"name": name, "seed": seed}
    apply_to_each(list(raws.values()), overrides)
    return {name: load_config(data=raw, source=str(CONFIG)) for name, raw in raws.items()}


def mean_accuracy(result: TrainResult) -> float:
    return float(np.mean([m["accuracy"] for m in result.metrics["test"].values()]))


def accuracy_by_experts(result: TrainResult) -> dict[str, float]:
    """A multi-clustering run's mean test accuracy with each way of choosing the experts used at
    evaluation (the run's own way is its test result, not evaluated again), and the mean over
    tasks of how many each task used (round k(t), at least 1)."""
    space, model = result.model.space, result.model
    device = next(model.parameters()).device
    chosen = space.cfg.eval_experts
    out = {chosen: mean_accuracy(result)}
    try:
        for mode in (m for m in EVAL_EXPERTS if m != chosen):
            space.cfg.eval_experts = mode
            accuracy = [evaluate(model, t, "test", 256, device)["accuracy"] for t in result.tasks]
            out[mode] = float(np.mean(accuracy))
    finally:
        space.cfg.eval_experts = chosen
    out["experts"] = float(np.mean([len(space.chosen(t)) for t in range(len(result.tasks))]))
    return out


@EXPERIMENTS.register("architectures")
def reproduce_architectures(
    budget: str = "default",
    data_dir: str | None = None,
    out_dir: str = "runs",
    resume: bool = False,
    overwrite: bool = False,
    overrides: list[str] = (),
    spaces: list[str] | None = None,
) -> Path:
    """Train every architecture at every size and seed, then write results.md/.csv, experts.md
    and the figures; returns the results .md path."""
    if budget not in STUDIES:
        raise ConfigError(f"budget {budget!r}: expected one of {', '.join(STUDIES)}")
    study, folder = STUDIES[budget], Path(out_dir) / f"architectures-{budget}"
    spaces = list(spaces or SPACES)
    configs = run_configs(budget, out_dir, data_dir, list(overrides), spaces)
    results: dict[str, TrainResult] = {}
    by_experts: dict[str, dict[str, float]] = {}
    origin = Origin(str(CONFIG), list(overrides))
    for name, cfg in configs.items():
        print(f"== {folder / name}", flush=True)
        results[name] = result = train(cfg, resume=resume, overwrite=overwrite, origin=origin)
        if cfg.model.space.name == "multi_clustering":
            by_experts[name] = accuracy_by_experts(result)
            key = name.split("-n")[0]
            if name == f"{key}-n{study.sizes[-1]}-seed{study.seeds[0]}":
                p = result.model.space.probabilities().detach().numpy()
                tasks = [t.name for t in result.tasks]
                title = f"{SPACES[key][0]}, {study.sizes[-1]} examples a task"
                gates_figure(p, tasks, folder / f"gates-{key}.png", title)

    rows, series = [], {}
    for key in spaces:
        label = SPACES[key][0]
        row: dict[str, Any] = {"Architecture": label}
        means, stds = [], []
        for size in study.sizes:
            runs = [mean_accuracy(results[f"{key}-n{size}-seed{s}"]) for s in study.seeds]
            mean, std = mean_std(runs)
            row[f"n = {size}"], row[f"n = {size} std"] = mean, std
            means.append(mean)
            stds.append(np.nan if std is None else std)
        rows.append(row)
        series[label] = (study.sizes, means, stds)
    columns = ["Architecture"] + [f"n = {s}{std}" for s in study.sizes for std in ("", " std")]
    note = table_note(budget, list(configs.values()), list(results.values()))
    md, _ = write_table(rows, columns, folder / "results", overwrite=True, note=note)
    metric_vs_size_figure(
        series, folder / "accuracy_vs_size.png", "mean test accuracy over the 10 tasks",
        title=f"Fashion-MNIST, 10 tasks: {len(study.seeds)} seed(s), ±std",
    )  # fmt: skip

    expert_rows = []
    for key in (k for k in spaces if SPACES[k][1]["name"] == "multi_clustering"):
        runs = [by_experts[f"{key}-n{study.sizes[-1]}-seed{s}"] for s in study.seeds]
        row = {"Architecture": SPACES[key][0]}
        for mode, column in EVAL_EXPERTS.items():
            row[column], row[f"{column} std"] = mean_std([r[mode] for r in runs])
        row["Experts a task uses"] = float(np.mean([r["experts"] for r in runs]))
        expert_rows.append(row)
    if expert_rows:
        columns = ["Architecture"]
        columns += [c + s for c in EVAL_EXPERTS.values() for s in ("", " std")]
        columns += ["Experts a task uses"]
        experts_note = f"{note}; test accuracy at {study.sizes[-1]} training examples a task"
        write_table(expert_rows, columns, folder / "experts", overwrite=True, note=experts_note)
    return md
