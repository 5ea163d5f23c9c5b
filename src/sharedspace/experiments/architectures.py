"""Multi-task architectures compared on ten overlapping Fashion-MNIST tasks (after Yan et al.
2020, ch. 3): how much should each task share, and does learning the sharing pay?

    sharedspace reproduce architectures [--budget smoke|default|full] [--data-dir DIR] [key=value …]

``configs/mtl/fashion_mnist.yaml`` defines the tasks (task i: a 4-way classification of the
classes i … i+3 mod 10) and the model (the report's conv expert on the pixels, a linear head per
task). Each architecture below trains on it at several training-set sizes per task and seeds;
every mixture has ``EXPERTS`` copies of the config's expert block. Two lines keep the report's
settings where ours differ (gates at the network's learning rate; routing every conv layer), two
train multi-clustering on every task each step, with equal weights and with the weighting
study's best method (FAMO). The tables give the mean test accuracy over the ten tasks (mean ±
std over seeds) per size, and, for multi-clustering at the largest size, the accuracy with each
task's round(k(t)) experts, with round(mean k) for every task, and with all experts. Figures:
accuracy against size, and per multi-clustering run (seed 0, largest size) the tasks × experts
gate probabilities beside the task–task correlation.
Every run keeps its folder under ``OUT/architectures-BUDGET/``, so ``--resume`` continues.
"""

from pathlib import Path

import numpy as np

from sharedspace import layout
from sharedspace.analysis.gates import gates_figure
from sharedspace.analysis.scaling import metric_vs_size_figure
from sharedspace.config import CONFIGS
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions, budget_setting
from sharedspace.experiments.sizes import (
    Study,
    Variant,
    mean_accuracy,
    run_name,
    size_columns,
    size_configs,
    size_rows,
)
from sharedspace.experiments.sus import Budget, table_note
from sharedspace.tables import mean_std, write_table
from sharedspace.train.evaluation import evaluate
from sharedspace.train.record import Origin
from sharedspace.train.trainer import TrainResult

CONFIG = CONFIGS / "mtl" / "fashion_mnist.yaml"
EXPERTS = 8
# One task a step gives each task's gate logits a tenth of the steps: at Adam 1e-3 (the report's)
# they move ≤ 0.16 in the default budget and every p_i(t) stays ≈ 1/2 (the row "gate lr × 1").
MC = {"name": "multi_clustering", "experts": EXPERTS, "gate_lr_scale": 30.0}
# Rosenbaum et al. route the layers after a shared conv trunk; routes drawn per row through all
# four conv layers from the pixels up learn little in this budget (the row "every layer").
ROUTING = {"name": "routing", "experts": EXPERTS, "policy_lr_scale": 100.0, "explore_steps": 200}
VARIANTS = {  # run-name key → the architecture (every expert is the config's block)
    "separate": Variant("separate (one block per task)", {"name": "separate"}),
    "hard": Variant("hard sharing (one block)", {"name": "mixture", "experts": 1}),
    "mixture": Variant(f"ungated mixture of {EXPERTS}", {"name": "mixture", "experts": EXPERTS}),
    "mmoe": Variant("MMoE", {"name": "mmoe", "experts": EXPERTS}),
    "cross_stitch": Variant("cross-stitch", {"name": "cross_stitch", "experts": EXPERTS}),
    "routing": Variant("routing (REINFORCE), last conv layer", {**ROUTING, "shared": 3}),
    "routing_all": Variant("routing (REINFORCE), every layer", {**ROUTING, "shared": 0}),
    "mc0.01": Variant("multi-clustering λ = 0.01", {**MC, "density": 0.01}),
    "mc0.1": Variant("multi-clustering λ = 0.1", {**MC, "density": 0.1}),
    "mc1": Variant("multi-clustering λ = 1", {**MC, "density": 1.0}),
    "mc0.1_gates1": Variant(
        "multi-clustering λ = 0.1, gate lr × 1", {**MC, "density": 0.1, "gate_lr_scale": 1.0}
    ),
    # the weighting study's best method (README: loss weighting) on the report's λ; it balances
    # the tasks of a step (one task a step: every weight is 1), so every task trains each step
    "mc0.1_all": Variant(
        "multi-clustering λ = 0.1, all tasks a step", {**MC, "density": 0.1}, {"sampler": "all"}
    ),
    "mc0.1_famo": Variant(
        "multi-clustering λ = 0.1, all tasks a step + FAMO",
        {**MC, "density": 0.1},
        {"sampler": "all", "weighting": "famo"},
    ),
}
EVAL_EXPERTS = {"per_task": "k(t) per task", "mean": "mean k", "all": f"all {EXPERTS}"}


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
    run: RunOptions,
    variants: list[str] | None = None,
) -> Path:
    """Train every architecture at every size and seed, then write results.md/.csv, experts.md
    and the figures; returns the results .md path."""
    study = budget_setting(STUDIES, run.budget)
    folder = Path(run.out_dir) / f"architectures-{run.budget}"
    chosen = {key: VARIANTS[key] for key in variants or VARIANTS}
    configs = size_configs(CONFIG, chosen, study, folder, run.data_dir, list(run.overrides))
    results: dict[str, TrainResult] = {}
    by_experts: dict[str, dict[str, float]] = {}
    origin = Origin(str(CONFIG), list(run.overrides))
    for name, cfg in configs.items():
        print(f"== {folder / name}", flush=True)
        results[name] = result = run.train(cfg, origin=origin)
        key = name.split("-n")[0]
        largest = [run_name("", key, study.sizes[-1], seed) for seed in study.seeds]
        if cfg.model.space.name == "multi_clustering" and name in largest:
            by_experts[name] = accuracy_by_experts(result)  # the experts table's runs only
            if name == largest[0]:
                p = result.model.space.probabilities().detach().numpy()
                tasks = [t.name for t in result.tasks]
                title = f"{VARIANTS[key].label}, {study.sizes[-1]} examples a task"
                gates_figure(p, tasks, folder / f"gates-{key}.png", title)

    rows, series = size_rows(results, chosen, study)
    columns = ["Architecture", *size_columns(study)]
    note = table_note(run.budget, list(configs.values()), list(results.values()))
    md, _ = write_table(rows, columns, folder / layout.RESULTS, overwrite=True, note=note)
    title = f"Fashion-MNIST, 10 tasks: {len(study.seeds)} seed(s), ±std"
    path = folder / "accuracy_vs_size.png"
    metric_vs_size_figure({title: series}, path, "mean test accuracy over the 10 tasks")

    expert_rows = []
    for key in (k for k, v in chosen.items() if v.space["name"] == "multi_clustering"):
        runs = [by_experts[run_name("", key, study.sizes[-1], s)] for s in study.seeds]
        row = {"Architecture": VARIANTS[key].label}
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
