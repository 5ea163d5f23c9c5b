"""Synthetic parity tasks (Yan et al. 2020, Fig. 1.1; after Caruana 1997): sharing helps tasks
that need the same feature and hurts tasks that need different ones.

    sharedspace reproduce parity [--budget smoke|default|full] [key=value …]

Two settings of two tasks on random 20-bit strings, each task "a bit ∨ the parity of three
bits": in ``configs/mtl/parity_shared.yaml`` both tasks need parity(B1, B2, B3); in
``configs/mtl/parity_separate.yaml`` one reads the first half of the string and the other the
second. Each setting trains single-task networks (the ``separate`` space: with the bits cap, which
has no parameters, one network per task shares nothing), hard sharing (one MLP, a head per
task) and cross-stitch (one MLP per task, mixed after every layer by learned weights, which
start either as the report's N(0, 1) draw — learning at the network's rate or, as Misra et al.
advise, 100 times faster — or as the mean of the two networks) at several
training-set sizes and seeds; every run gets the same number of steps. ``results.md`` gives the
mean test accuracy over the two tasks (mean ± std over seeds), ``paired.md`` each architecture's
difference from single-task seed by seed (the same seed draws the same strings), and
``accuracy_vs_size.png`` draws both settings.
"""

from pathlib import Path

from sharedspace import layout
from sharedspace.analysis.scaling import metric_vs_size_figure
from sharedspace.config import CONFIGS
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions, budget_setting
from sharedspace.experiments.sizes import (
    Study,
    Variant,
    paired_columns,
    paired_rows,
    size_columns,
    size_configs,
    size_rows,
)
from sharedspace.experiments.sus import Budget, table_note
from sharedspace.tables import write_table
from sharedspace.train.record import Origin
from sharedspace.train.trainer import TrainResult

SETTINGS = {  # run-name prefix → (label, config)
    "shared": ("tasks share a feature", CONFIGS / "mtl" / "parity_shared.yaml"),
    "separate": ("tasks on separate halves", CONFIGS / "mtl" / "parity_separate.yaml"),
}
VARIANTS = {  # run-name key → the architecture
    "single": Variant("single-task (one network per task)", {"name": "separate"}),
    "hard": Variant("hard sharing (one network)", {"name": "mixture", "experts": 1}),
    "cross_stitch": Variant("cross-stitch, w ~ N(0, 1)", {"name": "cross_stitch", "experts": 2}),
    "cross_stitch_fast": Variant(
        "cross-stitch, w ~ N(0, 1), stitch lr × 100",
        {"name": "cross_stitch", "experts": 2, "lr_scale": 100.0},
    ),
    "cross_stitch_mean": Variant(
        "cross-stitch, w = 1/2", {"name": "cross_stitch", "experts": 2, "init": "uniform"}
    ),
}

STUDIES = {
    # seconds: wiring only, numbers meaningless
    "smoke": Study(
        Budget(
            train={"max_steps": 4, "log_every": 2, "warmup_steps": 1},
            data={"bits": {"val_size": 64, "test_size": 64}},
        ),
        [64],
        [0],
    ),
    # where the parity is learned: about 40 minutes on 2 CPU cores
    "default": Study(Budget(), [500, 750, 1000, 1500], [0, 1, 2, 3, 4]),
    "full": Study(Budget(), [250, 500, 750, 1000, 1500, 2000], list(range(10))),
}  # fmt: skip


@EXPERIMENTS.register("parity")
def reproduce_parity(
    run: RunOptions,
) -> Path:
    """Train every architecture in both settings at every size and seed, then write
    results.md/.csv, paired.md/.csv and accuracy_vs_size.png; returns the results .md path."""
    study, folder = budget_setting(STUDIES, run.budget), Path(run.out_dir) / f"parity-{run.budget}"
    configs, origins = {}, {}
    for setting, (_, config) in SETTINGS.items():
        made = size_configs(
            config, VARIANTS, study, folder, run.data_dir, run.overrides, f"{setting}-"
        )
        configs |= made
        origins |= dict.fromkeys(made, Origin(str(config), list(run.overrides)))
    results: dict[str, TrainResult] = {}
    for name, cfg in configs.items():
        print(f"== {folder / name}", flush=True)
        results[name] = run.train(cfg, origin=origins[name])

    rows, paired, panels = [], [], {}
    for setting, (label, _) in SETTINGS.items():
        prefix = f"{setting}-"
        setting_rows, panels[label] = size_rows(results, VARIANTS, study, prefix)
        rows += [{"Tasks": label} | row for row in setting_rows]
        pairs = paired_rows(results, VARIANTS, "single", study, prefix)
        paired += [{"Tasks": label} | row for row in pairs]
    columns = ["Tasks", "Architecture", *size_columns(study)]
    note = table_note(run.budget, list(configs.values()), list(results.values()))
    md, _ = write_table(rows, columns, folder / layout.RESULTS, overwrite=True, note=note)
    columns = ["Tasks", "Architecture", *paired_columns(study)]
    paired_note = f"{note}; test accuracy minus single-task's, seed by seed"
    write_table(paired, columns, folder / "paired", overwrite=True, note=paired_note)
    ylabel = f"mean test accuracy of the 2 tasks ({len(study.seeds)} seeds, ±std)"
    metric_vs_size_figure(panels, folder / "accuracy_vs_size.png", ylabel)
    return md
