"""Evaluate a task on a whole split: metric sums over every example, reduced over processes."""

from pathlib import Path

import torch
from torch import nn

from sharedspace.config import load_config
from sharedspace.errors import CheckpointError
from sharedspace.model import build_model
from sharedspace.tasks import Task, build_tasks
from sharedspace.train.checkpoint import latest_checkpoint, load_checkpoint
from sharedspace.train.distributed import SINGLE, Processes, all_reduce_sums


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    task: Task,
    split: str,
    batch_size: int,
    device: torch.device,
    procs: Processes = SINGLE,
) -> dict[str, float]:
    """Each process takes a contiguous shard of the split; the sums are all-reduced."""
    data = task.data.splits[split]
    n = len(data)
    lo, hi = n * procs.rank // procs.world, n * (procs.rank + 1) // procs.world
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    for start in range(lo, hi, batch_size):
        idx = torch.arange(start, min(start + batch_size, hi))
        batch = {k: v.to(device, non_blocking=True) for k, v in data.get(idx).items()}
        output, _ = model(task.index, batch["x"])
        for k, v in task.metric_sums(output, batch).items():
            totals[k] = totals[k] + v if k in totals else v
    if not totals:  # an empty shard still joins the reduction
        probe = data.get(torch.arange(1))
        output, _ = model(task.index, probe["x"].to(device))
        totals = {k: torch.zeros_like(v) for k, v in task.metric_sums(output, probe).items()}
    model.train(was_training)
    return task.metrics(all_reduce_sums(totals, procs))


def evaluate_run(
    run_dir: Path, split: str = "test", checkpoint: Path | None = None
) -> dict[str, dict[str, float]]:
    """Rebuild a finished (or interrupted) run from its folder and evaluate every task on a split.

    The config comes from the run's ``config.yaml``, the weights and tokenizers from the
    checkpoint (the latest unless one is named), so the numbers match what the run saw.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    path = checkpoint or latest_checkpoint(run_dir / "checkpoints")
    if path is None:
        raise CheckpointError(f"{run_dir / 'checkpoints'}: no checkpoint to evaluate")
    state = load_checkpoint(path)
    tasks = build_tasks(cfg, state["task_states"])
    model = build_model(cfg, tasks)
    model.load_state_dict(state["model"])
    device = torch.device("cpu")
    return {
        task.name: evaluate(model, task, split, cfg.train.eval_batch_size, device) for task in tasks
    }
