"""Task discovery (the seed "Task Discovery", Sohmshetty with Zamir; Atanov et al. 2022) on
Fashion-MNIST: what makes a labelling of images a task, and a search for tasks.

    sharedspace reproduce discovery [--budget smoke|default|full] [key=value …]

The overrides are ``sharedspace discover``'s settings (``features=null`` for raw pixels,
``score.train.epochs=…``, ``search.budget=…``) and apply to every part. In
``runs/discovery-<budget>/``:

- ``sanity.md`` / ``sanity.png``: taskness and agreement of real class splits (A against B,
  balanced) against random balanced labellings of as many images;
- ``inputs.md``: the same on pixels and on random features of 3×8×8 and 3×4×4 (the seed's
  random-feature exploration);
- ``learnability.md`` / ``learnability.png``: the seed's studies — label ablation, class ratio,
  fixed number of positives — mean ± std over labellings;
- ``reduction.md``: k-means over label sets, in the shape of the seed's table;
- ``search/``: a ``sharedspace discover`` run — the search against random search of the same
  budget (``results.md``, ``trace.png``, ``task_1.png``).
"""

from dataclasses import dataclass
from pathlib import Path

from sharedspace.config import from_dict
from sharedspace.discovery.clustering import reduction_table
from sharedspace.discovery.discover import DiscoverConfig, discover
from sharedspace.discovery.features import FeatureConfig
from sharedspace.discovery.figures import draw_sanity, draw_studies
from sharedspace.discovery.images import Images, draw_images
from sharedspace.discovery.scoring import Scores
from sharedspace.discovery.studies import (
    class_ratio,
    fixed_positives,
    label_ablation,
    sanity,
)
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions, budget_setting
from sharedspace.overrides import read_config
from sharedspace.tables import write_table
from sharedspace.train.record import command_line


@dataclass(frozen=True)
class Plan:
    images: int  # drawn from the training set; the last ``probe`` of them are the probe
    n: int  # images per labelling in the studies
    count: int  # labellings per setting
    sanity: int  # labellings per group in the sanity check
    fractions: tuple[float, ...]
    ratios: tuple[int, ...]
    positives: int  # the fixed-positives study's
    reduction: dict  # reduction_table's arguments
    search: tuple[str, ...]  # overrides of the search's settings


STUDIED = {"fractions": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5), "ratios": (1, 2, 4, 9, 19), "positives": 10}
PLANS = {
    # seconds: wiring only, numbers meaningless
    "smoke": Plan(
        images=300, n=20, count=2, sanity=4, fractions=(0.0, 0.2), ratios=(1, 4), positives=4,
        reduction={"sizes": (20,), "ks": (10,), "count": 200},
        search=("images=20", "probe=100", "score.train.epochs=2", "search.budget=8",
                "search.batch=4"),
    ),
    # about 5 minutes on 2 CPU cores
    "default": Plan(
        images=3000, n=100, count=10, sanity=50, **STUDIED, reduction={},
        search=("search.budget=2000",),
    ),
    # the seed's search budget: about 15 minutes
    "full": Plan(
        images=6000, n=100, count=20, sanity=200, **STUDIED, reduction={},
        search=("search.budget=4000",),
    ),
}  # fmt: skip
INPUTS = {  # what the networks see in the inputs study
    "pixels": None,
    "random features 3×8×8": FeatureConfig(size=8),
    "random features 3×4×4": FeatureConfig(size=4),
}
STATISTICS = ("mean", "std", "min", "max")
STUDY_COLUMNS = ["value", "labellings", "taskness", "taskness_std", "agreement", "agreement_std"]


@EXPERIMENTS.register("discovery")
def reproduce_discovery(
    run: RunOptions,
) -> Path:
    """The sanity check, the learnability studies, the reduction table and the search; returns
    the path of ``learnability.md``."""
    plan, folder = budget_setting(PLANS, run.budget), Path(run.out_dir) / f"discovery-{run.budget}"
    where = [f"out_dir={folder}", "name=search"] + [f"data_dir={run.data_dir}"] * bool(run.data_dir)
    cfg = from_dict(DiscoverConfig, read_config(None, [*plan.search, *where, *run.overrides]))
    note = f"`{command_line()}`: budget {run.budget}"
    print(f"== {folder / 'search'}", flush=True)
    discover(cfg, resume=run.resume, overwrite=run.overwrite)

    print("== sanity and learnability studies", flush=True)
    checked: dict[FeatureConfig | None, tuple[Images, tuple[Scores, Scores]]] = {}

    def sanity_on(features: FeatureConfig | None) -> tuple[Images, tuple[Scores, Scores]]:
        """The sanity check on images as the networks see them, once per kind of input."""
        if features not in checked:
            args = (cfg.dataset, cfg.data_dir, plan.images, cfg.probe, features, cfg.seed)
            images = draw_images(*args)
            checked[features] = images, sanity(images, cfg.score, plan.n, plan.sanity, cfg.seed)
        return checked[features]

    images, (real, noise) = sanity_on(cfg.features)
    groups = {"class splits": real, "random labellings": noise}
    summary = {f"{k} {q}": (k, q) for k in ("taskness", "agreement") for q in STATISTICS}
    rows = [
        {"labellings": name, "count": len(s.taskness)}
        | {column: getattr(getattr(s, k), q)().item() for column, (k, q) in summary.items()}
        for name, s in groups.items()
    ]
    columns = ["labellings", "count", *summary]
    write_table(rows, columns, folder / "sanity", overwrite=True, note=note)
    draw_sanity(
        folder / "sanity.png",
        {k: {"taskness": s.taskness, "agreement": s.agreement} for k, s in groups.items()},
    )

    rows = []  # the seed's random-feature exploration: do tasks stay learnable on features?
    for name, features in INPUTS.items():
        _, (real, noise) = sanity_on(features)
        above = (real.taskness > noise.taskness.max()).float().mean().item()
        rows.append(
            {
                "input": name,
                "class splits: taskness": real.taskness.mean().item(),
                "random: taskness": noise.taskness.mean().item(),
                "class splits above every random one": above,
                "class splits: agreement": real.agreement.mean().item(),
                "random: agreement": noise.agreement.mean().item(),
            }
        )
    write_table(rows, list(rows[0]), folder / "inputs", overwrite=True, note=note)

    studies = {
        "fraction of labels flipped": label_ablation(
            images, cfg.score, plan.fractions, plan.n, plan.count, cfg.seed
        ),
        f"R (1:R, {plan.n} images)": class_ratio(
            images, cfg.score, plan.ratios, plan.n, plan.count, cfg.seed
        ),
        f"R ({plan.positives} positives, 1:R)": fixed_positives(
            images, cfg.score, plan.positives, plan.ratios, plan.count, cfg.seed
        ),
    }
    rows = [{"study": name} | row for name, study in studies.items() for row in study]
    md, _ = write_table(
        rows, ["study", *STUDY_COLUMNS], folder / "learnability", overwrite=True, note=note
    )
    draw_studies(folder / "learnability.png", studies)

    print("== reduction by clustering", flush=True)
    rows = reduction_table(**plan.reduction)
    columns = ["N", "ratio", "label_sets", "k", "mean_ablation", "within_tolerance"]
    write_table(rows, columns, folder / "reduction", overwrite=True, note=note)
    return md
