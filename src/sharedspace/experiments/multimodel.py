"""MultiModel's tables (Kaiser et al. 2017, "One Model To Learn Them All") on the offline problems
of ``configs/multimodel/joint.yaml``: image classification (Fashion-MNIST), translation between
English and German and English and French, both ways (gettext), Turkish dependency parsing
(gold), English constituency parsing (silver, link-grammar's) and image captioning.

    sharedspace reproduce multimodel [--budget smoke|default|full] [--data-dir DIR] [key=value …]
    sharedspace reproduce multimodel_speech [--budget …]   # the three modalities: + speech

``multimodel_speech`` is the same study on ``configs/multimodel/joint_speech.yaml``: the eight
problems plus speech recognition and keyword spotting, trained jointly and (the speech problems)
alone. Speech recognition is scored on its synthetic test (unheard voices and sentences) and on
real recordings (``real_speech_en``, with the run's trained model and tokenizer, as ``sharedspace
evaluate`` does); keyword spotting's test split is real recordings.

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
   (Tables 2–3 are the text study's only.)
4. **Transfer explained** on the first seed's joint model: the gradient cosine and TAG affinity
   between the problems on the shared parameters (``train/transfer.py``, averaged over a few
   training batches of each problem: the joint run draws one problem a step, so the trainer's
   per-step probe has no pair to compare), and per MoE layer the share of each problem's tokens
   routed to each expert (which problems share experts).

Metrics on the test split: log-perplexity (nats per token; classification: its cross-entropy),
per-token accuracy (classification: top-1), BLEU (sacrebleu, corpus, greedy decoding) for
translation and captioning, exact match ("full" in the paper) for parsing, word and character
error rates (greedy) for speech recognition. Every run keeps its folder under
``OUT/multimodel-BUDGET/`` (``multimodel_speech-BUDGET/``), so ``--resume`` continues.
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
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
from sharedspace.runs import Run, evaluate_on_other_data
from sharedspace.spaces.moe import MoELayer
from sharedspace.tables import mean_std, write_table
from sharedspace.tasks.text_scores import bleu_interval, signatures
from sharedspace.tasks.vocabulary import fit_vocabularies, vocabulary_groups
from sharedspace.train.record import Origin
from sharedspace.train.trainer import TrainResult
from sharedspace.train.transfer import gradient_cosine, lookahead_affinity, task_gradients

CONFIG = CONFIGS / "multimodel" / "joint.yaml"
PROBLEMS = ("classify", "en_de", "de_en", "en_fr", "fr_en", "parse", "parse_en", "caption")
SPEECH_PROBLEMS = ("asr", "words")
LABELS = {
    "classify": "Image classification (Fashion-MNIST)",
    "en_de": "Translation en → de (gettext)",
    "de_en": "Translation de → en (gettext)",
    "en_fr": "Translation en → fr (gettext)",
    "fr_en": "Translation fr → en (gettext)",
    "parse": "Turkish dependency parsing (gold)",
    "parse_en": "English constituency parsing (silver)",
    "caption": "Image captioning (Tux Paint test)",
    "asr": "Speech recognition (synthetic test)",
    "words": "Keyword spotting (real recordings)",
}
METRICS = ("log-ppl", "accuracy", "BLEU", "full", "WER", "CER")
PARSES = ("parse", "parse_en")  # their "full" column: exact match
ABLATIONS = {  # run key → (label, the body's settings)
    "all": ("All blocks", {}),
    "no_moe": ("Without MoE", {"moe": False}),
    "no_attention": ("Without attention", {"attention": False}),
}
ABLATED = ("classify", "en_de")
PROBE_BATCH = 32  # examples of one problem in a batch the probes read (the joint config's)


@dataclass(frozen=True)
class Design:
    """What a study trains and tabulates: its config and problems (in table order), the problems
    it also trains alone, whether it has the paper's parsing and block tables, and per problem a
    test-only dataset its runs are scored on too, with its row's label (real recordings)."""

    config: Path
    problems: tuple[str, ...]
    alone: tuple[str, ...]
    paper_tables: bool
    other_tests: dict[str, tuple[str, str]] = field(default_factory=dict)  # → (source, label)


TEXT = Design(CONFIG, PROBLEMS, PROBLEMS, paper_tables=True)
SPEECH = Design(
    CONFIGS / "multimodel" / "joint_speech.yaml", (*PROBLEMS, *SPEECH_PROBLEMS), SPEECH_PROBLEMS,
    paper_tables=False,
    other_tests={"asr": ("real_speech_en", "Speech recognition (real recordings)")},
)  # fmt: skip


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


def study_runs(
    study: Study, design: Design = TEXT
) -> dict[str, tuple[tuple[str, ...], dict[str, Any], int]]:
    """Run name → (its problems, the body's settings, its seed), in training order."""
    runs: dict[str, tuple[tuple[str, ...], dict[str, Any], int]] = {}
    for seed in study.seeds:
        runs[f"joint-s{seed}"] = (design.problems, {}, seed)
        runs |= {f"alone-{p}-s{seed}": ((p,), {}, seed) for p in design.alone}
        if design.paper_tables:
            runs[f"parse_classify-s{seed}"] = (("parse", "classify"), {}, seed)
    for seed in study.ablation_seeds if design.paper_tables else ():
        runs |= {
            f"blocks_{key}-s{seed}": (ABLATED, body, seed) for key, (_, body) in ABLATIONS.items()
        }
    return runs


def run_configs(
    study: Study, design: Design, run: RunOptions, folder: Path
) -> dict[str, ExperimentConfig]:
    """Every run's config, each validated before any trains."""
    raws = {}
    for name, (problems, body, seed) in study_runs(study, design).items():
        raw = load_yaml(design.config)
        raw["tasks"] = {p: raw["tasks"][p] for p in problems}
        raw["model"]["space"].update(body)
        study.budget.apply(raw)
        raw["train"]["max_steps"] = study.steps * len(problems)
        raw.update(name=name, seed=seed, out_dir=str(folder), data_dir=run.data_dir)
        raws[name] = raw
    apply_to_each(list(raws.values()), list(run.overrides))
    return {name: load_config(data=raw, source=str(design.config)) for name, raw in raws.items()}


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


def scores(test: dict[str, float], problem: str) -> dict[str, float | None]:
    """A problem's scores on a split (its ``metrics``) in the paper's terms (None where a metric
    does not apply)."""
    accuracy = test.get("token_accuracy", test.get("accuracy"))
    return {
        "log-ppl": test["loss"],
        "accuracy": accuracy,
        "BLEU": test.get("bleu") if problem not in PARSES else None,
        "full": test.get("exact_match") if problem in PARSES else None,
        "WER": test.get("wer"),
        "CER": test.get("cer"),
    }


def mean_row(label: str, tests: list[dict[str, float]], problem: str) -> dict[str, Any]:
    """One table row: each score's mean and std over the seeds' runs' ``tests`` (metrics)."""
    row: dict[str, Any] = {"Problem": label}
    for metric in METRICS:
        values = [scores(test, problem)[metric] for test in tests]
        if all(v is not None for v in values):
            row[metric], row[f"{metric} std"] = mean_std(values)
    return row


def trained(problem: str, how: str) -> str:
    """The name, less its ``-sSEED``, of the study's run that trained ``problem`` ``how``
    (``joint``: with every problem, or ``alone``)."""
    return "joint" if how == "joint" else f"alone-{problem}"


def seed_tests(
    results: dict[str, TrainResult], key: str, seeds: tuple[int, ...], problem: str
) -> list[dict[str, float]]:
    """``problem``'s test metrics in the runs ``KEY-sSEED`` of ``seeds``."""
    return [results[f"{key}-s{seed}"].metrics["test"][problem] for seed in seeds]


def columns(first: str, rows: list[dict[str, Any]]) -> list[str]:
    """The table's columns: ``first``, then every score some row has, each with its std."""
    found = [m for m in METRICS if any(m in r for r in rows)]
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
    """The eight image and text problems: results (joint vs single), parsing and blocks
    (.md/.csv), captioning BLEU intervals, the transfer heatmaps and the expert-use map; returns
    results.md."""
    return reproduce(TEXT, "multimodel", run)


@EXPERIMENTS.register("multimodel_speech")
def reproduce_multimodel_speech(run: RunOptions) -> Path:
    """The three modalities: every problem jointly with speech, speech alone, speech on real
    recordings (other_tests), the heatmaps and expert map with speech; returns results.md."""
    return reproduce(SPEECH, "multimodel_speech", run)


def reproduce(design: Design, name: str, run: RunOptions) -> Path:
    """Train every run of ``design`` at ``run``'s budget into ``OUT/NAME-BUDGET/``, then write
    its tables and figures there; returns results.md."""
    study = budget_setting(STUDIES, run.budget)
    folder = Path(run.out_dir) / f"{name}-{run.budget}"
    configs = run_configs(study, design, run, folder)
    origin = Origin(str(design.config), list(run.overrides))
    folder.mkdir(parents=True, exist_ok=True)
    joint_cfg = configs[f"joint-s{study.seeds[0]}"]
    vocabularies = study_vocabularies(joint_cfg, folder / "vocabulary.json", run.overwrite)
    results: dict[str, TrainResult] = {}
    for run_name, cfg in configs.items():
        print(f"== {folder / run_name}", flush=True)
        results[run_name] = run.train(cfg, origin=origin, vocabularies=vocabularies)
    note = table_note(run.budget, list(configs.values()), list(results.values()))
    note += f"; {study.steps} batches of 32 a problem in every run; BLEU: {signatures()['bleu']}"

    rows = []
    for problem in design.problems:
        for how in ("joint", "alone") if problem in design.alone else ("joint",):
            tests = seed_tests(results, trained(problem, how), study.seeds, problem)
            rows.append(mean_row(f"{LABELS[problem]}, {how}", tests, problem))
    md, _ = write_table(
        rows, columns("Problem", rows), folder / layout.RESULTS, overwrite=True, note=note
    )
    if design.other_tests:
        write_other_tests(design, study, results, folder, note)
    if design.paper_tables:
        write_paper_tables(study, results, folder, note)

    joint = results[f"joint-s{study.seeds[0]}"]
    names = [t.name for t in joint.tasks]
    cosine, affinity = probe_transfer(joint, study.probe_batches, joint_cfg.train.lr)
    title = f"MultiModel joint, seed {study.seeds[0]}: trained model, {study.probe_batches} probes"
    transfer_figure(names, cosine, affinity, folder / "transfer.png", title)
    layers, share = expert_use(joint, study.probe_batches)
    gates_figure(
        share, names, folder / "experts.png", f"Expert use per problem: {', '.join(layers)}"
    )
    return md


def write_other_tests(
    design: Design, study: Study, results: dict[str, TrainResult], folder: Path, note: str
) -> None:
    """``other_tests.md`` (.csv): each problem of ``design.other_tests`` scored on the test split
    of its other dataset, jointly and alone, by every seed's trained run (each run keeps the
    numbers in its ``results-test-SOURCE.json``, as ``sharedspace evaluate`` writes them)."""
    rows = []
    for problem, (source, label) in design.other_tests.items():
        for how in ("joint", "alone"):
            tests = [
                evaluate_on_other_data(
                    Run.of(results[f"{trained(problem, how)}-s{seed}"]),
                    [f"tasks.{problem}.data.source={source}"],
                )[0][problem]
                for seed in study.seeds
            ]
            rows.append(mean_row(f"{label}, {how}", tests, problem))
    write_table(
        rows, columns("Problem", rows), folder / "other_tests", overwrite=True,
        note=f"{note}; test split of the named dataset, read by each trained run",
    )  # fmt: skip


def write_paper_tables(
    study: Study, results: dict[str, TrainResult], folder: Path, note: str
) -> None:
    """The paper's Tables 3 (parsing) and 4 (blocks), and captioning's BLEU intervals."""
    parsing = [
        mean_row(label, seed_tests(results, key, study.seeds, "parse"), "parse")
        for key, label in (
            (trained("parse", "alone"), "Turkish parsing alone"),
            ("parse_classify", "Turkish parsing + image classification"),
            ("joint", "Turkish parsing with all problems"),
        )
    ]
    write_table(parsing, columns("Problem", parsing), folder / "parsing", overwrite=True, note=note)
    blocks = []
    for problem in ABLATED:
        for key, (label, _) in ABLATIONS.items():
            tests = seed_tests(results, f"blocks_{key}", study.ablation_seeds, problem)
            blocks.append(mean_row(f"{LABELS[problem]}: {label.lower()}", tests, problem))
    write_table(blocks, columns("Problem", blocks), folder / "blocks", overwrite=True, note=note)

    intervals = []
    for name, result in results.items():
        if "caption" in (t.name for t in result.tasks):
            score, low, high = test_bleu(result, "caption")
            intervals.append({"Run": name, "BLEU": score, "95 % low": low, "95 % high": high})
    caption_note = f"{note}; captioning test BLEU with its bootstrap interval (1,000 resamples)"
    columns_ci = ["Run", "BLEU", "95 % low", "95 % high"]
    write_table(intervals, columns_ci, folder / "caption_bleu", overwrite=True, note=caption_note)
