"""Spaces × training-set sizes × seeds on one config: the runs, the table and the figure that
the architecture studies share (ten Fashion-MNIST tasks; the parity tasks).

Every run is named ``<prefix><space key>-n<size>-seed<seed>`` inside the study's folder, so
``--resume`` continues a study and its tables can always be rebuilt from the run folders.
"""

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sharedspace.analysis.scaling import Series
from sharedspace.config import ExperimentConfig, load_yaml
from sharedspace.experiments.sus import Budget
from sharedspace.overrides import apply_to_each
from sharedspace.resolve import load_config
from sharedspace.tables import mean_std
from sharedspace.train.trainer import TrainResult


@dataclass
class Variant:
    """One line of a study: a space section (its expert is the config's) and train settings."""

    label: str
    space: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)  # e.g. a weighting method


@dataclass
class Study:
    budget: Budget  # overrides of every run
    sizes: list[int]  # training examples per task
    seeds: list[int]


def run_name(prefix: str, key: str, size: int, seed: int) -> str:
    return f"{prefix}{key}-n{size}-seed{seed}"


def size_configs(
    config: Path,
    variants: dict[str, Variant],
    study: Study,
    folder: Path,
    data_dir: str | None,
    overrides: list[str],
    prefix: str = "",
) -> dict[str, ExperimentConfig]:
    """Run name → the config with the study's budget, ``variants[key]``'s space (keeping the
    config's expert block) and train settings, and every task's ``train_size``; each validated
    before any trains."""
    base, where = load_yaml(config), {"out_dir": str(folder), "data_dir": data_dir}
    raws = {}
    for key, variant in variants.items():
        for size in study.sizes:
            for seed in study.seeds:
                raw = study.budget.apply(copy.deepcopy(base))
                expert = raw["model"]["space"].get("expert", "mlp")
                raw["model"]["space"] = {**variant.space, "expert": expert}
                raw["train"] |= variant.train
                for task in raw["tasks"].values():
                    task["data"]["train_size"] = size
                name = run_name(prefix, key, size, seed)
                raws[name] = raw | where | {"name": name, "seed": seed}
    apply_to_each(list(raws.values()), overrides)
    return {name: load_config(data=raw, source=str(config)) for name, raw in raws.items()}


def mean_accuracy(result: TrainResult) -> float:
    """Test accuracy averaged over the run's tasks."""
    return float(np.mean([m["accuracy"] for m in result.metrics["test"].values()]))


def size_rows(
    results: dict[str, TrainResult], variants: dict[str, Variant], study: Study, prefix: str = ""
) -> tuple[list[dict[str, Any]], Series]:
    """One table row per variant with the mean ± std over seeds of
    ``mean_accuracy`` at each size (columns ``n = S`` and ``n = S std``), and the same as
    figure series: label → (sizes, means, stds; NaN for one seed)."""
    rows, series = [], {}
    for key, variant in variants.items():
        row: dict[str, Any] = {"Architecture": variant.label}
        means, stds = [], []
        for size in study.sizes:
            runs = [results[run_name(prefix, key, size, s)] for s in study.seeds]
            mean, std = mean_std([mean_accuracy(r) for r in runs])
            row[f"n = {size}"], row[f"n = {size} std"] = mean, std
            means.append(mean)
            stds.append(np.nan if std is None else std)
        rows.append(row)
        series[variant.label] = (study.sizes, means, stds)
    return rows, series


def size_columns(study: Study) -> list[str]:
    return [f"n = {s}{std}" for s in study.sizes for std in ("", " std")]


def paired_columns(study: Study) -> list[str]:
    return [f"n = {s}{part}" for s in study.sizes for part in (" Δ", " ahead")]


def paired_rows(
    results: dict[str, TrainResult],
    variants: dict[str, Variant],
    reference: str,
    study: Study,
    prefix: str = "",
) -> list[dict[str, Any]]:
    """Each variant against ``reference`` seed by seed (a seed draws the same data for both):
    the mean difference of ``mean_accuracy`` per size (column ``n = S Δ``) and on how many seeds
    the variant is ahead (``n = S ahead``, e.g. "4/5") — paired, so it sees a gain smaller
    than the spread between seeds."""
    rows = []
    for key, variant in variants.items():
        if key == reference:
            continue
        row: dict[str, Any] = {"Architecture": variant.label}
        for size in study.sizes:
            diffs = [
                mean_accuracy(results[run_name(prefix, key, size, s)])
                - mean_accuracy(results[run_name(prefix, reference, size, s)])
                for s in study.seeds
            ]
            row[f"n = {size} Δ"] = float(np.mean(diffs))
            row[f"n = {size} ahead"] = f"{sum(d > 0 for d in diffs)}/{len(diffs)}"
        rows.append(row)
    return rows
