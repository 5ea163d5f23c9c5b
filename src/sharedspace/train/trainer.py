"""The multi-task training loop: one task's batch per step, validation every epoch.

setup (run folder, data, model, optimizer, sampler; restore a checkpoint) → train → final
evaluation. Everything needed to continue — model, optimizer, weighting, sampler, batch streams,
RNG state, step — is one checkpoint, so a killed run resumes where it stopped and gives the same
weights as an uninterrupted one.
"""

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from sharedspace.config import ExperimentConfig, TrainConfig, changed_keys, save_config, to_dict
from sharedspace.errors import SharedSpaceError
from sharedspace.model import SharedSpaceModel, build_model
from sharedspace.tasks import Task, build_tasks
from sharedspace.train import distributed
from sharedspace.train.checkpoint import (
    atomic_write,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from sharedspace.train.evaluation import evaluate
from sharedspace.train.runlog import RunLog, RunningLoss
from sharedspace.train.sampling import SAMPLERS, BatchStream, steps_per_epoch
from sharedspace.train.schedule import lr_at
from sharedspace.train.weighting import build_weighting


class TrainingDiverged(SharedSpaceError):
    """A loss became NaN or infinite and the config says to stop."""


@dataclass
class TrainResult:
    model: SharedSpaceModel
    tasks: list[Task]
    metrics: dict[str, dict[str, dict[str, float]]]  # split → task → metric → value
    run_dir: Path
    steps: int
    loop_seconds: float  # this call's training-loop wall time (validation, checkpoints included)
    train_seconds: float  # the run's training wall time over every call that resumed it


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_optimizer(cfg: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam/AdamW use the fused kernel: one pass over the weights instead of ~8 (on CPU too)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9)
    adam = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)


def prepare_run_dir(cfg: ExperimentConfig, resume: bool, overwrite: bool) -> Path:
    """A run folder is never silently reused: continuing needs resume, replacing needs overwrite."""
    run_dir = Path(cfg.out_dir) / cfg.name
    holds_run = (run_dir / "metrics.jsonl").exists() or (run_dir / "checkpoints").exists()
    if holds_run and not (resume or overwrite):
        raise SharedSpaceError(
            f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to "
            "replace it (or choose another name=…)"
        )
    if holds_run and overwrite and not resume:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def train(cfg: ExperimentConfig, *, resume: bool = False, overwrite: bool = False) -> TrainResult:
    # --- setup: processes, run folder, data, model, optimizer, schedule state
    t = cfg.train
    device = pick_device(t.device)
    procs = distributed.setup(device)
    if device.type == "cuda" and procs.world > 1:  # one GPU per process
        device = torch.device("cuda", procs.local_rank)
        torch.cuda.set_device(device)
    run_dir = Path(cfg.out_dir) / cfg.name
    if procs.is_main:
        prepare_run_dir(cfg, resume, overwrite)
    if procs.world > 1:
        torch.distributed.barrier()
    ckpt_dir = run_dir / "checkpoints"
    latest = latest_checkpoint(ckpt_dir) if resume else None
    ckpt = load_checkpoint(latest) if latest else None
    torch.manual_seed(cfg.seed)
    tasks = build_tasks(cfg, ckpt["task_states"] if ckpt else None)
    model = build_model(cfg, tasks).to(device)
    weighting = build_weighting(t.weighting, [task.name for task in tasks]).to(device)
    optimizer = build_optimizer(t, [*model.parameters(), *weighting.parameters()])
    sizes = [len(task.data.splits["train"]) for task in tasks]
    sampler = SAMPLERS.get(t.sampler)(sizes, cfg.seed)
    streams = [
        BatchStream(size, t.batch_size, cfg.seed + 1 + i, procs.rank, procs.world)
        for i, size in enumerate(sizes)
    ]
    epoch_steps = steps_per_epoch(sizes, t.batch_size)
    total = t.epochs * epoch_steps
    if t.max_steps is not None:
        total = min(total, t.max_steps)
    start, seconds_before = 0, 0.0
    if ckpt:
        model.load_state_dict(ckpt["model"])
        weighting.load_state_dict(ckpt["weighting"])
        optimizer.load_state_dict(ckpt["optimizer"])
        sampler.load_state_dict(ckpt["sampler"])
        for stream, state in zip(streams, ckpt["streams"], strict=True):
            stream.load_state_dict(state)
        torch.set_rng_state(ckpt["rng"]["torch"])
        start, seconds_before = ckpt["step"], ckpt["train_seconds"]
        changed = changed_keys(ckpt["config"], to_dict(cfg))
        if changed and procs.is_main:
            print(f"warning: resuming {latest} with changed config keys: {', '.join(changed)}")
    if procs.is_main:
        save_config(cfg, run_dir / "config.yaml")
    # Each step uses one task's cap and head only, hence find_unused_parameters.
    net = model
    if procs.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    log = RunLog(run_dir, enabled=procs.is_main, resume_step=start)

    def checkpoint(step: int) -> None:
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
                "task_states": {task.name: task.data.state for task in tasks},
                "train_seconds": seconds_before + time.perf_counter() - loop_started,
            }
            save_checkpoint(state, ckpt_dir, step, keep=t.keep_checkpoints)

    def validate(step: int) -> None:
        for task in tasks:
            values = evaluate(model, task, "validation", t.eval_batch_size, device, procs)
            log.write(step, "validation", task.name, values)

    # --- train: draw a task, take its next batch, one optimizer step
    running = RunningLoss([task.name for task in tasks])
    bar = tqdm(
        range(start, total), initial=start, total=total, disable=not (t.progress and procs.is_main)
    )
    model.train()
    loop_started = time.perf_counter()
    for step in bar:
        i = sampler()
        task = tasks[i]
        batch = {
            k: v.to(device, non_blocking=True)
            for k, v in task.data.splits["train"].get(next(streams[i])).items()
        }
        lr = lr_at(step, t, total)
        for group in optimizer.param_groups:
            group["lr"] = lr
        output, aux = net(i, batch["x"])
        task_loss = task.loss(output, batch)
        loss = weighting({task.name: task_loss}) + sum(
            (t.aux_loss_weights.get(name, 1.0) * value for name, value in aux.items()),
            start=torch.zeros((), device=device),
        )
        optimizer.zero_grad(set_to_none=True)
        finite = distributed.all_true(torch.isfinite(loss.detach()), procs)  # same on every rank
        if finite:
            loss.backward()
            optimizer.step()
        elif t.on_nonfinite == "stop":
            raise TrainingDiverged(
                f"step {step}: the loss of task {task.name!r} is {loss.item()} "
                "(train.on_nonfinite=stop; =skip skips such steps)"
            )
        else:
            tqdm.write(f"step {step}: the loss of task {task.name!r} is {loss.item()}; skipped")

        # bookkeeping: running train loss per task, periodic logs, epoch-end validation, checkpoints
        if finite:
            running.add(i, {"loss": task_loss, **aux})
        done = step + 1
        if done % t.log_every == 0 or done == total:
            bar.set_postfix(running.flush(done, lr, log, procs))
        if done % epoch_steps == 0 or done == total or (t.eval_every and done % t.eval_every == 0):
            validate(done)
            checkpoint(done)
        elif done % t.checkpoint_every == 0:
            checkpoint(done)
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
    if procs.is_main:
        timing = {
            "steps": total,
            "train_seconds": train_seconds,
            "processes": procs.world,
        }
        results = json.dumps({**metrics, "run": timing}, indent=2).encode()
        atomic_write(run_dir / "results.json", lambda f: f.write(results))
    return TrainResult(model, tasks, metrics, run_dir, total, loop_seconds, train_seconds)
