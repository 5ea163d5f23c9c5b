"""Does a label-free task help object detection? (Yan et al., Berkeley report, ch. 4)

    sharedspace reproduce self_supervised [--budget smoke|default|full] [--data-dir DIR] [k=v …]

``configs/detection/with_all.yaml`` defines the tasks and the report's architecture (Fig. 4.1:
the backbone's first stages shared, its last stage copied for detection and for the auxiliary
tasks). Each *arm* keeps detection and some of the self-supervised tasks — none (the report's
baseline sets the auxiliary losses' scale to 0, which leaves detection's parameters exactly the
gradients of detection alone, so the study trains detection alone), the
camera's turn, its zoom, both, colorization, rotation, or all four — in two regimes: every
training scene labelled with boxes, and only the first 10 % (the auxiliary tasks still read every
scene). Every arm trains with the report's fixed weights (detection 1, each auxiliary task 0.1);
then with learned weightings: each candidate on the arm of all four tasks with the first seed
(both regimes), and the best of them by validation AP on that arm with every seed and on the arms
the budget names.

Tables (``results.md``: the fixed weights; ``learned.md``): each arm's test AP@[.5:.95] and AP50
per regime, mean ± std over seeds, and its paired difference from detection alone (the same seed
composes the same scenes and draws the same batches of them for both: on how many seeds the arm
is ahead). The arm of all four's runs with the first seed also get the figures of their tasks
(``runs.task_figure``). Every run keeps its folder under ``OUT/self_supervised-BUDGET/``, so
``--resume`` continues an interrupted study.
"""

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sharedspace import layout
from sharedspace.config import CONFIGS, ExperimentConfig, load_yaml
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions, budget_setting
from sharedspace.experiments.sus import Budget, table_note
from sharedspace.overrides import apply_overrides
from sharedspace.resolve import load_config
from sharedspace.runs import draw_run_figures
from sharedspace.tables import mean_std, write_table
from sharedspace.tasks.scene_data import Scenes
from sharedspace.train.record import Origin
from sharedspace.train.trainer import TrainResult

CONFIG = CONFIGS / "detection" / "with_all.yaml"
MAIN = "detect"
AUX_SCALE = 0.1  # the report's loss scale of an auxiliary task
ARMS = {  # run-name key → (row label, the auxiliary tasks it keeps)
    "none": ("detection alone", ()),
    "angle": ("+ turn", ("angle",)),
    "distance": ("+ zoom", ("distance",)),
    "motion": ("+ turn + zoom", ("angle", "distance")),
    "colour": ("+ colorization", ("colour",)),
    "rotation": ("+ rotation", ("rotation",)),
    "all": ("+ all four", ("rotation", "colour", "angle", "distance")),
}
REGIMES = {"labelled100": ("every scene labelled", 1.0), "labelled10": ("10 % labelled", 0.1)}
LEARNED = ("uncertainty", "famo")  # the candidates: loss-level methods, no hand-set weight


@dataclass
class Study:
    budget: Budget  # overrides of every run
    seeds: list[int]
    learned_arms: list[str]  # arms trained with the best learned weighting, besides "all"


STUDIES = {
    # seconds: wiring only, numbers meaningless
    "smoke": Study(
        Budget(
            train={"epochs": 1, "max_steps": 3, "batch_size": 8, "eval_batch_size": 16,
                   "log_every": 1, "eval_every": None, "progress": False},
            data={"image": {"scenes": 80, "eval_scenes": 16, "size": 32}},
        ),
        [0],
        [],
    ),
    # 32 px scenes (8 × 8 cells), 400 steps a run: the arms, both regimes, three seeds
    "default": Study(
        Budget(
            train={"max_steps": 400, "eval_every": 200},
            data={"image": {"scenes": 8000, "eval_scenes": 500, "size": 32}},
        ),
        [0, 1, 2],
        [],
    ),
    # the config's 64 px scenes and 2,500 steps; every arm with the learned weighting too
    "full": Study(Budget(), [0, 1, 2], [k for k in ARMS if k not in ("none", "all")]),
}  # fmt: skip


def run_name(arm: str, regime: str, weighting: str, seed: int) -> str:
    return f"{arm}-{regime}-{weighting}-seed{seed}"


def arm_config(
    base: dict[str, Any], arm: str, regime: str, weighting: str, seed: int
) -> dict[str, Any]:
    """The plain config of one run: detection and the arm's tasks, detection labelled on the
    regime's share of the scenes, the auxiliary tasks sharing their branch, ``train.max_steps``
    steps whatever the arm and regime, ``weighting`` ("fixed": the report's scales; or a
    learned method)."""
    raw = copy.deepcopy(base)
    aux = ARMS[arm][1]
    raw["tasks"] = {name: raw["tasks"][name] for name in (MAIN, *aux)}
    data = raw["tasks"][MAIN]["data"]
    labelled = data.get("scenes", Scenes.Config.scenes)
    if (share := REGIMES[regime][1]) < 1:
        labelled = data["train_size"] = max(1, int(labelled * share))
    # every arm trains max_steps steps, the cosine schedule's length too: enough epochs for
    # detection alone on its labelled scenes (an arm with more tasks has more steps an epoch)
    t = raw["train"]
    t["epochs"] = math.ceil(t["max_steps"] * t["batch_size"] / labelled)
    raw["model"]["space"]["groups"] = {"aux": list(aux)} if aux else {}
    if weighting == "fixed":
        raw["train"]["weighting"] = {
            "name": "fixed",
            "weights": {MAIN: 1.0} | dict.fromkeys(aux, AUX_SCALE),
        }
    else:
        raw["train"]["weighting"] = weighting
    return raw | {"name": run_name(arm, regime, weighting, seed), "seed": seed}


def run_configs(
    runs: list[tuple[str, str, str, int]], study: Study, folder: Path, run: RunOptions
) -> dict[str, ExperimentConfig]:
    """Run name → config for (arm, regime, weighting, seed) each, validated before any trains.
    The overrides change the config every arm is cut from, so the regimes' labelled scenes and
    the epochs that make ``max_steps`` follow an override of ``scenes`` or ``max_steps``."""
    base = apply_overrides(study.budget.apply(load_yaml(CONFIG)), list(run.overrides))
    where = {"out_dir": str(folder), "data_dir": run.data_dir}
    raws = {run_name(*r): arm_config(base, *r) | where for r in runs}
    return {name: load_config(data=raw, source=str(CONFIG)) for name, raw in raws.items()}


def ap_rows(
    results: dict[str, TrainResult], arms: list[str], weighting: str, seeds: list[int]
) -> list[dict[str, Any]]:
    """One row per arm: test AP and AP50 per regime (mean, std over seeds) and, against
    detection alone with fixed weights, the paired AP difference (mean, std over seeds) and the
    seeds ahead."""
    rows = []
    for arm in arms:
        row: dict[str, Any] = {"Arm": ARMS[arm][0]}
        for regime, (label, _) in REGIMES.items():
            runs = [results[run_name(arm, regime, weighting, s)] for s in seeds]
            test = [r.metrics["test"][MAIN] for r in runs]
            row[f"AP, {label}"], row[f"AP, {label} std"] = mean_std([t["ap"] for t in test])
            row[f"AP50, {label}"] = float(np.mean([t["ap50"] for t in test]))
            if arm != "none":
                alone = [results[run_name("none", regime, "fixed", s)] for s in seeds]
                diffs = [
                    t["ap"] - a.metrics["test"][MAIN]["ap"]
                    for t, a in zip(test, alone, strict=True)
                ]
                row[f"Δ AP, {label}"], row[f"Δ AP, {label} std"] = mean_std(diffs)
                row[f"ahead, {label}"] = f"{sum(d > 0 for d in diffs)}/{len(diffs)}"
        rows.append(row)
    return rows


def columns() -> list[str]:
    out = ["Arm"]
    for label, _ in REGIMES.values():
        out += [f"AP, {label}", f"AP, {label} std", f"AP50, {label}"]
        out += [f"Δ AP, {label}", f"Δ AP, {label} std", f"ahead, {label}"]
    return out


@EXPERIMENTS.register("self_supervised")
def reproduce_self_supervised(run: RunOptions, arms: list[str] | None = None) -> Path:
    """Train every arm (or ``arms``: detection alone and all four are always in) in both regimes
    with the fixed weights, the learned candidates on the arm of all four, the best of them on
    the budget's other arms; write results.md/.csv and learned.md/.csv; returns the results .md
    path."""
    study = budget_setting(STUDIES, run.budget)
    folder = Path(run.out_dir) / f"self_supervised-{run.budget}"
    origin = Origin(str(CONFIG), list(run.overrides))
    configs: dict[str, ExperimentConfig] = {}
    results: dict[str, TrainResult] = {}

    def trained(arms: list[str], weighting: str, seeds: list[int]) -> None:
        # seed by seed: the runs of a seed compose the same scenes, made once (``composed``)
        runs = [(a, r, weighting, s) for s in seeds for a in arms for r in REGIMES]
        runs = [r for r in runs if run_name(*r) not in results]
        if not runs:  # every one trained already (a learned method on the arm of all four)
            return
        configs.update(run_configs(runs, study, folder, run))
        for arm, regime, _, seed in runs:
            name = run_name(arm, regime, weighting, seed)
            print(f"== {folder / name}", flush=True)
            cfg = configs[name]
            results[name] = run.train(cfg, origin=origin)

    def validation_ap(method: str) -> float:
        """The arm of all four's mean validation AP with ``method``, over regimes, first seed."""
        runs = [run_name("all", r, method, study.seeds[0]) for r in REGIMES]
        return float(np.mean([results[n].metrics["validation"][MAIN]["ap"] for n in runs]))

    chosen = [a for a in ARMS if a in ("none", "all") or arms is None or a in arms]
    trained(chosen, "fixed", study.seeds)
    for regime in REGIMES:  # detections, colourisations, a clip of each motion class
        result = results[run_name("all", regime, "fixed", study.seeds[0])]
        draw_run_figures(result.run_dir, result.model, result.tasks)
    for method in LEARNED:  # the candidates on one seed: the choice costs 2 runs each, not 6
        trained(["all"], method, study.seeds[:1])
    best = max(LEARNED, key=validation_ap)
    others = [a for a in study.learned_arms if a in chosen]
    trained(["all", *others], best, study.seeds)

    note = table_note(run.budget, list(configs.values()), list(results.values()))
    fixed = ap_rows(results, chosen, "fixed", study.seeds)
    md, _ = write_table(fixed, columns(), folder / layout.RESULTS, overwrite=True, note=note)
    chose = (
        f"{best} (of {', '.join(LEARNED)}: the best validation AP on the arm of all four, "
        f"seed {study.seeds[0]})"
    )
    learned = ap_rows(results, ["all", *others], best, study.seeds)
    learned_note = f"{note}; auxiliary tasks weighted by {chose}; Δ against detection alone"
    write_table(learned, columns(), folder / "learned", overwrite=True, note=learned_note)
    return md
