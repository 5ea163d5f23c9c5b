"""MultiModel's tables (Kaiser et al. 2017, "One Model To Learn Them All") on the offline problems
of ``configs/multimodel/joint.yaml``: image classification (Fashion-MNIST), translation between
English and German and English and French, both ways (gettext), Turkish dependency parsing
(gold), English constituency parsing (silver, link-grammar's) and image captioning.

    sharedspace reproduce multimodel [--budget smoke|default|full] [--data-dir DIR] [key=value …]

Runs, all from the joint config with its hyperparameters unchanged (Adam β = (0.85, 0.997), clip
2.0, label smoothing 0.1, warm-up + rsqrt), every problem drawn uniformly per step:
1. **Joint vs single** (the paper's Table 2): all eight problems jointly, and each alone, per seed.
   Every problem sees the same number of batches in each run (``steps`` of the budget): a run of
   n problems trains n·steps steps, and every run reads the one vocabulary fitted on the text of
   all problems (``vocabulary.json`` in the study's folder), so joint and single differ in what
   else the body learns, not in how much of the problem it saw or in its token ids.
2. **Parsing alone / with image classification / with all** (the paper's Table 3): parsing's
   rows of table 1 and a run of parsing + classification per seed.
3. **Block ablation** (the paper's Table 4) on classification + en → de: all blocks, without the
   MoE blocks, without attention (seed 0 and the budget's ablation seeds).
4. **Transfer explained** on the first seed's joint model: the gradient cosine and TAG affinity
   between the problems on the shared parameters (``train/transfer.py``, averaged over a few
   training batches of each problem: the joint run draws one problem a step, so the trainer's
   per-step probe has no pair to compare), and per MoE layer the share of each problem's tokens
   routed to each expert (which problems share experts).

Metrics on the test split: log-perplexity (nats per token; classification: its cross-entropy),
per-token accuracy (classification: top-1), BLEU (sacrebleu, corpus, greedy decoding) for
translation and captioning, exact match ("full" in the paper) for parsing. Every run keeps its
folder under ``OUT/multimodel-BUDGET/``, so ``--resume`` continues.
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sharedspace import layout
from sharedspace.analysis.gates import gates_figure
from sharedspace.analysis.transfer import transfer_figure
from sharedspace.collectives import SINGLE
from sharedspace.config import CONFIGS, ExperimentConfig, load_yaml
from sharedspace.data.tokenizers import PAD_ID
from sharedspace.errors import ConfigError, DataError
from sharedspace.experiments.registry import EXPERIMENTS, RunOptions, budget_setting
from sharedspace.experiments.sus import Budget, table_note
from sharedspace.files import atomic_write
from sharedspace.overrides import apply_to_each
from sharedspace.resolve import load_config
from sharedspace.spaces.moe import MoELayer
from sharedspace.tables import mean_std, write_table
from sharedspace.tasks.text_scores import bleu_interval, signatures
from sharedspace.tasks.vocabulary import fit_vocabularies, vocabulary_groups
from sharedspace.train.record import Origin
from sharedspace.train.trainer import TrainResult, train
from sharedspace.train.transfer import gradient_cosine, lookahead_affinity, task_gradients

CONFIG = CONFIGS / "multimodel" / "joint.yaml"
PROBLEMS = ("classify", "en_de", "de_en", "en_fr", "fr_en", "parse", "parse_en", "caption")
LABELS = {
    "classify": "Image classification (Fashion-MNIST)",
    "en_de": "Translation en → de (gettext)",
    "de_en": "Translation de → en (gettext)",
    "en_fr": "Translation en → fr (gettext)",
    "fr_en": "Translation fr → en (gettext)",
    "parse": "Turkish dependency parsing (gold)",
    "parse_en": "English constituency parsing (silver)",
    "caption": "Image captioning (Tux Paint test)",
}
PARSES = ("parse", "parse_en")  # their "full" column: exact match
ABLATIONS = {  # run key → (label, the body's settings)
    "all": ("All blocks", {}),
    "no_moe": ("Without MoE", {"moe": False}),
    "no_attention": ("Without attention", {"attention": False}),
}
ABLATED = ("classify", "en_de")
PROBE_BATCH = 32  # examples of one problem in a batch the probes read (the joint config's)


@dataclass(frozen=True)
class Study:
    """A budget: the overrides of every run, the batches each problem sees, the seeds of tables
    1–2 and of the ablation, and the batches of each problem the transfer probe averages."""

    budget: Budget
    steps: int
    seeds: tuple[int, ...]
    ablation_seeds: tuple[int, ...]
    probe_batches: int


STUDIES = {
    # a minute or two: wiring only, numbers meaningless
    "smoke": Study(
        Budget(
            train={"epochs": 1000, "log_every": 2, "warmup_steps": 1, "eval_every": None,
                   "progress": False, "eval_batch_size": 16, "keep_checkpoints": 1},
            data={"image": {"train_size": 64, "eval_size": 16},
                  "text": {"train_size": 64, "eval_size": 16}},
        ),
        steps=2, seeds=(0,), ablation_seeds=(0,), probe_batches=1,
    ),
    # about 2 hours on 2 CPU cores (README, MultiModel)
    "default": Study(
        Budget(train={"epochs": 1000, "eval_every": None},
               data={"image": {"eval_size": 2000}}),
        steps=600, seeds=(0, 1), ablation_seeds=(0,), probe_batches=4,
    ),
    # four times the batches, three seeds: about a day
    "full": Study(
        Budget(train={"epochs": 1000, "eval_every": None}),
        steps=2400, seeds=(0, 1, 2), ablation_seeds=(0, 1), probe_batches=8,
    ),
}  # fmt: skip


def study_runs(study: Study) -> dict[str, tuple[tuple[str, ...], dict[str, Any], int]]:
    """Run name → (its problems, the body's settings, its seed), in training order."""
    runs: dict[str, tuple[tuple[str, ...], dict[str, Any], int]] = {}
    for seed in study.seeds:
        runs[f"joint-s{seed}"] = (PROBLEMS, {}, seed)
        runs |= {f"alone-{p}-s{seed}": ((p,), {}, seed) for p in PROBLEMS}
        runs[f"parse_classify-s{seed}"] = (("parse", "classify"), {}, seed)
    for seed in study.ablation_seeds:
        runs |= {
            f"blocks_{key}-s{seed}": (ABLATED, body, seed) for key, (_, body) in ABLATIONS.items()
        }
    return runs


def run_configs(study: Study, run: RunOptions, folder: Path) -> dict[str, ExperimentConfig]:
    """Every run's config, each validated before any trains."""
    raws = {}
    for name, (problems, body, seed) in study_runs(study).items():
        raw = load_yaml(CONFIG)
        raw["tasks"] = {p: raw["tasks"][p] for p in problems}
        raw["model"]["space"].update(body)
        study.budget.apply(raw)
        raw["train"]["max_steps"] = study.steps * len(problems)
        raw.update(name=name, seed=seed, out_dir=str(folder), data_dir=run.data_dir)
        raws[name] = raw
    apply_to_each(list(raws.values()), list(run.overrides))
    return {name: load_config(data=raw, source=str(CONFIG)) for name, raw in raws.items()}


def fitted_on(cfg: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """What the vocabularies of ``cfg`` are fitted from: per vocabulary, its tasks' data sections
    (JSON-shaped), so a study resumed with other problems or data refuses a stale vocabulary."""
    groups = vocabulary_groups(cfg)
    basis = {
        group: {n: [cfg.tasks[n].data.name, asdict(cfg.tasks[n].data.config)] for n in names}
        for group, names in groups.items()
    }
    return json.loads(json.dumps(basis))


def study_vocabularies(cfg: ExperimentConfig, path: Path, refit: bool) -> dict[str, dict]:
    """The vocabularies of the joint config ``cfg``, fitted on every problem's training text,
    which every run of the study reads: read from ``path`` when a (resumed) study wrote it from
    the same data sections, else fitted and written there (``refit``: fitted anew, as
    ``--overwrite`` retrains every run)."""
    basis = fitted_on(cfg)
    if path.is_file() and not refit:
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{path}: not a study's vocabularies ({e})") from None
        if not isinstance(stored, dict) or set(stored) != {"fitted_on", "vocabularies"}:
            raise DataError(f"{path}: not a study's vocabularies (keys fitted_on, vocabularies)")
        if stored["fitted_on"] != basis:
            raise ConfigError(
                f"{path}: fitted on other problems or data sections than this study's; "
                "--overwrite retrains the study with a new one"
            )
        return stored["vocabularies"]
    vocabularies = fit_vocabularies(cfg)
    text = json.dumps({"fitted_on": basis, "vocabularies": vocabularies}, ensure_ascii=False)
    atomic_write(path, lambda f: f.write(text.encode()))
    return vocabularies


def scores(result: TrainResult, problem: str) -> dict[str, float | None]:
    """A problem's test scores in the paper's terms (None where a metric does not apply)."""
    test = result.metrics["test"][problem]
    accuracy = test.get("token_accuracy", test.get("accuracy"))
    return {
        "log-ppl": test["loss"],
        "accuracy": accuracy,
        "BLEU": test.get("bleu") if problem not in PARSES else None,
        "full": test.get("exact_match") if problem in PARSES else None,
    }


def mean_row(label: str, runs: list[TrainResult], problem: str) -> dict[str, Any]:
    """One table row: each score's mean and std over the seeds' runs."""
    row: dict[str, Any] = {"Problem": label}
    for metric in ("log-ppl", "accuracy", "BLEU", "full"):
        values = [scores(r, problem)[metric] for r in runs]
        if all(v is not None for v in values):
            row[metric], row[f"{metric} std"] = mean_std(values)
    return row


def columns(first: str, rows: list[dict[str, Any]]) -> list[str]:
    """The table's columns: ``first``, then every score some row has, each with its std."""
    found = [m for m in ("log-ppl", "accuracy", "BLEU", "full") if any(m in r for r in rows)]
    return [first, *(c for m in found for c in (m, f"{m} std"))]


def probe_transfer(result: TrainResult, batches: int, lr: float) -> tuple[np.ndarray, np.ndarray]:
    """Gradient cosine and TAG affinity (T, T) between the run's tasks on its shared parameters,
    each the mean over ``batches`` probes of one training batch per task (the first batches of
    each task's training split, in the model's eval mode: no dropout, no gate noise)."""
    model, tasks = result.model, result.tasks
    shared = [p for p in model.shared_parameters() if p.requires_grad]
    model.eval()
    cosines, affinities = [], []
    for b in range(batches):
        idx = torch.arange(b * PROBE_BATCH, (b + 1) * PROBE_BATCH)
        drawn = {
            t.index: t.data.splits["train"].get(idx % len(t.data.splits["train"])) for t in tasks
        }
        jacobian = task_gradients(model, tasks, drawn, shared, SINGLE)
        cosines.append(gradient_cosine(jacobian).numpy())
        affinities.append(
            lookahead_affinity(model, tasks, drawn, shared, jacobian, lr, SINGLE).numpy()
        )
    return np.mean(cosines, 0), np.mean(affinities, 0)


@torch.inference_mode()
def test_bleu(result: TrainResult, problem: str) -> tuple[float, float, float]:
    """(corpus BLEU, low, high) of ``problem``'s greedy decodings of its test split: the 95 %
    bootstrap interval over sentences (``text_scores.bleu_interval``), as the caption test set
    is small (950 stamps)."""
    task = next(t for t in result.tasks if t.name == problem)
    split = task.data.splits["test"]
    result.model.eval()
    hypotheses, references = [], []
    for start in range(0, len(split), 64):
        batch = split.get(torch.arange(start, min(start + 64, len(split))))
        hypotheses += task.texts(result.model.predict(task.index, batch, task.decoding))
        references += task.texts(batch["y"].masked_fill(~batch["y_mask"], PAD_ID))
    return bleu_interval(hypotheses, references)


@torch.inference_mode()
def expert_use(result: TrainResult, batches: int) -> tuple[list[str], np.ndarray]:
    """Per MoE layer of the body, the share of each task's real token positions that route to
    each expert (its top-k choices, counted once each), on the first ``batches`` validation
    batches of ``PROBE_BATCH``: (layer names, (T, layers·M) shares, each layer's block of M
    summing to k)."""
    model, tasks = result.model, result.tasks
    layers = {name: m for name, m in model.space.named_modules() if isinstance(m, MoELayer)}
    counts = {(t.index, name): Counter() for t in tasks for name in layers}
    tokens = Counter()
    current: list[int] = []

    def hook(name: str):
        def record(module, args, output) -> None:
            ids = output[0]  # (N, k) chosen experts of the layer's N rows
            counts[current[0], name].update(ids.flatten().tolist())
            tokens[current[0], name] += len(ids)

        return record

    handles = [layer.gate.register_forward_hook(hook(name)) for name, layer in layers.items()]
    model.eval()
    try:
        for task in tasks:
            current[:] = [task.index]
            split = task.data.splits["validation"]
            for b in range(min(batches, -(-len(split) // PROBE_BATCH))):
                rows = torch.arange(b * PROBE_BATCH, min((b + 1) * PROBE_BATCH, len(split)))
                model(task.index, split.get(rows))
    finally:
        for handle in handles:
            handle.remove()
    m = len(next(iter(layers.values())).experts)
    share = np.zeros((len(tasks), len(layers) * m))
    for i, task in enumerate(tasks):
        for j, name in enumerate(layers):
            for expert, n in counts[task.index, name].items():
                share[i, j * m + expert] = n / max(tokens[task.index, name], 1)
    return list(layers), share


@EXPERIMENTS.register("multimodel")
def reproduce_multimodel(run: RunOptions) -> Path:
    """Train every run, then write results (joint vs single), parsing and blocks (.md/.csv),
    the transfer heatmaps and the expert-use map; returns results.md."""
    study = budget_setting(STUDIES, run.budget)
    folder = Path(run.out_dir) / f"multimodel-{run.budget}"
    configs = run_configs(study, run, folder)
    origin = Origin(str(CONFIG), list(run.overrides))
    folder.mkdir(parents=True, exist_ok=True)
    joint_cfg = configs[f"joint-s{study.seeds[0]}"]
    vocabularies = study_vocabularies(joint_cfg, folder / "vocabulary.json", run.overwrite)
    results: dict[str, TrainResult] = {}
    for name, cfg in configs.items():
        print(f"== {folder / name}", flush=True)
        results[name] = train(
            cfg, resume=run.resume, overwrite=run.overwrite, origin=origin,
            vocabularies=vocabularies,
        )  # fmt: skip
    note = table_note(run.budget, list(configs.values()), list(results.values()))
    note += f"; {study.steps} batches of 32 a problem in every run; BLEU: {signatures()['bleu']}"

    def seeds_of(key: str, seeds: tuple[int, ...]) -> list[TrainResult]:
        return [results[f"{key}-s{seed}"] for seed in seeds]

    rows = []
    for problem in PROBLEMS:
        joint = mean_row(f"{LABELS[problem]}, joint", seeds_of("joint", study.seeds), problem)
        alone = seeds_of(f"alone-{problem}", study.seeds)
        rows += [joint, mean_row(f"{LABELS[problem]}, alone", alone, problem)]
    md, _ = write_table(
        rows, columns("Problem", rows), folder / layout.RESULTS, overwrite=True, note=note
    )
    parsing = [
        mean_row(label, seeds_of(key, study.seeds), "parse")
        for key, label in (
            ("alone-parse", "Turkish parsing alone"),
            ("parse_classify", "Turkish parsing + image classification"),
            ("joint", "Turkish parsing with all problems"),
        )
    ]
    write_table(parsing, columns("Problem", parsing), folder / "parsing", overwrite=True, note=note)
    blocks = [
        {**mean_row(label, seeds_of(f"blocks_{key}", study.ablation_seeds), problem),
         "Problem": f"{LABELS[problem]}: {label.lower()}"}
        for problem in ABLATED
        for key, (label, _) in ABLATIONS.items()
    ]  # fmt: skip
    write_table(blocks, columns("Problem", blocks), folder / "blocks", overwrite=True, note=note)

    intervals = []
    for name, result in results.items():
        if "caption" in (t.name for t in result.tasks):
            score, low, high = test_bleu(result, "caption")
            intervals.append({"Run": name, "BLEU": score, "95 % low": low, "95 % high": high})
    caption_note = f"{note}; captioning test BLEU with its bootstrap interval (1,000 resamples)"
    columns_ci = ["Run", "BLEU", "95 % low", "95 % high"]
    write_table(intervals, columns_ci, folder / "caption_bleu", overwrite=True, note=caption_note)

    joint = results[f"joint-s{study.seeds[0]}"]
    names = [t.name for t in joint.tasks]
    lr = configs[f"joint-s{study.seeds[0]}"].train.lr
    cosine, affinity = probe_transfer(joint, study.probe_batches, lr)
    title = f"MultiModel joint, seed {study.seeds[0]}: trained model, {study.probe_batches} probes"
    transfer_figure(names, cosine, affinity, folder / "transfer.png", title)
    layers, share = expert_use(joint, study.probe_batches)
    gates_figure(
        share, names, folder / "experts.png", f"Expert use per problem: {', '.join(layers)}"
    )
    return md
