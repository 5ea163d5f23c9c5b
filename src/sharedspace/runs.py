"""Read a run folder back: load its trained model, evaluate it, draw the figures its tasks support.

Above the trainer and the config resolution: a run folder holds the resolved config
(``config.yaml``), the weights (``model.safetensors``, ``best.safetensors``) and the resume
checkpoints, from which everything the run saw is rebuilt::

    run = load_run("runs/sus-all_three")             # final weights; "best", "latest" or a file
    logits = run.predict("classification", batch)    # (B, 10)

A trained run is evaluated on other data (``evaluate_on_other_data``) by overrides of its tasks'
data sections only, as ``train`` takes them (``tasks.asr.data.source=real_speech_en``): each task
named keeps the tokenizer it trained with, and the model is the trained one, built from the
trained data's specs — so a cap that standardises by its dataset's statistics keeps the trained
statistics — into which the new data must fit (the same vocabulary, no longer targets than it
decodes). Its numbers go to ``results-<split>-<sources>.json``/``.md``/``.csv`` beside the run's
own results, which stay as the run wrote them.
"""

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sharedspace import layout
from sharedspace.analysis.clips import clip_figure
from sharedspace.analysis.colorization import colorization_grid
from sharedspace.analysis.detections import detection_figure
from sharedspace.analysis.embedding import pca_figure
from sharedspace.analysis.generated_features import real_and_generated
from sharedspace.analysis.image_grid import image_grid
from sharedspace.analysis.transfer import read_transfer, transfer_figure
from sharedspace.config import ExperimentConfig
from sharedspace.data import tokenizer_from_state
from sharedspace.errors import CheckpointError, ConfigError, DataError, SharedSpaceError, short
from sharedspace.files import atomic_write
from sharedspace.modalities import build_modality_cap
from sharedspace.model import SharedSpaceModel, build_model
from sharedspace.outputs import OUTPUTS
from sharedspace.overrides import Override
from sharedspace.representation import pooled
from sharedspace.resolve import load_config
from sharedspace.tables import write_table
from sharedspace.tasks import Task, build_tasks
from sharedspace.tasks.clip_classification import ClipClassification
from sharedspace.tasks.colorization import Colorization
from sharedspace.tasks.detection import Detection
from sharedspace.tasks.reconstruction import Reconstruction
from sharedspace.tasks.zero_shot import ZeroShot
from sharedspace.train.checkpoint import checkpoint_step, latest_checkpoint, load_checkpoint
from sharedspace.train.evaluation import evaluate
from sharedspace.train.export import load_weights
from sharedspace.train.trainer import TrainResult, stored_results


@dataclass
class Run:
    """A trained run rebuilt from its folder: the model (in eval mode; on the CPU from
    ``load_run``, on the training device from ``Run.of``), its tasks with their data and
    tokenizers, the config it was trained with, and where the weights came from (``info``: step,
    and metric and value for the best weights)."""

    model: SharedSpaceModel
    tasks: list[Task]
    config: ExperimentConfig
    run_dir: Path
    info: dict[str, Any] = field(default_factory=dict)

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise SharedSpaceError(f"{self.run_dir}: no task {name!r} ({', '.join(self.names)})")

    @classmethod
    def of(cls, result: TrainResult) -> "Run":
        """The run a ``train`` call just made or resumed, without rebuilding its data: its model
        (the final weights, ``model.safetensors``) and tasks as that call holds them."""
        cfg = load_config(result.run_dir / layout.CONFIG)
        info = {"weights": str(result.run_dir / layout.FINAL), "step": result.steps}
        return cls(result.model.eval(), result.tasks, cfg, result.run_dir, info)

    @property
    def names(self) -> list[str]:
        return [task.name for task in self.tasks]

    @torch.inference_mode()
    def predict(self, task: str, batch: dict[str, torch.Tensor]) -> Any:
        """The task's output for a batch as its data makes it (``task(name).data.splits[…]
        .get(indices)``): logits for classification and next words, pixels in 0–1 for
        reconstruction, greedy tokens (B, L) for a kind that decodes."""
        t = self.task(task)
        if t.decodes:
            return self.model.predict(t.index, batch)
        return self.model(t.index, batch)[0]


def load_run(run_dir: Path, weights: str | Path = "final") -> Run:
    """Rebuild a run from its folder with the weights named by ``weights``: ``final`` (after the
    last step), ``best`` (``train.keep_best``), ``latest`` (the newest resume checkpoint, e.g.
    of a run stopped early) or a path to a ``.safetensors`` or checkpoint file."""
    run_dir = Path(run_dir)
    if not (run_dir / layout.CONFIG).is_file():
        raise SharedSpaceError(f"{run_dir}: not a run folder (no config.yaml)")
    cfg = load_config(run_dir / layout.CONFIG)
    if weights == "latest":
        path = latest_checkpoint(run_dir / layout.CHECKPOINTS)
        if path is None:
            raise CheckpointError(f"{run_dir / 'checkpoints'}: no checkpoint to load")
    else:
        named = {"final": run_dir / layout.FINAL, "best": run_dir / layout.BEST}
        path = named.get(str(weights), Path(weights))
        if weights in named and not path.is_file():
            hint = (
                "the run has not finished; weights='latest' loads its newest checkpoint"
                if weights == "final"
                else "set train.keep_best (e.g. classification.accuracy) to keep them"
            )
            raise CheckpointError(f"{path}: no {weights} weights ({hint})")
    if path.suffix == ".safetensors":
        state, task_states, info = load_weights(path)
    else:
        checkpoint = _checked_checkpoint(load_checkpoint(path), path)
        state, task_states = checkpoint["model"], checkpoint["task_states"]
        info = {"step": checkpoint["step"]}
    tasks = build_tasks(cfg, _checked_task_states(task_states, path, cfg))
    model = build_model(cfg, tasks)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1:2] or [str(err)]
        raise CheckpointError(
            f"{path}: its weights do not fit the model of {run_dir / 'config.yaml'} "
            f"({first[0].strip()})"
        ) from None
    return Run(model.eval(), tasks, cfg, run_dir, {"weights": str(path), **info})


def _checked_checkpoint(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """A checkpoint that holds the keys ``load_run`` reads (``load_checkpoint`` checked the type
    of each one present), or one line naming the missing one."""
    missing = next((key for key in ("model", "task_states", "step") if key not in checkpoint), None)
    if missing is not None:
        raise CheckpointError(f"{path}: the checkpoint lacks {missing!r}")
    return checkpoint


def _checked_task_states(
    states: dict[str, Any], path: Path, cfg: ExperimentConfig
) -> dict[str, Any]:
    """The tasks' data states of a weights file or checkpoint: one for each task of the config,
    each tokenizer one that sharedspace writes — refused in one line naming ``path`` before any
    data loads (a missing state would silently fit a new tokenizer)."""
    for name in cfg.tasks:
        state = states.get(name)
        if not isinstance(state, dict):
            problem = "lacks" if name not in states else f"has a {type(state).__name__} as"
            raise CheckpointError(f"{path}: task_states {problem} task {name!r}'s data state")
        if "tokenizer" in state:
            try:
                tokenizer_from_state(state["tokenizer"])
            except DataError as err:
                raise CheckpointError(f"{path}: task {name!r}: {err}") from None
    return states


def evaluate_run(
    run_dir: Path, split: str = "test", weights: str | Path = "latest"
) -> dict[str, dict[str, float]]:
    """Evaluate every task of a run on a split with the weights ``load_run`` names."""
    run = load_run(run_dir, weights)
    size, cpu = run.config.train.eval_batch_size, torch.device("cpu")
    return {task.name: evaluate(run.model, task, split, size, cpu) for task in run.tasks}


def evaluate_on_other_data(
    run: Run | Path, overrides: list[str], split: str = "test", weights: str | Path = "latest"
) -> tuple[dict[str, dict[str, float]], Path]:
    """Evaluate the tasks whose data ``overrides`` change (``tasks.<t>.data.<key>=value``) with
    a trained run (a ``Run``, or a run folder loaded with the weights ``load_run`` names) on
    ``split`` of their new data; returns their metrics and the
    ``results-<split>-<sources>.json`` written into the run folder (a ``.md`` and ``.csv``
    beside it). Any other key, a task the run lacks, or data the trained model cannot read
    (module docstring) is one ConfigError before anything is evaluated."""
    if not isinstance(run, Run):
        run = load_run(run, weights)
    names = _changed_tasks(overrides, run.config)
    cfg = load_config(run.run_dir / layout.CONFIG, list(overrides))
    states = {task.name: task.data.state for task in run.tasks}  # the trained tokenizers
    tasks = build_tasks(cfg, states, names=names)
    for task in tasks:
        _check_fits(run, cfg, task, split)
    size, device = run.config.train.eval_batch_size, next(run.model.parameters()).device
    metrics = {task.name: evaluate(run.model, task, split, size, device) for task in tasks}
    return metrics, _write_evaluation(run, cfg, names, list(overrides), split, metrics)


def _changed_tasks(overrides: list[str], cfg: ExperimentConfig) -> list[str]:
    """The tasks whose data the overrides change, in config order; ConfigError for an override
    of anything but a task's data, or of a task the run does not have."""
    named = set()
    for text in overrides:
        path = Override.parse(text).path
        if len(path) < 3 or path[0] != "tasks" or path[2] != "data":
            raise ConfigError(
                f"override {short(text)}: evaluation changes data only "
                "(tasks.<task>.data.<key>=…); train a new run to change the rest"
            )
        if path[1] not in cfg.tasks:
            raise ConfigError(
                f"override {short(text)}: the run has no task {short(path[1])} "
                f"(its tasks: {', '.join(cfg.tasks)})"
            )
        named.add(path[1])
    return [name for name in cfg.tasks if name in named]


def _check_fits(run: Run, cfg: ExperimentConfig, task: Task, split: str) -> None:
    """ConfigError (one line, naming the task's data section) unless the trained model reads
    ``task``'s new data as it read the trained data: the same kind of input, which a cap built
    for it would hold in weights of the same shapes (statistics may differ: the trained ones
    stay); targets the trained output reads as the same (a vocabulary or classes), no longer
    than it decodes; and examples in ``split``."""
    key, trained = f"tasks.{task.name}.data", run.task(task.name)
    source = cfg.tasks[task.name].data.name
    spec, was = task.data.spec, trained.data.spec
    section = cfg.model.modalities[task.modality]
    if spec.kind != was.kind:
        raise ConfigError(
            f"{key}: {source} gives {spec.kind} input; the trained {task.modality} "
            f"cap reads {was.kind}"
        )
    cap, where = run.model.caps[task.modality], f"model.modalities.{task.modality}"
    with torch.random.fork_rng():  # built for its shapes only; the trained cap stays
        fitted = build_modality_cap(section, cap.out_dim, spec, where)
    if _shapes(fitted) != _shapes(cap):
        raise ConfigError(
            f"{key}: the trained {task.modality} cap was built for {short(was)}, not "
            f"{source}'s {short(spec)}"
        )
    target, was = task.data.target, trained.data.target
    path = run.model.paths[trained.index]
    if path.output is None:
        with torch.random.fork_rng():
            task.build_head(run.model.space.out_dim)  # refuses targets longer than it decodes
    elif path.decodes and target.max_len > run.model.space.max_len:
        raise ConfigError(
            f"{key}.max_len: {target.max_len} tokens, but the trained model decodes at most "
            f"{run.model.space.max_len} (model.space.max_len)"
        )
    reads = OUTPUTS.get(cfg.model.outputs[path.output].name).reads if path.output else _any_len
    if reads(target) != reads(was):
        raise ConfigError(
            f"{key}: {source}'s targets ({short(target)}) are not those the trained "
            f"model writes ({short(was)}): another vocabulary"
        )
    if not len(task.data.splits[split]):
        raise ConfigError(f"{key}: {source} has no {split} examples (--split …)")


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(value.shape) for name, value in module.state_dict().items()}


def _any_len(target: Any) -> Any:
    """A target spec as a task's own head reads it once its length fits: all but ``max_len``."""
    has_len = any(f.name == "max_len" for f in dataclasses.fields(target))
    return dataclasses.replace(target, max_len=0) if has_len else target


def _write_evaluation(
    run: Run,
    cfg: ExperimentConfig,
    names: list[str],
    overrides: list[str],
    split: str,
    metrics: dict[str, dict[str, float]],
) -> Path:
    """``results-<split>-<sources>.json``/``.md``/``.csv`` in the run folder, written atomically
    (the sources of the changed tasks, then a digest of the overrides when they change more
    than sources: two evaluations of different data never share a file)."""
    sources = list(dict.fromkeys(cfg.tasks[name].data.name for name in names))
    stem = f"results-{split}-{'+'.join(sources)}"
    if any(Override.parse(text).path[3:] != ("source",) for text in overrides):
        stem += "-" + hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:8]
    record = {
        split: metrics,
        "evaluation": {"overrides": overrides, "split": split, "sources": sources, **run.info},
    }
    data = json.dumps(record, indent=2).encode()
    path = run.run_dir / f"{stem}.json"
    atomic_write(path, lambda f: f.write(data))
    rows = [
        {"Task": task, "Metric": metric, split.capitalize(): value}
        for task, values in metrics.items()
        for metric, value in values.items()
    ]
    note = (
        f"{run.run_dir.name} (step {run.info['step']}, {Path(run.info['weights']).name}) "
        f"evaluated on the {split} split of {', '.join(sources)}: {' '.join(overrides)}"
    )
    write_table(rows, ["Task", "Metric", split.capitalize()], run.run_dir / stem, True, note)
    return path


def finished(run_dir: Path) -> bool:
    """Whether the run's newest checkpoint is the step its results were computed at (False for
    a run stopped early by a signal, or never finished)."""
    latest = latest_checkpoint(Path(run_dir) / layout.CHECKPOINTS)
    return latest is not None and stored_results(Path(run_dir), checkpoint_step(latest)) is not None


def space_vectors(
    model: SharedSpaceModel, tasks: list[Task], per_task: int = 300
) -> tuple[np.ndarray, list[str], list[str]]:
    """Shared-space vectors (N, D) of ``per_task`` test examples of every task, with each row's
    modality and task; a sequence is its mean over real positions.

    Tasks on one dataset take different examples: caps and space are task-blind, so the same
    image would give the same vector for both image tasks and hide one behind the other.
    """
    vectors, modality, names = [], [], []
    model.eval()
    with torch.inference_mode():
        for task in tasks:
            split = task.data.splits["test"]
            start = min(task.index * per_task, max(0, len(split) - per_task))
            batch = split.get(torch.arange(start, min(start + per_task, len(split))))
            z, _ = model.embed(task.index, _to(batch, model))
            z = pooled(z)
            vectors.append(z.float().cpu().numpy())
            modality += [task.modality] * len(z)
            names += [task.name] * len(z)
    return np.concatenate(vectors), modality, names


FIGURE_EXAMPLES = 16  # test examples a task's figure shows (detection: half as many)
CLIP_SEARCH = 2_000  # test clips searched for one of each class


@functools.singledispatch
def task_figure(task: Task, model: SharedSpaceModel, path: Path) -> bool:
    """Draw what the trained ``model`` makes of some of ``task``'s test examples into ``path``;
    False where the task's kind has no figure. A kind registers its own
    (``@task_figure.register``), found along its class's bases."""
    return False


@torch.inference_mode()
def _outputs(
    task: Task, model: SharedSpaceModel, idx: torch.Tensor
) -> tuple[dict[str, torch.Tensor], Any]:
    """Test examples ``idx`` of the task as its data gives them, and the model's output (CPU)."""
    batch = task.data.splits["test"].get(idx)
    output, _ = model(task.index, _to(batch, model))
    return batch, _cpu(output)


def _cpu(output: Any) -> Any:
    if isinstance(output, dict):
        return {key: value.cpu() for key, value in output.items()}
    return output.cpu()


def _first(task: Task, n: int) -> torch.Tensor:
    return torch.arange(min(n, len(task.data.splits["test"])))


@task_figure.register
def _(task: Reconstruction, model: SharedSpaceModel, path: Path) -> bool:
    batch, output = _outputs(task, model, _first(task, FIGURE_EXAMPLES))
    title = "top: input, bottom: reconstruction"
    image_grid([batch["x"].float() / 255, output], path, title)
    return True


@task_figure.register
def _(task: Colorization, model: SharedSpaceModel, path: Path) -> bool:
    batch, output = _outputs(task, model, _first(task, FIGURE_EXAMPLES))
    colorization_grid(batch["x"], output, batch["y"], path)
    return True


@task_figure.register
def _(task: Detection, model: SharedSpaceModel, path: Path) -> bool:
    batch, output = _outputs(task, model, _first(task, FIGURE_EXAMPLES // 2))
    found = task.detect(output, batch)
    classes = task.data.target.classes
    detection_figure(batch["x"], found, (batch["y_boxes"], batch["y"]), classes, path)
    return True


@task_figure.register
def _(task: ClipClassification, model: SharedSpaceModel, path: Path) -> bool:
    labels = task.data.splits["test"].get(_first(task, CLIP_SEARCH))["y"]
    classes = task.data.target.classes
    idx = [int(hits[0]) for c in range(len(classes)) if len(hits := (labels == c).nonzero())]
    batch, logits = _outputs(task, model, torch.tensor(idx))
    names = [
        f"{classes[int(y)]}\n(predicted {classes[int(p)]})"
        for y, p in zip(batch["y"], logits.argmax(-1), strict=True)
    ]
    clip_figure(batch["x"], names, path, f"{task.name}: a test clip of each class")
    return True


@task_figure.register
def _(task: ZeroShot, model: SharedSpaceModel, path: Path) -> bool:
    """Real and generated features of (up to 8 of) the test-unseen pairs, 100 of each."""
    target, split = task.data.target, task.data.splits["test"]
    pairs = [i for i, s in enumerate(target.sets) if s == "test"][:8]
    real = torch.cat([(split.labels == c).nonzero()[:100, 0] for c in pairs])
    drawn = torch.tensor(pairs).repeat_interleave(100)
    with torch.inference_mode(), model.replay(model.stream_positions()):  # the run's draws kept
        generated = model.heads[str(task.index)].generate(drawn.to(_device(model))).cpu()
    names = target.classes
    real_and_generated(split.features[real], split.labels[real], generated, drawn, names, path)
    return True


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _to(batch: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The batch on the model's device (a model just trained may be on a GPU)."""
    return {key: value.to(_device(model)) for key, value in batch.items()}


def draw_run_figures(
    run_dir: Path, model: SharedSpaceModel, tasks: list[Task], title: str = ""
) -> list[Path]:
    """The figures a run supports, written into its folder: ``space_pca.png`` (where each
    task's test inputs land in the space), ``task-<name>.png`` for each task whose kind draws
    some test examples (``task_figure``: reconstructions, colourisations, detections, a clip of
    each class), ``transfer.png`` when the run probed task transfer (``train.transfer_every``)."""
    run_dir, title = Path(run_dir), title or Path(run_dir).name
    drawn = [run_dir / "space_pca.png"]
    pca_figure(*space_vectors(model, tasks), drawn[0], title)
    for task in tasks:
        if task_figure(task, model, run_dir / f"task-{task.name}.png"):
            drawn.append(run_dir / f"task-{task.name}.png")
    try:
        names, _, cosine, affinity = read_transfer(run_dir)
    except SharedSpaceError:
        return drawn
    drawn.append(run_dir / "transfer.png")
    transfer_figure(names, cosine, affinity, drawn[-1], title=f"{title}: task transfer")
    return drawn
