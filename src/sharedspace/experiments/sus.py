"""The SUS report's Table 1: each task alone, the image pair, all three, and all three without
the shared space — trained, tested, tabulated, with reconstruction grids and a PCA of the space.

    sharedspace reproduce sus [--budget smoke|default|full] [--data-dir DIR] [key=value …]

Each configuration is a YAML file under ``configs/sus/`` (written for the full budget); a budget
scales the training down for a quicker look. Every run keeps its own folder under
``OUT/sus-BUDGET/``, so ``--resume`` continues an interrupted table where it stopped.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sharedspace import layout
from sharedspace.config import CONFIGS, ExperimentConfig, load_yaml
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions, budget_setting
from sharedspace.overrides import apply_to_each
from sharedspace.resolve import load_config
from sharedspace.runs import draw_run_figures
from sharedspace.tables import write_table
from sharedspace.tasks import TASKS
from sharedspace.tasks.data import source_kind
from sharedspace.train.record import Origin, command_line, describe_code
from sharedspace.train.trainer import TrainResult

CONFIG_DIR = CONFIGS / "sus"

# configuration file stem → row label, in the report's order
SETTINGS = {
    "classification": "Classification alone",
    "reconstruction": "Reconstruction alone",
    "next_word": "Next-word prediction alone",
    "image_pair": "Classification + reconstruction",
    "all_three": "All three",
    "all_three_no_space": "All three, no shared space",
}


@dataclass
class Budget:
    """Overrides applied to every configuration: to ``train``, and to each task's ``data`` by the
    kind of data it reads (image datasets, text corpora and bit strings have different fields)."""

    train: dict[str, Any] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # "image"/"text"/"bits" → fields

    def apply(self, raw: dict[str, Any]) -> dict[str, Any]:
        """``raw`` (a plain experiment config) with this budget's overrides, in place."""
        raw.setdefault("train", {}).update(self.train)
        for task in raw.get("tasks", {}).values():
            data = task.setdefault("data", {})
            data.update(self.data.get(source_kind(data.get("source", "")), {}))
        return raw


BUDGETS = {
    # seconds: wiring only, numbers meaningless
    "smoke": Budget(
        train={"epochs": 1, "max_steps": 12, "log_every": 4, "warmup_steps": 2, "progress": False},
        data={
            "image": {"train_size": 512, "val_size": 256, "eval_size": 256},
            "text": {"train_size": 512, "eval_size": 256},
        },
    ),
    # what `make run` runs: the whole table in at most 15 minutes on 2 CPU cores
    "default": Budget(
        train={"epochs": 2},
        data={kind: {"train_size": 20000, "eval_size": 5000} for kind in ("image", "text")},
    ),
    # the configurations as written (README "Results")
    "full": Budget(),
}

COLUMNS = {  # table column → (task kind, metric)
    "Accuracy": ("classification", "accuracy"),
    "MSE per pixel, 0–1": ("reconstruction", "mse_pixel_01"),
    "MSE per pixel, 0–255": ("reconstruction", "mse_pixel_255"),
    "SSE per image, 0–1": ("reconstruction", "sse_image_01"),
    "Perplexity": ("language_model", "perplexity"),
    "Next-word accuracy": ("language_model", "next_token_accuracy"),
}


def setting_configs(
    settings: list[str], budget: str, out_dir: str, data_dir: str | None, overrides: list[str]
) -> dict[str, ExperimentConfig]:
    """Every setting's config, each validated before any trains."""
    raws = {}
    for setting in settings:
        raw = BUDGETS[budget].apply(load_yaml(CONFIG_DIR / f"{setting}.yaml"))
        raw.update(name=setting, out_dir=str(Path(out_dir) / f"sus-{budget}"), data_dir=data_dir)
        raws[setting] = raw
    apply_to_each(list(raws.values()), overrides)
    return {
        s: load_config(data=raw, source=str(CONFIG_DIR / f"{s}.yaml")) for s, raw in raws.items()
    }


def table_row(setting: str, result: TrainResult) -> dict[str, Any]:
    row: dict[str, Any] = {"Configuration": SETTINGS[setting]}
    for column, (kind, metric) in COLUMNS.items():
        names = [task.name for task in result.tasks if isinstance(task, TASKS.get(kind))]
        row[column] = result.metrics["test"][names[0]][metric] if names else None
    row["Steps"] = result.steps
    row["Train minutes"] = result.train_seconds / 60
    return row


@EXPERIMENTS.register("sus")
def reproduce_sus(
    run: RunOptions,
    settings: list[str] | None = None,
) -> Path:
    """Train every configuration, then write results.md/.csv; returns the .md path."""
    budget_setting(BUDGETS, run.budget)  # an unknown budget fails before any run
    rows, results = [], []
    configs = setting_configs(
        list(settings or SETTINGS), run.budget, run.out_dir, run.data_dir, run.overrides
    )
    for setting, cfg in configs.items():
        print(f"== {SETTINGS[setting]} ({cfg.out_dir}/{cfg.name})", flush=True)
        origin = Origin(str(CONFIG_DIR / f"{setting}.yaml"), list(run.overrides))
        result = run.train(cfg, origin=origin)
        draw_run_figures(result.run_dir, result.model, result.tasks, SETTINGS[setting])
        rows.append(table_row(setting, result))
        results.append(result)
    stem = Path(run.out_dir) / f"sus-{run.budget}" / layout.RESULTS
    columns = ["Configuration", *COLUMNS, "Steps", "Train minutes"]
    note = table_note(run.budget, list(configs.values()), results)
    md, _ = write_table(rows, columns, stem, overwrite=True, note=note)
    return md


def table_note(budget: str, configs: list[ExperimentConfig], results: list[TrainResult]) -> str:
    """What produced a table: the command, the budget, the seeds and the code of its runs."""
    seeds = sorted({cfg.seed for cfg in configs})
    return (
        f"`{command_line()}`: budget {budget}, seed{'s' * (len(seeds) > 1)} "
        f"{', '.join(map(str, seeds))}; {describe_code(*(r.code for r in results))}"
    )
