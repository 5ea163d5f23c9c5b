"""``sharedspace discover``: search the labellings of N images for tasks, and write what it found.

One *stage* is one search of ``search.budget`` labellings: the optimizer's search for each of the
``tasks`` tasks, and — once, beside the first — random search of the same budget, the baseline
a search must clearly beat. A later task's search is penalised by its overlap with the tasks
already found (``diversity`` × the largest fraction of its positives that a found task shares),
so it finds a *different* task: the seed's stated next step.

The run folder holds ``checkpoints/search.json`` (the config and every stage's trace, written
after each batch: an interrupted search resumes from it), ``results.md``, ``trace.png`` (the
best score so far against labellings scored) and ``task_<t>.png`` (each found task's positives
and negatives).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from sharedspace.config import config_changes, to_dict
from sharedspace.discovery.features import FeatureConfig
from sharedspace.discovery.figures import draw_task, draw_trace
from sharedspace.discovery.images import Images, draw_images
from sharedspace.discovery.labellings import Labelling, top_k_labelling
from sharedspace.discovery.scoring import ScoreConfig, score_labellings
from sharedspace.discovery.search import Search, SearchConfig
from sharedspace.errors import ConfigError, Interrupted, SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.train.run_folder import run_folder

STATE = Path("checkpoints") / "search.json"
RESCORE_SEED = 1000  # the re-scoring networks' seeds: cfg.seed + 1000, + 1001


@dataclass(frozen=True, kw_only=True)
class DiscoverConfig:
    name: str = "discover"
    out_dir: str = "runs"
    dataset: str = "fashion_mnist"  # an image dataset's name (`sharedspace list datasets`)
    data_dir: str | None = None
    images: int = 50  # N: the images every candidate labels (the seed's 50)
    ratio: int = 4  # R: N/(R+1) positives, 1 to R negatives (the seed's 1:4)
    probe: int = 500  # held-out images the agreement score is measured on
    features: FeatureConfig | None = field(default_factory=FeatureConfig)  # None: raw pixels
    objective: Literal["taskness", "agreement"] = "taskness"  # agreement: for ratio 1 (below)
    tasks: int = 1  # found one after another, each penalised by its overlap with the earlier
    diversity: float = 0.5
    baseline: str | None = "RandomSearch"  # same budget; None: no baseline
    score: ScoreConfig = field(default_factory=ScoreConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.images < 2 or self.ratio < 1 or self.images // (self.ratio + 1) < 1:
            raise ConfigError(
                f"images={self.images}, ratio={self.ratio}: a labelling needs at least one "
                "positive (images ≥ ratio + 1) and ratio ≥ 1"
            )
        if self.probe < 1 or self.tasks < 1 or self.diversity < 0:
            raise ConfigError("probe and tasks must be ≥ 1 and diversity ≥ 0")


@dataclass(frozen=True)
class Stage:
    optimizer: str
    task: int  # the task it searches for; its penalty counts the tasks found before it


def stages(cfg: DiscoverConfig) -> list[Stage]:
    first = [Stage(cfg.search.optimizer, 0)]
    baseline = [Stage(cfg.baseline, 0)] if cfg.baseline else []
    return first + baseline + [Stage(cfg.search.optimizer, t) for t in range(1, cfg.tasks)]


def candidate(x: list[float] | np.ndarray, cfg: DiscoverConfig) -> Labelling:
    """A search vector's labelling of the N images: its top N/(R+1) entries are positives."""
    return top_k_labelling(torch.arange(cfg.images), torch.as_tensor(x), cfg.ratio)


def positives(labelling: Labelling) -> set[int]:
    """Its positive images (positions among the N)."""
    return set(labelling.labels.nonzero().squeeze(1).tolist())


def evaluator(
    cfg: DiscoverConfig, images: Images, found: list[set[int]]
) -> Callable[[np.ndarray], list[dict[str, float]]]:
    """A batch of candidates (B, N) → their results: loss = 1 − score + diversity × overlap."""

    def evaluate(x: np.ndarray) -> list[dict[str, float]]:
        labellings = [candidate(row, cfg) for row in x]
        scores = score_labellings(
            images.pool, labellings, images.probe, cfg.score, images.statistics, cfg.seed
        )
        results = []
        for i, labelling in enumerate(labellings):
            mine = positives(labelling)
            overlap = max((len(mine & task) / len(mine) for task in found), default=0.0)
            score = float(getattr(scores, cfg.objective)[i])
            results.append(
                {
                    "loss": 1.0 - score + cfg.diversity * overlap,
                    "taskness": float(scores.taskness[i]),
                    "agreement": float(scores.agreement[i]),
                    "overlap": overlap,
                }
            )
        return results

    return evaluate


def discover(
    cfg: DiscoverConfig, resume: bool = False, overwrite: bool = False, progress: bool = True
) -> Path:
    """Run (or resume) the search; returns the run folder."""
    # the images first: a dataset that is missing or too small makes no run folder
    n, q = cfg.images, cfg.probe  # the searched images first, the probe after them
    images = draw_images(cfg.dataset, cfg.data_dir, n + q, q, cfg.features, cfg.seed)
    with run_folder(
        Path(cfg.out_dir), cfg.name, resume, overwrite, resumable=lambda d: (d / STATE).exists()
    ) as run_dir:
        traces = _load_state(run_dir, cfg) if resume else []
        plan = stages(cfg)
        total = len(plan) * cfg.search.budget
        done = sum(len(t) for t in traces)
        bar = tqdm(total=total, initial=done, disable=not progress, unit="labelling")
        try:
            for i, stage in enumerate(plan):
                saved = traces[i] if i < len(traces) else None
                search = Search(cfg.images, _stage_config(cfg, stage), saved)
                traces[i : i + 1] = [search.trace]  # the list the search extends
                found = [positives(_found(traces[j], cfg)) for j in _task_stages(plan, stage)]
                evaluate = evaluator(cfg, images, found)
                while not search.done:
                    bar.update(len(search.step(evaluate)))
                    _save_state(run_dir, cfg, traces)
        except KeyboardInterrupt:  # the batch being scored is lost, every one before is saved
            done = sum(len(t) for t in traces)
            raise Interrupted(
                f"{run_dir}: stopped after {done} of {total} labellings; the search is saved"
            ) from None
        finally:
            bar.close()
        _write_results(run_dir, cfg, plan, traces, images)
    return run_dir


def _stage_config(cfg: DiscoverConfig, stage: Stage) -> SearchConfig:
    return replace(cfg.search, optimizer=stage.optimizer, seed=cfg.search.seed + stage.task)


def _task_stages(plan: list[Stage], stage: Stage) -> list[int]:
    """The stages that found the tasks before ``stage``'s (the optimizer's, not the baseline)."""
    return [
        i for i, s in enumerate(plan) if s.optimizer == plan[0].optimizer and s.task < stage.task
    ]


def _best(trace: list[dict[str, Any]]) -> dict[str, Any]:
    return min(trace, key=lambda r: r["loss"])


def _found(trace: list[dict[str, Any]], cfg: DiscoverConfig) -> Labelling:
    """The labelling a stage found: its best candidate's."""
    return candidate(_best(trace)["x"], cfg)


def _save_state(run_dir: Path, cfg: DiscoverConfig, traces: list[list[dict[str, Any]]]) -> None:
    state = {"config": to_dict(cfg), "traces": traces}
    (run_dir / STATE).parent.mkdir(exist_ok=True)
    atomic_write(run_dir / STATE, lambda f: f.write(json.dumps(state).encode()))


def _load_state(run_dir: Path, cfg: DiscoverConfig) -> list[list[dict[str, Any]]]:
    path = run_dir / STATE
    try:
        state = json.loads(path.read_text())
        saved, traces = state["config"], state["traces"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SharedSpaceError(f"{path}: not a search state ({type(e).__name__}: {e})") from None
    changed = config_changes(saved, to_dict(cfg))
    if changed:
        raise SharedSpaceError(
            f"{path}: saved with other settings ({', '.join(changed)}); resume with the same "
            "settings, or start afresh with --overwrite"
        )
    return traces


def _write_results(
    run_dir: Path,
    cfg: DiscoverConfig,
    plan: list[Stage],
    traces: list[list[dict[str, Any]]],
    images: Images,
) -> None:
    # The best of many noisy scores is biased upwards (the winner's curse, for the search and
    # the baseline alike): each stage's best is scored again by networks from other seeds.
    bests = [_best(trace) for trace in traces]
    rescored = evaluator(replace(cfg, seed=cfg.seed + RESCORE_SEED), images, [])(
        np.stack([np.asarray(b["x"]) for b in bests])
    )
    rows = [
        "| stage | optimizer | task | best score | its taskness | its agreement | overlap "
        f"| {cfg.objective} re-scored (new seeds) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, (stage, best) in enumerate(zip(plan, bests, strict=True)):
        rows.append(
            f"| {i + 1} | {stage.optimizer} | {stage.task + 1} | {best[cfg.objective]:.3f} | "
            f"{best['taskness']:.3f} | {best['agreement']:.3f} | {best['overlap']:.2f} | "
            f"{rescored[i][cfg.objective]:.3f} |"
        )
    (run_dir / "results.md").write_text("\n".join(rows) + "\n")
    names = [f"{s.optimizer} (task {s.task + 1})" for s in plan]
    draw_trace(run_dir / "trace.png", names, [[r[cfg.objective] for r in t] for t in traces])
    for t in range(cfg.tasks):
        found = _found(traces[plan.index(Stage(cfg.search.optimizer, t))], cfg)
        draw_task(run_dir / f"task_{t + 1}.png", images.pixels[: cfg.images], found.labels)
