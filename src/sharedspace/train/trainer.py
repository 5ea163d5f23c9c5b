"""The training recipe: setup → restore → loop → finish, each a function over one ``Run``.

``setup`` builds the tasks (data), the model, the weighting, the optimizers, the sampler and the
batch streams; ``restore`` puts a checkpoint's state back; ``loop`` runs the update rule
(``train.step``, see ``train.step``) on the sampler's tasks with validation, checkpoints and logs;
``finish`` evaluates on validation and test and writes the results. A second loop (discovery,
a feature generator) reuses these parts rather than copying them.

Everything needed to continue — model, optimizers, weighting, sampler, batch streams, RNG states,
step — is one checkpoint, so a killed run resumes where it stopped and gives the same weights as an
uninterrupted one; resuming a finished run returns its stored results without training again.

The run folder it leaves is drawn, and each name in it spelt, in ``sharedspace.layout``.
"""

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from sharedspace import collectives, layout
from sharedspace.config import ExperimentConfig, config_changes, save_config, to_dict
from sharedspace.errors import CheckpointError, DataError, Interrupted
from sharedspace.model import SharedSpaceModel, build_model
from sharedspace.precision import COMPUTE_DTYPES, pick_precision
from sharedspace.tasks import Task, build_tasks
from sharedspace.train import distributed, transfer
from sharedspace.train.checkpoint import load_newest_good, save_checkpoint
from sharedspace.train.evaluation import evaluate
from sharedspace.train.export import BestWeights, load_weights, save_weights
from sharedspace.train.loss_scale import LossScale
from sharedspace.train.optimizers import Optimizers
from sharedspace.train.record import CODE_KEYS, Origin, RunRecord, code_version
from sharedspace.train.results import stored_results, write_results
from sharedspace.train.run_folder import run_folder
from sharedspace.train.runlog import STEP, RunLog, RunningMeans
from sharedspace.train.sampling import SAMPLERS, BatchStream, TaskSampler, steps_per_epoch
from sharedspace.train.signals import StopRequest
from sharedspace.train.step import STEPS, Batches, StepResult, Training, TrainingDiverged
from sharedspace.train.weighting import StepContext, Weighting, build_weighting

__all__ = ["TrainResult", "TrainingDiverged", "train"]


@dataclass
class TrainResult:
    model: SharedSpaceModel
    tasks: list[Task]
    metrics: dict[str, dict[str, dict[str, float]]]  # split → task → metric → value
    run_dir: Path
    steps: int
    loop_seconds: float  # this call's training-loop wall time (validation, checkpoints included)
    train_seconds: float  # the run's training wall time over every call that resumed it
    code: dict[str, Any]  # the code version that produced the results (code_version() keys)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# what every checkpoint of this trainer holds ("best" only since train.keep_best; "optimizers"
# since train.optimizers, "optimizer" before)
CHECKPOINT_KEYS = ("step", "model", "weighting", "sampler", "streams", "rng", "config",
                   "task_states", "train_seconds")  # fmt: skip


def rng_state(device: torch.device) -> dict[str, Any]:
    """The global RNG states a run draws from: the CPU's, and every GPU's on CUDA."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:  # a CPU run's checkpoint resumed on a GPU
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Run:
    """What the loop works on, built by ``setup`` (and put back by ``restore``)."""

    cfg: ExperimentConfig
    run_dir: Path
    device: torch.device
    procs: collectives.Processes
    tasks: list[Task]
    model: SharedSpaceModel
    weighting: Weighting
    optimizers: Optimizers
    sampler: TaskSampler
    streams: list[BatchStream]
    training: Training
    epoch_steps: int
    total: int
    best: BestWeights
    start: int = 0  # the step it starts (or resumes) from
    seconds_before: float = 0.0  # training seconds of the sessions before this one
    changes: dict[str, list] = field(default_factory=dict)  # config keys changed since the ckpt
    validations: int = 0  # validations so far (every train.eval_decode_every-th decodes)
    precision: str = "fp32"  # what it trains in (train.precision; auto's choice)

    @property
    def task_states(self) -> dict[str, dict]:
        return {task.name: task.data.state for task in self.tasks}

    def draw(self, indices: list[int]) -> Batches:
        """The next training batch of each task in ``indices``, on the device."""
        return {
            i: {
                k: v.to(self.device, non_blocking=True)
                for k, v in self.tasks[i].data.splits["train"].get(next(self.streams[i])).items()
            }
            for i in indices
        }

    def state_dict(self, step: int, train_seconds: float, best: dict) -> dict[str, Any]:
        """The checkpoint of ``step``."""
        return {
            "step": step,
            "model": self.model.state_dict(),
            "weighting": self.weighting.state_dict(),
            "optimizers": self.optimizers.state_dict(),
            "sampler": self.sampler.state_dict(),
            "streams": [s.state_dict() for s in self.streams],
            "rng": rng_state(self.device),
            "config": to_dict(self.cfg),
            "task_states": self.task_states,
            "best": best,
            "validations": self.validations,
            "train_seconds": train_seconds,
            "precision": self.precision,
            "loss_scale": scale.state_dict() if (scale := self.training.loss_scale) else None,
        }


def setup(
    cfg: ExperimentConfig,
    run_dir: Path,
    device: torch.device,
    procs: collectives.Processes,
    task_states: dict[str, dict] | None = None,
    vocabularies: dict[str, dict] | None = None,
    precision: str = "fp32",
) -> Run:
    """Build every part of the run from its config, seeded by ``cfg.seed`` (``task_states`` from
    a checkpoint restore the tokenizers exactly; ``vocabularies`` as ``train``'s), to train in
    ``precision`` (fp32, bf16, fp16)."""
    t = cfg.train
    torch.manual_seed(cfg.seed)
    tasks = build_tasks(cfg, task_states, vocabularies)
    model = build_model(cfg, tasks).to(device)
    model.compute_dtype = COMPUTE_DTYPES[precision]
    weighting = build_weighting(t.weighting, [task.name for task in tasks], cfg.seed).to(device)
    params = [*model.parameters(), *weighting.parameters()]
    optimizers = Optimizers(t, model.param_groups(), params)
    sizes = [len(task.data.splits["train"]) for task in tasks]
    sampler = SAMPLERS.get(t.sampler.name)(t.sampler.config, sizes, cfg.seed)
    streams = [
        BatchStream(size, t.batch_size, cfg.seed + 1 + i, procs.rank, procs.world)
        for i, size in enumerate(sizes)
    ]
    epoch_steps = steps_per_epoch(sizes, t.batch_size, sampler.k)
    total = t.epochs * epoch_steps
    if t.max_steps is not None:
        total = min(total, t.max_steps)
    ctx = StepContext(0, model.shared_parameters(), params, procs, epoch_steps=epoch_steps)
    run = Run(
        cfg, run_dir, device, procs, tasks, model, weighting, optimizers, sampler, streams,
        None, epoch_steps, total, BestWeights(t.keep_best, tasks), precision=precision,
    )  # fmt: skip
    ctx.scaler = LossScale() if precision == "fp16" else None
    run.training = Training(model, tasks, weighting, optimizers, ctx, t, run.draw)
    return run


def choose_precision(
    setting: str, device: torch.device, procs: collectives.Processes, ckpt: dict | None
) -> str:
    """``train.precision`` → what the run trains in. ``auto`` is measured once per run
    (``pick_precision``; bf16 only where every process found it faster) and kept by the
    checkpoint, so a resume trains in what the run started in."""
    if setting != "auto":
        return setting
    if ckpt and "precision" in ckpt:
        return ckpt["precision"]
    faster = torch.tensor(float(pick_precision("auto", device) == "bf16"), device=device)
    return "bf16" if collectives.total(faster, procs).item() == procs.world else "fp32"


def restore(run: Run, ckpt: dict[str, Any], latest: Path) -> None:
    """Put the checkpoint ``latest`` back into ``run``, or say in one line why it does not fit."""
    run.changes = config_changes(ckpt["config"], to_dict(run.cfg))
    try:
        run.model.load_state_dict(ckpt["model"])
        run.weighting.load_state_dict(ckpt["weighting"])
        run.optimizers.load_state_dict(ckpt.get("optimizers") or {"main": ckpt["optimizer"]})
        run.sampler.load_state_dict(ckpt["sampler"])
        for stream, state in zip(run.streams, ckpt["streams"], strict=True):
            stream.load_state_dict(state)
        set_rng_state(ckpt["rng"], run.device)
        if "best" in ckpt:  # runs from before keep_best have none
            run.best.load_state_dict(ckpt["best"])
        run.validations = ckpt.get("validations", 0)
        if run.training.loss_scale and ckpt.get("loss_scale"):
            run.training.loss_scale.load_state_dict(ckpt["loss_scale"])
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as e:
        # shapes, names, counts differ; or a planted state of the wrong types within
        first = str(e).strip().splitlines()[0]
        changed = ", ".join(run.changes) or "none"
        raise CheckpointError(
            f"{latest} does not fit this run's config ({type(e).__name__}: {first}); "
            f"config keys changed since it was saved: {changed}. Resume with the config it "
            "was trained with, or start afresh with --overwrite"
        ) from None
    run.start, run.seconds_before = ckpt["step"], ckpt["train_seconds"]
    if run.start > run.total:
        raise CheckpointError(
            f"{latest}: saved at step {run.start:,}, past this run's {run.total:,} steps "
            "(train.epochs, train.max_steps); resume with at least as many, or start "
            "afresh with --overwrite"
        )
    if run.changes and run.procs.is_main:
        print(f"warning: resuming {latest} with changed config keys: {', '.join(run.changes)}")


def stored(run: Run) -> TrainResult | None:
    """The stored results of a run that had finished (resumed at its last step), if any."""
    finished = stored_results(run.run_dir, run.total) if run.start == run.total else None
    if finished is None:
        return None
    if run.procs.is_main:
        print(f"{run.run_dir}: finished at step {run.total}; its stored results, not re-evaluated")
    metrics = {split: finished[split] for split in ("validation", "test")}
    seconds = finished["run"]["train_seconds"]
    code = {k: v for k, v in finished["run"].items() if k in CODE_KEYS}
    return TrainResult(run.model, run.tasks, metrics, run.run_dir, run.total, 0.0, seconds, code)


def pruned(
    cfg: ExperimentConfig,
    run_dir: Path,
    device: torch.device,
    procs: collectives.Processes,
    vocabularies: dict[str, dict] | None,
) -> TrainResult:
    """A finished run whose resume checkpoints were pruned (``prune_checkpoints``): its stored
    results and final weights, when it finished at this config's last step; else why it cannot
    go on, in one line."""
    weights, task_states, info = load_weights(run_dir / layout.FINAL)
    run = setup(cfg, run_dir, device, procs, task_states, vocabularies)
    run.start = info.get("step")
    finished = stored(run) if run.start == run.total else None
    if finished is None:
        raise CheckpointError(
            f"{run_dir}: finished at step {run.start} and its resume checkpoints were pruned, "
            f"so it cannot go on to step {run.total} (train.epochs, train.max_steps); resume "
            "with the config it finished with, or start afresh with --overwrite"
        )
    try:
        finished.model.load_state_dict(weights)
    except RuntimeError as e:  # the config's model is not the one that finished
        first = str(e).strip().splitlines()[1:2] or [str(e)]
        raise CheckpointError(
            f"{run_dir / layout.FINAL} does not fit this run's model ({first[0].strip()}); "
            "resume with the config it finished with, or start afresh with --overwrite"
        ) from None
    return finished


def prune_checkpoints(run_dir: Path) -> None:
    """Delete a finished run's resume checkpoints (weights, optimizer state and every stream:
    the bulk of a run folder), keeping its final weights, results and logs; ``--resume`` still
    returns its results (``pruned``)."""
    if not (run_dir / layout.FINAL).is_file() or not (run_dir / layout.RESULTS_JSON).is_file():
        raise CheckpointError(f"{run_dir}: not finished (no final weights and results) to prune")
    shutil.rmtree(run_dir / layout.CHECKPOINTS, ignore_errors=True)


def validate(run: Run, log: RunLog, step: int) -> None:
    """Evaluate every task on the validation split (decoding on every
    ``train.eval_decode_every``-th); keep the best weights (``train.keep_best``)."""
    t = run.cfg.train
    decode = run.validations % t.eval_decode_every == 0
    run.validations += 1
    for task in run.tasks:
        values = evaluate(run.model, task, "validation", t.eval_batch_size, run.device,
                          run.procs, decode)  # fmt: skip
        log.write(step, "validation", task.name, values)
        if run.best.improves(step, task.name, values) and run.procs.is_main:
            info = {"step": step, "metric": run.best.spec, "value": run.best.value}
            save_weights(run.model, run.task_states, run.run_dir / layout.BEST, **info)


def probe_transfer(run: Run, batches: Batches, lr: float, log: RunLog, step: int) -> None:
    """Log how the step's tasks interact on the shared parameters before it is taken (recorded
    under the step's number, as its train records): one record per source task with each target's
    gradient cosine and TAG lookahead affinity at the step's learning rate."""
    ctx, model, tasks = run.training.ctx, run.model, run.tasks
    shared = [p for p in ctx.shared if p.requires_grad]
    if not shared:
        return
    jacobian = transfer.task_gradients(model, tasks, batches, shared, ctx.procs)
    cosine = transfer.gradient_cosine(jacobian).tolist()
    affinity = transfer.lookahead_affinity(
        model, tasks, batches, shared, jacobian, lr, ctx.procs
    ).tolist()
    names = [tasks[i].name for i in sorted(batches)]
    for r, source in enumerate(names):
        values = {f"cosine.{target}": cosine[r][c] for c, target in enumerate(names)}
        values |= {f"affinity.{target}": affinity[r][c] for c, target in enumerate(names)}
        log.write(step, "transfer", source, values)


def record_step(run: Run, running: RunningMeans, taken: StepResult, lrs: dict[str, float]) -> None:
    """Add a taken step to the running means: each task's raw loss, weight, aux losses (and
    their weights) and critic loss; the step's total, every optimizer's rate and gradient norm;
    under fp16 the loss scale and the share of steps skipped for an overflow."""
    if (scale := run.training.loss_scale) is not None:
        running.add(STEP, {"loss_scale": scale.scale, "overflow_skipped": float(taken.overflowed)})
    if taken.weights is None:
        return
    aux_weights = run.cfg.train.aux_loss_weights
    for i, aux in taken.aux.items():
        name = run.tasks[i].name
        values = {"loss": taken.losses[name], "weight": taken.weights[name]}
        values |= {f"{a}.weight": aux_weights.get(a, 1.0) for a in aux}
        if name in taken.critic:
            values["critic_loss"] = taken.critic[name]
        running.add(name, values | aux)
    suffix = {name: "" if name == "main" else f".{name}" for name in lrs}
    totals = {"total": taken.minimised} | {f"lr{suffix[n]}": lr for n, lr in lrs.items()}
    totals |= {f"grad_norm{suffix[n]}": norm for n, norm in taken.norms.items()}
    running.add(STEP, totals)


def loop(run: Run, log: RunLog, stop: StopRequest, session: dict, started: float) -> None:
    """Train from ``run.start`` to ``run.total``: the sampler's tasks, their batches, one step
    of the update rule; logs, validation and checkpoints on their schedules. A stop request ends
    it after the step, with a checkpoint (``Interrupted``)."""
    t, procs = run.cfg.train, run.procs
    step_rule = STEPS.get(t.step.name)(t.step.config, run.training)
    running = RunningMeans()
    # a progress bar on a terminal; in a log file (stderr not a TTY) a plain line per log record
    show = t.progress and procs.is_main
    bar = tqdm(range(run.start, run.total), initial=run.start, total=run.total,
               disable=not show or not sys.stderr.isatty())  # fmt: skip

    def checkpoint(step: int, stops: bool) -> Path | None:
        with stop.saving(stops=stops):
            if not procs.is_main:
                return None
            seconds = run.seconds_before + time.perf_counter() - started
            state = run.state_dict(step, seconds, run.best.state_dict())
            return save_checkpoint(
                state, run.run_dir / layout.CHECKPOINTS, step, t.keep_checkpoints
            )

    run.model.train()
    for step in bar:
        batches = run.draw(run.sampler())
        lrs = run.optimizers.set_lrs(step, run.total)
        if t.transfer_every and step % t.transfer_every == 0 and len(batches) > 1:
            probe_transfer(run, batches, lrs["main"], log, step + 1)
        run.training.ctx.step = step
        taken = step_rule(batches, stop.signal is not None)
        record_step(run, running, taken, lrs)
        done = session["to_step"] = step + 1
        if done % t.log_every == 0 or done == run.total:
            means = running.flush(done, log, procs)
            shown = {k: f"{v['loss']:.3g}" for k, v in means.items() if k != STEP}
            bar.set_postfix(shown)
            if show and bar.disable:
                rate = (done - run.start) / (time.perf_counter() - started)
                text = "  ".join(f"{k} {v}" for k, v in shown.items())
                print(f"step {done}/{run.total}  {text}  ({rate:.1f} steps/s)", file=sys.stderr)
        stop_here = taken.stopping and done < run.total  # a stop at the last step finishes
        saved = None
        evaluates = done % (t.eval_every or run.total) == 0
        if done % run.epoch_steps == 0 or done == run.total or evaluates:
            validate(run, log, done)
            saved = checkpoint(done, stop_here)
        elif done % t.checkpoint_every == 0 or stop_here:
            saved = checkpoint(done, stop_here)
        if stop_here:
            bar.close()
            log.close()
            where = f"{run.run_dir}: stopped at step {done} of {run.total}"
            raise Interrupted(f"{where}; saved {saved}")
    bar.close()


def finish(run: Run, log: RunLog, session: dict, train_seconds: float) -> dict:
    """Evaluate on validation and test (the test split is only ever read here); write the final
    weights and the results. Returns split → task → metric → value."""
    t, procs = run.cfg.train, run.procs
    metrics = {
        split: {
            task.name: evaluate(run.model, task, split, t.eval_batch_size, run.device, procs)
            for task in run.tasks
        }
        for split in ("validation", "test")
    }
    for task in run.tasks:
        log.write(run.total, "test", task.name, metrics["test"][task.name])
    log.close()
    session["test"] = metrics["test"]
    if procs.is_main:
        save_weights(run.model, run.task_states, run.run_dir / layout.FINAL, step=run.total)
        info = {"steps": run.total, "train_seconds": train_seconds, "processes": procs.world}
        write_results(run.run_dir, metrics, info | {"seed": run.cfg.seed, **code_version()})
    return metrics


def train(
    cfg: ExperimentConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    origin: Origin | None = None,
    vocabularies: dict[str, dict] | None = None,
) -> TrainResult:
    """Train ``cfg`` in ``out_dir/name``; ``origin`` (the config file and overrides as typed)
    goes into the run record. ``vocabularies`` (vocabulary name → tokenizer state, e.g.
    ``tasks.vocabulary.fit_vocabularies`` of a larger config) replaces fitting a
    ``data.vocabulary`` on this run's tasks; the tokenizer is saved with the run's task states,
    so its weights and checkpoints stand alone."""
    device = pick_device(cfg.train.device)
    procs = distributed.setup(device)
    if device.type == "cuda" and procs.world > 1:  # one GPU per process
        device = torch.device("cuda", procs.local_rank)
        torch.cuda.set_device(device)
    folder = run_folder(Path(cfg.out_dir), cfg.name, resume, overwrite, enabled=procs.is_main)
    with folder as run_dir:  # one writer: the main process holds its lock until the run ends
        if procs.world > 1:
            torch.distributed.barrier()
        return _train(cfg, run_dir, device, procs, resume, origin, vocabularies)


def _train(
    cfg: ExperimentConfig,
    run_dir: Path,
    device: torch.device,
    procs: collectives.Processes,
    resume: bool,
    origin: Origin | None,
    vocabularies: dict[str, dict] | None,
) -> TrainResult:
    latest, ckpt = (load_newest_good(run_dir / layout.CHECKPOINTS) if resume else None) or (
        None,
        None,
    )
    if resume and ckpt is None and (run_dir / layout.FINAL).is_file():
        return pruned(cfg, run_dir, device, procs, vocabularies)
    if ckpt is not None:
        missing = [key for key in CHECKPOINT_KEYS if key not in ckpt]
        if "optimizers" not in ckpt and "optimizer" not in ckpt:
            missing.append("optimizers")
        if missing:
            raise CheckpointError(f"{latest}: not a checkpoint of this trainer (no {missing})")
    try:
        states = ckpt["task_states"] if ckpt else None
        precision = choose_precision(cfg.train.precision, device, procs, ckpt)
        run = setup(cfg, run_dir, device, procs, states, vocabularies, precision)
    except DataError as e:  # a checkpoint's tokenizer state: say which checkpoint
        raise (CheckpointError(f"{latest}: {e}") if ckpt else e) from None
    if ckpt:
        restore(run, ckpt, latest)
        finished = stored(run)
        if finished is not None:
            return finished
    collectives.broadcast_state(run.model, procs)
    collectives.broadcast_state(run.weighting, procs)
    if procs.is_main:
        save_config(cfg, run_dir / layout.CONFIG)
    record = RunRecord(run_dir, enabled=procs.is_main)
    log = RunLog(run_dir, enabled=procs.is_main, resume_step=run.start)
    started = time.perf_counter()
    with record.session(
        origin, run.start, procs.world, str(device), run.changes, run.precision
    ) as session:
        with StopRequest() as stop:
            loop(run, log, stop, session, started)
        loop_seconds = time.perf_counter() - started
        train_seconds = run.seconds_before + loop_seconds
        metrics = finish(run, log, session, train_seconds)
    code = code_version() if procs.is_main else {}
    return TrainResult(
        run.model, run.tasks, metrics, run_dir, run.total, loop_seconds, train_seconds, code
    )
