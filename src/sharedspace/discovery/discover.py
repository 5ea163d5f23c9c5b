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

``--resume`` reads the search state as untrusted input (``_load_state``). Its sha256 is kept in
the file itself, beside the state it covers, so one atomic rename writes both (a sidecar, as
checkpoints have, needs a second rename, and a Ctrl-C between the two would leave a search that
cannot resume): a torn, corrupted or hand-edited file is refused. A checksum is no signature —
whoever can rewrite the file can rewrite its checksum — so what is cheap is checked again as
well: every key's type and range, each record's overlap (from its candidate and the tasks found
before) and loss (from its score and overlap) recomputed exactly, the candidates by the replay,
and each stage's best — the only record a stage reports or passes on — scored again with the
search's own seeds (one population of at most ``len(stages)`` labellings; within
``RECHECK_TOLERANCE``). Scoring every record again would cost the whole search. So the scores of
records that are not their stage's best are vouched for by the checksum alone: forged, they can
bend ``trace.png``'s curve, steer the resumed optimizer or hide a better labelling, never make a
stage report a score its labelling does not have.
"""

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from sharedspace import layout
from sharedspace.config import config_changes, to_dict
from sharedspace.discovery.features import FeatureConfig
from sharedspace.discovery.figures import draw_task, draw_trace
from sharedspace.discovery.images import Images, draw_images
from sharedspace.discovery.labellings import Labelling, top_k_labelling
from sharedspace.discovery.scoring import ScoreConfig, score_labellings
from sharedspace.discovery.search import ReplayError, Search, SearchConfig
from sharedspace.errors import ConfigError, Interrupted, SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.train.run_folder import run_folder
from sharedspace.untrusted import JSON_LIMIT, inside, loads_json, read_bytes

STATE = Path(layout.CHECKPOINTS) / "search.json"
RESCORE_SEED = 1000  # the re-scoring networks' seeds: cfg.seed + 1000, + 1001
# A resumed stage's best, scored again with the same seeds, gives the same numbers on one machine
# (bit for bit, whatever the thread count); the margin allows another CPU's rounding.
RECHECK_TOLERANCE = 0.02
HEADER = re.compile(rb'\{"sha256": "([0-9a-f]{64})", "state": ')  # then the state, "}\n"
RECORD = {  # a trace record's keys beside x: each a finite float from low to high
    "loss": (-math.inf, math.inf, "a finite number"),
    "taskness": (-math.inf, 1.0, "a finite number ≤ 1"),  # (b − g) / b with b > 0 and g ≥ 0
    "agreement": (0.0, 1.0, "a number in [0, 1]"),
    "overlap": (0.0, 1.0, "a number in [0, 1]"),
}


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
    """A search vector's labelling of the N images: its top N/(R+1) entries are positives. A
    trace's list is ranked in float64, as the search's array was (float32 could tie them)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    return top_k_labelling(torch.arange(cfg.images), x, cfg.ratio)


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
            overlap = _overlap(labelling, found)
            score = float(getattr(scores, cfg.objective)[i])
            results.append(
                {
                    "loss": _loss(score, overlap, cfg),
                    "taskness": float(scores.taskness[i]),
                    "agreement": float(scores.agreement[i]),
                    "overlap": overlap,
                }
            )
        return results

    return evaluate


def _overlap(labelling: Labelling, found: list[set[int]]) -> float:
    """The largest fraction of its positives that a task found before shares."""
    mine = positives(labelling)
    return max((len(mine & task) / len(mine) for task in found), default=0.0)


def _loss(score: float, overlap: float, cfg: DiscoverConfig) -> float:
    return 1.0 - score + cfg.diversity * overlap


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
        traces = _load_state(run_dir, cfg, images) if resume else []
        plan = stages(cfg)
        total = len(plan) * cfg.search.budget
        done = sum(len(t) for t in traces)
        bar = tqdm(total=total, initial=done, disable=not progress, unit="labelling")
        try:
            for i, stage in enumerate(plan):
                saved = traces[i] if i < len(traces) else None
                try:
                    search = Search(cfg.images, _stage_config(cfg, stage), saved)
                except ReplayError as e:
                    raise SharedSpaceError(f"{run_dir / STATE}: traces[{i}]: {e}") from None
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
    return trace[_best_at(trace)]


def _best_at(trace: list[dict[str, Any]]) -> int:
    """Where the record of lowest loss is (the earliest of equals)."""
    return min(range(len(trace)), key=lambda k: trace[k]["loss"])


def _found(trace: list[dict[str, Any]], cfg: DiscoverConfig) -> Labelling:
    """The labelling a stage found: its best candidate's."""
    return candidate(_best(trace)["x"], cfg)


def _save_state(run_dir: Path, cfg: DiscoverConfig, traces: list[list[dict[str, Any]]]) -> None:
    state = json.dumps({"config": to_dict(cfg), "traces": traces}).encode()
    (run_dir / STATE).parent.mkdir(exist_ok=True)
    atomic_write(run_dir / STATE, lambda f: f.write(signed(state)))


def signed(state: bytes) -> bytes:
    """The search state's file: JSON that carries the sha256 of the state's exact bytes."""
    digest = hashlib.sha256(state).hexdigest()
    return b'{"sha256": "%s", "state": %s}\n' % (digest.encode(), state)


def _load_state(run_dir: Path, cfg: DiscoverConfig, images: Images) -> list[list[dict[str, Any]]]:
    """The saved traces, once nothing cheap to check is wrong with them (the module's docstring
    says what is checked); anything else is one line naming the file and the key at fault."""
    path = run_dir / STATE
    if not inside(path, run_dir):
        raise _not_state(path, "a link out of the run folder")
    try:
        data = read_bytes(path, JSON_LIMIT)
    except SharedSpaceError as e:
        raise _not_state(path, str(e).removeprefix(f"{path}: ")) from None
    header = HEADER.match(data)
    if header is None or not data.endswith(b"}\n"):
        raise _not_state(path, 'no {"sha256": …, "state": …} around it, as sharedspace writes')
    body, recorded = data[header.end() : -2], header[1].decode()
    if hashlib.sha256(body).hexdigest() != recorded:
        raise _not_state(path, "it fails its sha256: truncated or changed after it was written")
    try:
        state = loads_json(body, path)
    except SharedSpaceError as e:
        raise _not_state(path, str(e).removeprefix(f"{path}: ")) from None
    if not (isinstance(state, dict) and set(state) == {"config", "traces"}):
        raise _not_state(path, 'the top level: expected {"config": …, "traces": …}')
    if not isinstance(state["config"], dict):
        raise _not_state(path, "config: expected an object")
    changed = [
        k if len(k) <= 60 else k[:59] + "…" for k in config_changes(state["config"], to_dict(cfg))
    ]
    if changed:  # at most five keys named: the saved config may hold thousands, or long ones
        more = f", and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise SharedSpaceError(
            f"{path}: saved with other settings ({', '.join(changed[:5])}{more}); resume with the "
            "same settings, or start afresh with --overwrite"
        )
    traces = state["traces"]
    _check_shape(path, cfg, traces)
    _check_consistent(path, cfg, traces)
    _check_bests(path, cfg, traces, images)
    return traces


def _not_state(path: Path, why: str) -> SharedSpaceError:
    return SharedSpaceError(f"{path}: not a search state ({why}); start afresh with --overwrite")


def _check_shape(path: Path, cfg: DiscoverConfig, traces: Any) -> None:
    """Types, lengths and ranges: what a search writes (every stage before the last whole)."""
    plan, budget, batch = stages(cfg), cfg.search.budget, cfg.search.batch
    if not (isinstance(traces, list) and len(traces) <= len(plan)):
        raise _not_state(path, f"traces: expected a list of at most {len(plan)} stages")
    for i, trace in enumerate(traces):
        last = i == len(traces) - 1
        if not (
            isinstance(trace, list)
            and (len(trace) == budget or (last and cfg.search.resumable(len(trace))))
        ):
            whole = f"{budget} records" + (f", or whole batches of {batch}" if last else "")
            raise _not_state(path, f"traces[{i}]: expected a list of {whole}")
        for k, record in enumerate(trace):
            where = f"traces[{i}][{k}]"
            if not (isinstance(record, dict) and set(record) == {"x", *RECORD}):
                raise _not_state(path, f"{where}: expected an object of x, {', '.join(RECORD)}")
            x = record["x"]
            if not (
                isinstance(x, list)
                and len(x) == cfg.images
                and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in x)
            ):
                raise _not_state(path, f"{where}.x: expected {cfg.images} numbers in [0, 1]")
            for key, (low, high, expected) in RECORD.items():
                value = record[key]
                if not (isinstance(value, float) and math.isfinite(value) and low <= value <= high):
                    raise _not_state(path, f"{where}.{key}: expected {expected}")


def _check_consistent(path: Path, cfg: DiscoverConfig, traces: list[list[dict[str, Any]]]) -> None:
    """Each record's overlap and loss are what its candidate and score make them, exactly."""
    plan = stages(cfg)
    for i, trace in enumerate(traces):
        found = [positives(_found(traces[j], cfg)) for j in _task_stages(plan, plan[i])]
        for k, record in enumerate(trace):
            overlap = _overlap(candidate(record["x"], cfg), found)
            loss = _loss(record[cfg.objective], overlap, cfg)
            for key, value in (("overlap", overlap), ("loss", loss)):
                if record[key] != value:
                    raise _not_state(
                        path,
                        f"traces[{i}][{k}].{key}: {record[key]!r}, but its candidate and score "
                        f"give {value!r}",
                    )


def _check_bests(
    path: Path, cfg: DiscoverConfig, traces: list[list[dict[str, Any]]], images: Images
) -> None:
    """Each stage's best, scored again with the search's seeds, scores what it records."""
    bests = [(i, _best_at(trace)) for i, trace in enumerate(traces) if trace]
    if not bests:
        return
    again = evaluator(cfg, images, [])(np.stack([traces[i][k]["x"] for i, k in bests]))
    for (i, k), fresh in zip(bests, again, strict=True):
        for key in ("taskness", "agreement"):
            recorded = traces[i][k][key]
            if abs(recorded - fresh[key]) > RECHECK_TOLERANCE:
                raise SharedSpaceError(
                    f"{path}: traces[{i}][{k}].{key}: stage {i + 1}'s best records "
                    f"{recorded:.4f}, but scoring its labelling again gives {fresh[key]:.4f}; "
                    "the trace was altered, or written by another version: start afresh with "
                    "--overwrite"
                )


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
    text = ("\n".join(rows) + "\n").encode()
    atomic_write(run_dir / layout.RESULTS_MD, lambda f: f.write(text))
    names = [f"{s.optimizer} (task {s.task + 1})" for s in plan]
    draw_trace(run_dir / "trace.png", names, [[r[cfg.objective] for r in t] for t in traces])
    for t in range(cfg.tasks):
        found = _found(traces[plan.index(Stage(cfg.search.optimizer, t))], cfg)
        draw_task(run_dir / f"task_{t + 1}.png", images.pixels[: cfg.images], found.labels)
