"""The multi-task training loop: the tasks a sampler picks, one batch each, one optimizer step.

setup (run folder, data, model, weighting, optimizer, sampler; restore a checkpoint) → train →
final evaluation. One step::

    sampler → tasks of the step → for each: its next batch → model(task, batch) → output, aux
        → task.loss → per-example losses (B,) → model.feedback (parts that learn from the loss)
    → weighting.backward(task losses, weighted aux losses, context) → gradients, averaged over
      processes → optimizer step → log each raw loss, each weight, the total minimised

Everything needed to continue — model, optimizer, weighting, sampler, batch streams, RNG state,
step — is one checkpoint, so a killed run resumes where it stopped and gives the same weights as an
uninterrupted one; resuming a finished run returns its stored results without training again.

The run folder it leaves: ``config.yaml`` (resolved, every default), ``run.json`` (how it came to
be, session by session), ``metrics.jsonl`` + ``tensorboard/``, ``checkpoints/`` (the latest
``train.keep_checkpoints`` to resume from), ``model.safetensors`` (final weights) and
``best.safetensors`` (``train.keep_best``), ``results.json`` and ``results.md``.
"""

import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from sharedspace.config import (
    ExperimentConfig,
    TrainConfig,
    config_changes,
    save_config,
    to_dict,
)
from sharedspace.errors import CheckpointError, DataError, Interrupted, SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.model import SharedSpaceModel, build_model
from sharedspace.spaces.global_batch import Positions, replay, stream_positions
from sharedspace.tables import write_table
from sharedspace.tasks import Task, build_tasks
from sharedspace.train import distributed, transfer
from sharedspace.train.checkpoint import load_newest_good, save_checkpoint
from sharedspace.train.evaluation import evaluate
from sharedspace.train.export import BEST, FINAL, BestWeights, save_weights
from sharedspace.train.record import CODE_KEYS, Origin, RunRecord, code_version, describe_code
from sharedspace.train.run_folder import run_folder
from sharedspace.train.runlog import STEP, RunLog, RunningMeans
from sharedspace.train.sampling import SAMPLERS, BatchStream, steps_per_epoch
from sharedspace.train.schedule import lr_at
from sharedspace.train.weighting import StepContext, build_weighting
from sharedspace.untrusted import inside, read_json


class TrainingDiverged(SharedSpaceError):
    """A loss became NaN or infinite and the config says to stop."""


class StopRequest:
    """SIGINT/SIGTERM set a flag the loop reads at the end of each step, instead of killing the
    step halfway; a second signal acts as usual (Ctrl-C twice quits at once), except while a
    checkpoint is being written (``saving``): the save completes first. It is atomic anyway,
    but a quit mid-save would leave its temp file, print a traceback from deep in torch.save,
    and lose the checkpoint the stop was waiting for. A no-op outside the main thread, where
    Python cannot install handlers."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous = {}
        self._saving = False
        self._held: int | None = None  # a second signal that came during a save

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.signal is None:
            self.signal = signum
            tqdm.write(f"{name}: stopping after this step and saving a checkpoint (again to "
                       "quit at once)", file=sys.stderr)  # fmt: skip
        elif self._saving:
            self._held = signum
            tqdm.write(f"{name}: finishing the checkpoint being written first", file=sys.stderr)
        else:
            self._quit(signum)

    def _quit(self, signum: int) -> None:
        """Act as the signal would have without us (KeyboardInterrupt for Ctrl-C)."""
        self.__exit__()
        signal.raise_signal(signum)

    @contextmanager
    def saving(self, stops: bool) -> Iterator[None]:
        """Hold a second signal until the checkpoint written inside is complete; then quit,
        unless the run ``stops`` after this save anyway (the stop's own save: it then ends as
        a stop does, with the command that resumes and status 130)."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
        if self._held is not None and not stops:
            self._quit(self._held)

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}


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


# what every checkpoint of this trainer holds ("best" only since train.keep_best)
CHECKPOINT_KEYS = ("step", "model", "weighting", "optimizer", "sampler", "streams", "rng",
                   "config", "task_states", "train_seconds")  # fmt: skip


def build_optimizer(cfg: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """One parameter group per ``lr_scale`` that a part sets on its parameters (cross-stitch
    weights learn faster than the networks they mix, as in Misra et al.): the group keeps its
    scale, and the schedule sets its lr to scale × the step's lr. Adam/AdamW use the fused
    kernel: one pass over the weights instead of ~8 (on CPU too)."""
    scales: dict[float, list[nn.Parameter]] = {}
    for p in params:
        scales.setdefault(float(getattr(p, "lr_scale", 1.0)), []).append(p)
    groups = [{"params": ps, "lr_scale": scale} for scale, ps in scales.items()]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9)
    adam = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The step's learning rate, times each group's ``lr_scale`` (1 in checkpoints before it)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def stored_results(run_dir: Path, steps: int) -> dict | None:
    """The results a finished run wrote, if it finished at ``steps``; None (the run is evaluated
    again and the file rewritten) when ``results.json`` is missing, not a regular file in the run
    folder, or not what ``write_results`` writes: numbers per split, task and metric, and the
    run's ``steps`` and ``train_seconds``."""
    path = Path(run_dir) / "results.json"
    try:
        results = read_json(path) if inside(path, run_dir) else None
    except SharedSpaceError:
        return None
    run = results.get("run") if isinstance(results, dict) else None
    done = run.get("steps") if isinstance(run, dict) else None
    if isinstance(done, bool) or done != steps:
        return None
    seconds, values = run.get("train_seconds"), []
    for split in ("validation", "test"):
        tasks = results.get(split)
        if not isinstance(tasks, dict) or not all(isinstance(m, dict) for m in tasks.values()):
            return None
        values += [value for metrics in tasks.values() for value in metrics.values()]
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in [seconds, *values]
    )
    return results if numbers and 0 <= seconds < math.inf else None


def step_losses(
    model: nn.Module,
    tasks: list[Task],
    batches: dict[int, dict[str, torch.Tensor]],
    aux_weights: dict[str, float],
) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[int, dict[str, torch.Tensor]]]:
    """Forward every task of the step: (task name → mean loss, Σ weighted aux losses, task index
    → its raw aux losses, from the forward and the loss feedback)."""
    losses, raw_aux = {}, {}
    extra = torch.zeros((), device=next(model.parameters()).device)
    for i, batch in batches.items():
        output, aux = model(i, batch)
        per_example = tasks[i].loss(output, batch)  # (B,)
        model.feedback(i, per_example.detach(), aux)
        losses[tasks[i].name] = per_example.mean()
        for name, value in aux.items():
            extra = extra + aux_weights.get(name, 1.0) * value
        raw_aux[i] = aux
    return losses, extra, raw_aux


@torch.no_grad()
def recompute_losses(
    model: nn.Module,
    tasks: list[Task],
    batches: dict[int, dict[str, torch.Tensor]],
    procs: distributed.Processes,
    positions: Positions,
) -> dict[str, torch.Tensor]:
    """The step's task losses again, on the same batches and with the same draws (gates, routes:
    ``positions`` are the streams' before the step) after the optimizer step, as global means —
    for weightings that learn from how much a step lowered each loss."""
    with replay(positions):
        losses = {
            tasks[i].name: tasks[i].loss(model(i, b)[0], b).mean() for i, b in batches.items()
        }
    means = distributed.mean(torch.stack(list(losses.values())), procs)
    return dict(zip(losses, means, strict=True))


def probe_transfer(
    model: nn.Module,
    tasks: list[Task],
    batches: dict[int, dict[str, torch.Tensor]],
    ctx: StepContext,
    lr: float,
    log: RunLog,
    step: int,
) -> None:
    """Log how the step's tasks interact on the shared parameters before it is taken (recorded
    under the step's number, as its train records): one record per source task with each target's
    gradient cosine and TAG lookahead affinity at the step's learning rate."""
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


@dataclass
class Step:
    """What one optimizer step leaves for the bookkeeping."""

    losses: dict[str, torch.Tensor]  # task → its mean loss on this process's slice
    aux: dict[int, dict[str, torch.Tensor]]  # task index → its raw aux losses
    weights: dict[str, torch.Tensor | float] | None  # task → weight; None: a skipped step
    minimised: torch.Tensor | None  # the objective the weighting minimised
    stopping: bool  # some process was asked to stop (SIGINT/SIGTERM)


def take_step(
    model: SharedSpaceModel,
    tasks: list[Task],
    batches: dict[int, dict[str, torch.Tensor]],
    weighting: nn.Module,
    optimizer: torch.optim.Optimizer,
    ctx: StepContext,
    t: TrainConfig,
    stop: StopRequest,
) -> Step:
    """Forward the step's tasks, let the weighting own the backward, step the optimizer; a
    non-finite loss (global mean) stops the run or skips the step (``train.on_nonfinite``)."""
    positions = stream_positions(model)
    losses, extra, raw_aux = step_losses(model, tasks, batches, t.aux_loss_weights)
    optimizer.zero_grad(set_to_none=True)
    # one all-reduce: the global mean of every loss (finite on all ranks?) and of the stop
    # flags, so every rank stops after the same step when any was signalled
    flag = extra.new_tensor(float(stop.signal is not None))
    means = distributed.mean(torch.stack([*losses.values(), extra, flag]).detach(), ctx.procs)
    stopping, means = bool(means[-1] > 0), means[:-1]
    if not torch.isfinite(means).all():
        names = [*losses, None]  # None: the aux losses
        bad = next(i for i, v in enumerate(means) if not torch.isfinite(v))
        what = f"the loss of task {names[bad]!r}" if names[bad] else "an aux loss"
        where = f"step {ctx.step}: {what} is {means[bad].item()}"
        if t.on_nonfinite == "stop":
            raise TrainingDiverged(f"{where} (train.on_nonfinite=stop; =skip skips such steps)")
        tqdm.write(f"{where}; skipped")
        return Step(losses, raw_aux, None, None, stopping)
    ctx.global_losses = dict(zip(losses, means, strict=False))
    ctx.recompute = lambda: recompute_losses(model, tasks, batches, ctx.procs, positions)
    minimised, weights = weighting.backward(losses, extra, ctx)
    optimizer.step()
    weighting.after_step(ctx)
    return Step(losses, raw_aux, weights, minimised, stopping)


def write_results(
    run_dir: Path, metrics: dict[str, dict[str, dict[str, float]]], run: dict[str, object]
) -> None:
    """``results.json`` (to reload) and ``results.md``/``.csv``: one row per task and metric, its
    validation and test values, under a line that says what produced them."""
    results = json.dumps({**metrics, "run": run}, indent=2).encode()
    atomic_write(run_dir / "results.json", lambda f: f.write(results))
    rows = [
        {"Task": task, "Metric": metric, "Validation": value, "Test": metrics["test"][task][metric]}
        for task, values in metrics["validation"].items()
        for metric, value in values.items()
    ]
    note = (
        f"{run_dir.name}: {run['steps']} steps, seed {run['seed']}, "
        f"{run['train_seconds'] / 60:.3g} train minutes on {run['processes']} process(es); "
        f"{describe_code(run)}"
    )
    write_table(rows, ["Task", "Metric", "Validation", "Test"], run_dir / "results", True, note)


def train(
    cfg: ExperimentConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    origin: Origin | None = None,
) -> TrainResult:
    """Train ``cfg`` in ``out_dir/name``; ``origin`` (the config file and overrides as typed)
    goes into the run record."""
    # --- setup: processes, run folder, data, model, weighting, optimizer, schedule state
    t = cfg.train
    device = pick_device(t.device)
    procs = distributed.setup(device)
    if device.type == "cuda" and procs.world > 1:  # one GPU per process
        device = torch.device("cuda", procs.local_rank)
        torch.cuda.set_device(device)
    folder = run_folder(Path(cfg.out_dir), cfg.name, resume, overwrite, enabled=procs.is_main)
    with folder as run_dir:  # one writer: the main process holds its lock until the run ends
        if procs.world > 1:
            torch.distributed.barrier()
        return _train(cfg, run_dir, device, procs, resume, origin)


def _train(
    cfg: ExperimentConfig,
    run_dir: Path,
    device: torch.device,
    procs: distributed.Processes,
    resume: bool,
    origin: Origin | None,
) -> TrainResult:
    t = cfg.train
    ckpt_dir = run_dir / "checkpoints"
    latest, ckpt = (load_newest_good(ckpt_dir) if resume else None) or (None, None)
    missing = [key for key in CHECKPOINT_KEYS if ckpt is not None and key not in ckpt]
    if missing:
        raise CheckpointError(f"{latest}: not a checkpoint of this trainer (no {missing})")
    torch.manual_seed(cfg.seed)
    try:
        tasks = build_tasks(cfg, ckpt["task_states"] if ckpt else None)
    except DataError as e:  # a checkpoint's tokenizer state: say which checkpoint
        raise (CheckpointError(f"{latest}: {e}") if ckpt else e) from None
    model = build_model(cfg, tasks).to(device)
    weighting = build_weighting(t.weighting, [task.name for task in tasks], cfg.seed).to(device)
    params = [*model.parameters(), *weighting.parameters()]
    optimizer = build_optimizer(t, params)
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
    start, seconds_before, changes = 0, 0.0, {}
    best = BestWeights(t.keep_best, tasks)
    if ckpt:
        changes = config_changes(ckpt["config"], to_dict(cfg))
        try:
            model.load_state_dict(ckpt["model"])
            weighting.load_state_dict(ckpt["weighting"])
            optimizer.load_state_dict(ckpt["optimizer"])
            sampler.load_state_dict(ckpt["sampler"])
            for stream, state in zip(streams, ckpt["streams"], strict=True):
                stream.load_state_dict(state)
            torch.set_rng_state(ckpt["rng"]["torch"])
            if "best" in ckpt:  # runs from before keep_best have none
                best.load_state_dict(ckpt["best"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as e:
            # shapes, names, counts differ; or a planted state of the wrong types within
            first = str(e).strip().splitlines()[0]
            changed = ", ".join(changes) or "none"
            raise CheckpointError(
                f"{latest} does not fit this run's config ({type(e).__name__}: {first}); "
                f"config keys changed since it was saved: {changed}. Resume with the config it "
                "was trained with, or start afresh with --overwrite"
            ) from None
        start, seconds_before = ckpt["step"], ckpt["train_seconds"]
        if start > total:
            raise CheckpointError(
                f"{latest}: saved at step {start:,}, past this run's {total:,} steps "
                "(train.epochs, train.max_steps); resume with at least as many, or start "
                "afresh with --overwrite"
            )
        if changes and procs.is_main:
            print(f"warning: resuming {latest} with changed config keys: {', '.join(changes)}")
        finished = stored_results(run_dir, total) if start == total else None
        if finished is not None:
            if procs.is_main:
                print(f"{run_dir}: finished at step {total}; its stored results, not re-evaluated")
            metrics = {split: finished[split] for split in ("validation", "test")}
            seconds = finished["run"]["train_seconds"]
            code = {k: v for k, v in finished["run"].items() if k in CODE_KEYS}
            return TrainResult(model, tasks, metrics, run_dir, total, 0.0, seconds, code)
    distributed.broadcast_state(model, procs)
    distributed.broadcast_state(weighting, procs)
    if procs.is_main:
        save_config(cfg, run_dir / "config.yaml")
    record = RunRecord(run_dir, enabled=procs.is_main)
    log = RunLog(run_dir, enabled=procs.is_main, resume_step=start)
    context = StepContext(0, model.shared_parameters(), params, procs, epoch_steps=epoch_steps)
    task_states = {task.name: task.data.state for task in tasks}

    def checkpoint(step: int) -> Path | None:
        if procs.is_main:
            state = {
                "step": step,
                "model": model.state_dict(),
                "weighting": weighting.state_dict(),
                "optimizer": optimizer.state_dict(),
                "sampler": sampler.state_dict(),
                "streams": [s.state_dict() for s in streams],
                "rng": {"torch": torch.get_rng_state()},
                "config": to_dict(cfg),
                "task_states": task_states,
                "best": best.state_dict(),
                "train_seconds": seconds_before + time.perf_counter() - loop_started,
            }
            return save_checkpoint(state, ckpt_dir, step, keep=t.keep_checkpoints)
        return None

    def validate(step: int) -> None:
        for task in tasks:
            values = evaluate(model, task, "validation", t.eval_batch_size, device, procs)
            log.write(step, "validation", task.name, values)
            if best.improves(step, task.name, values) and procs.is_main:
                info = {"step": step, "metric": best.spec, "value": best.value}
                save_weights(model, task_states, run_dir / BEST, **info)

    # --- train: the sampler's tasks, each its next batch, one weighted backward, one step
    running = RunningMeans()
    # a progress bar on a terminal; in a log file (stderr not a TTY) a plain line per log record
    show = t.progress and procs.is_main
    bar = tqdm(
        range(start, total), initial=start, total=total, disable=not show or not sys.stderr.isatty()
    )
    model.train()
    loop_started = time.perf_counter()
    with record.session(origin, start, procs.world, str(device), changes) as session:
        with StopRequest() as stop:
            for step in bar:
                batches = {
                    i: {
                        k: v.to(device, non_blocking=True)
                        for k, v in tasks[i].data.splits["train"].get(next(streams[i])).items()
                    }
                    for i in sampler()
                }
                lr = lr_at(step, t, total)
                set_lr(optimizer, lr)
                if t.transfer_every and step % t.transfer_every == 0 and len(batches) > 1:
                    probe_transfer(model, tasks, batches, context, lr, log, step + 1)
                context.step = step
                taken = take_step(model, tasks, batches, weighting, optimizer, context, t, stop)

                # bookkeeping: running means, periodic logs, validation, checkpoints
                if taken.weights is not None:
                    for i, aux in taken.aux.items():
                        name = tasks[i].name
                        aux_weight = {f"{a}.weight": t.aux_loss_weights.get(a, 1.0) for a in aux}
                        values = {"loss": taken.losses[name], "weight": taken.weights[name]}
                        running.add(name, values | aux | aux_weight)
                    running.add(STEP, {"total": taken.minimised, "lr": lr})
                done = session["to_step"] = step + 1
                if done % t.log_every == 0 or done == total:
                    means = running.flush(done, log, procs)
                    shown = {k: f"{v['loss']:.3g}" for k, v in means.items() if k != STEP}
                    bar.set_postfix(shown)
                    if show and bar.disable:
                        rate = (done - start) / (time.perf_counter() - loop_started)
                        text = "  ".join(f"{k} {v}" for k, v in shown.items())
                        print(f"step {done}/{total}  {text}  ({rate:.1f} steps/s)", file=sys.stderr)
                stop_here = taken.stopping and done < total  # a stop at the last step finishes
                saved = None
                if done % epoch_steps == 0 or done == total or done % (t.eval_every or total) == 0:
                    validate(done)
                    with stop.saving(stops=stop_here):
                        saved = checkpoint(done)
                elif done % t.checkpoint_every == 0 or stop_here:
                    with stop.saving(stops=stop_here):
                        saved = checkpoint(done)
                if stop_here:
                    bar.close()
                    log.close()
                    raise Interrupted(
                        f"{run_dir}: stopped at step {done} of {total}; saved {saved}"
                    )
        bar.close()
        loop_seconds = time.perf_counter() - loop_started
        train_seconds = seconds_before + loop_seconds

        # --- final evaluation on validation and test (the test split is only ever read here)
        metrics = {
            split: {
                task.name: evaluate(model, task, split, t.eval_batch_size, device, procs)
                for task in tasks
            }
            for split in ("validation", "test")
        }
        for task in tasks:
            log.write(total, "test", task.name, metrics["test"][task.name])
        log.close()
        session["test"] = metrics["test"]
        if procs.is_main:
            save_weights(model, task_states, run_dir / FINAL, step=total)
            run = {"steps": total, "train_seconds": train_seconds, "processes": procs.world}
            write_results(run_dir, metrics, run | {"seed": cfg.seed, **code_version()})
    return TrainResult(
        model,
        tasks,
        metrics,
        run_dir,
        total,
        loop_seconds,
        train_seconds,
        code_version() if procs.is_main else {},
    )
