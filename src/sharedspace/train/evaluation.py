"""Evaluate a task on a whole split: metric sums over every example, reduced over processes.

The same path as training (``model(task, batch)``), plus the prediction path for task kinds that
decode (``model.scored``: both on one read of the batch, the prediction by the task's decoding
settings, greedy or beam search). A kind whose
metric needs every example at once also gives per-example rows, joined over the split and the
processes (``Task.metric_rows``).
"""

import torch
from torch import nn

from sharedspace.collectives import SINGLE, Processes, all_gather_rows, all_reduce_sums
from sharedspace.tasks import Task

Tensors = dict[str, torch.Tensor]


def _scored(model: nn.Module, task: Task, batch: Tensors, decode: bool) -> tuple[Tensors, Tensors]:
    """The batch's metric sums and metric rows."""
    if task.decodes and decode:
        output, _, prediction = model.scored(task.index, batch, task.decoding)
    else:
        (output, _), prediction = model(task.index, batch), None
    return task.metric_sums(output, batch, prediction), task.metric_rows(output, batch, prediction)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    task: Task,
    split: str,
    batch_size: int,
    device: torch.device,
    procs: Processes = SINGLE,
    decode: bool = True,
) -> dict[str, float]:
    """Each process takes a contiguous shard of the split; the sums are all-reduced. A task that
    decodes is also scored on its predictions (by its ``decoding`` settings) when ``decode``."""
    data = task.data.splits[split]
    n = len(data)
    lo, hi = n * procs.rank // procs.world, n * (procs.rank + 1) // procs.world
    was_training = model.training
    model.eval()
    totals: Tensors = {}
    rows: dict[str, list[torch.Tensor]] = {}
    for start in range(lo, hi, batch_size):
        idx = torch.arange(start, min(start + batch_size, hi))
        batch = {k: v.to(device, non_blocking=True) for k, v in data.get(idx).items()}
        sums, batch_rows = _scored(model, task, batch, decode)
        for k, v in sums.items():
            totals[k] = totals[k] + v if k in totals else v
        for k, v in batch_rows.items():
            rows.setdefault(k, []).append(v)
    if not totals:  # an empty shard still joins the reduction
        probe = {k: v.to(device) for k, v in data.get(torch.arange(1)).items()}
        sums, probe_rows = _scored(model, task, probe, decode)
        totals = {k: torch.zeros_like(v) for k, v in sums.items()}
        rows = {k: [v[:0]] for k, v in probe_rows.items()}
    model.train(was_training)
    result = task.metrics(all_reduce_sums(totals, procs))
    if rows:
        joined = {k: torch.cat(v) for k, v in rows.items()}
        result |= task.row_metrics(all_gather_rows(joined, procs))
    return result
