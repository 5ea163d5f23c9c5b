"""Evaluate a task on a whole split: metric sums over every example, reduced over processes.

The same path as training (``model(task, batch)``), plus the prediction path (``model.predict``,
greedy decoding) for task kinds that decode.
"""

import torch
from torch import nn

from sharedspace.tasks import Task
from sharedspace.train.distributed import SINGLE, Processes, all_reduce_sums


def _sums(model: nn.Module, task: Task, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    output, _ = model(task.index, batch)
    prediction = model.predict(task.index, batch) if task.decodes else None
    return task.metric_sums(output, batch, prediction)


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
        for k, v in _sums(model, task, batch).items():
            totals[k] = totals[k] + v if k in totals else v
    if not totals:  # an empty shard still joins the reduction
        probe = {k: v.to(device) for k, v in data.get(torch.arange(1)).items()}
        totals = {k: torch.zeros_like(v) for k, v in _sums(model, task, probe).items()}
    model.train(was_training)
    return task.metrics(all_reduce_sums(totals, procs))
