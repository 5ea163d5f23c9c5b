"""How tasks help or hurt each other through the shared parameters, measured during training.

Two views of one step, both over the shared parameters θ_s (the space and caps several tasks use):

- gradient cosine: cos(g_i, g_j) of the tasks' loss gradients — do their updates point the same way;
- lookahead affinity (TAG: Fifty et al. 2021, "Efficiently Identifying Task Groupings for
  Multi-Task Learning"): Z[i, j] = 1 − L_j(θ_s − lr·g_i) / L_j(θ_s), the relative change of task
  j's loss after a plain SGD step on task i alone. Z[i, j] > 0: a step on i lowers j's loss.

Shape notation: T tasks, the keys of ``batches`` in sorted order (row r is task sorted(batches)[r]);
n, the number of elements of the shared parameters together.

A probe must leave training exactly as it would have been: no ``.grad`` is touched, parameters are
copied back (not stepped back, which rounds), buffers a forward updates are restored, and every
forward runs on a forked RNG reseeded to ``SEED`` — so it consumes none of the training RNG and
dropout draws the same mask for a task before and after a lookahead; parts that sample per row
(gates, routes) replay the same draws too. Only task losses count; the auxiliary losses of the
parts are left out.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from sharedspace import collectives
from sharedspace.collectives import Processes
from sharedspace.tasks import Task
from sharedspace.train.weighting.base import task_jacobian

SEED = 0  # the seed of every probe forward (dropout masks, noisy gates)


@contextmanager
def _probing(model: nn.Module) -> Iterator[None]:
    """Restore the model's buffers (e.g. running statistics a train-mode forward updates)."""
    buffers = [(b, b.clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


@contextmanager
def _seeded(device: torch.device) -> Iterator[None]:
    """A forked CPU RNG — and the device's CUDA RNG on a GPU — seeded with ``SEED``; the caller's
    RNG state is back afterwards."""
    cuda = device.type == "cuda"
    index = device.index if device.index is not None or not cuda else torch.cuda.current_device()
    with torch.random.fork_rng(devices=[index] if cuda else [], device_type="cuda"):
        torch.default_generator.manual_seed(SEED)
        if cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(SEED)
        yield


def _totals(
    model: nn.Module, task: Task, i: int, batch: dict[str, torch.Tensor], device: torch.device
) -> torch.Tensor:
    """(2,): task i's loss as (numerator, denominator) by its reduction (``LossTerms.totals``),
    from a forward on the seeded RNG."""
    with _seeded(device):
        output, _ = model(i, batch)
        return torch.stack(task.loss(output, batch).totals(task.reduction))


def task_gradients(
    model: nn.Module,
    tasks: list[Task],
    batches: dict[int, dict[str, torch.Tensor]],
    shared: list[nn.Parameter],
    procs: Processes,
) -> torch.Tensor:
    """The Jacobian (T, n): row r is ∇ of task sorted(batches)[r]'s loss on the flattened
    ``shared`` (zeros where the task does not use a parameter), averaged over processes."""
    device = shared[0].device
    with _probing(model):
        totals = [_totals(model, tasks[i], i, batches[i], device) for i in sorted(batches)]
        losses = [numerator / denominator for numerator, denominator in totals]
        jacobian, _, _ = task_jacobian(losses, shared, [])  # (T, n)
    return collectives.mean(jacobian, procs)


def gradient_cosine(jacobian: torch.Tensor) -> torch.Tensor:
    """(T, n) → (T, T) cosine similarities of the rows, in float64; 0 where a row is all zeros."""
    rows = jacobian.double()
    norms = rows.norm(dim=1, keepdim=True)  # (T, 1)
    unit = rows / torch.where(norms > 0, norms, torch.ones_like(norms))
    return unit @ unit.T


def lookahead_affinity(
    model: nn.Module,
    tasks: list[Task],
    batches: dict[int, dict[str, torch.Tensor]],
    shared: list[nn.Parameter],
    jacobian: torch.Tensor,
    lr: float,
    procs: Processes,
) -> torch.Tensor:
    """TAG's affinity (T, T) in float64: Z[i, j] = 1 − L_j(θ_s − lr·g_i) / L_j(θ_s).

    jacobian: (T, n) from ``task_gradients`` (process-averaged, so every rank steps the same way).
    Only the shared parameters move; L_j is the mean loss of task j on this step's batch under
    ``no_grad``, over all processes (loss totals all-reduced: the global batch's loss), in the
    mode (train/eval) the model is in. Assumes positive losses, as TAG does.
    """
    order = sorted(batches)
    sizes = [p.numel() for p in shared]
    if jacobian.shape != (len(order), sum(sizes)):
        raise ValueError(
            f"jacobian must have shape ({len(order)}, {sum(sizes)}), got {tuple(jacobian.shape)}"
        )
    device = shared[0].device
    originals = [p.detach().clone() for p in shared]

    positions = model.stream_positions()

    def totals() -> torch.Tensor:  # (2, T): numerators, denominators; the same draws each time
        with model.replay(positions):
            return torch.stack(
                [_totals(model, tasks[i], i, batches[i], device).double() for i in order], 1
            )

    with torch.no_grad(), _probing(model):
        start = totals()
        sums = [start[0]]  # before, then after a step on each task
        try:
            for row in jacobian:
                for p, original, step in zip(shared, originals, row.split(sizes), strict=True):
                    p.copy_(original).sub_(step.view_as(p), alpha=lr)
                sums.append(totals()[0])
        finally:
            for p, original in zip(shared, originals, strict=True):
                p.copy_(original)
        packed = collectives.total(torch.stack([*sums, start[1]]), procs)  # (T + 2, T)
    means = packed[:-1] / packed[-1]  # (T + 1, T)
    return 1 - means[1:] / means[0]
