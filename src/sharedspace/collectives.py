"""Collectives over the processes of a run, and only these: every layer that sums, averages or
broadcasts across ranks (a space's batch statistics, the step's losses, the gradients, the
metrics) calls them from here, and each is the identity in a single process.

Gradients are averaged explicitly (``average_gradients``) rather than by the DDP module wrapper
(see ``train.distributed`` for why).
"""

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Processes()


def rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def global_sum(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over every process (itself without DDP)."""
    if dist.is_initialized():
        t = t.clone()
        dist.all_reduce(t)
    return t


def broadcast_state(module: nn.Module, procs: Processes) -> None:
    """Give every rank rank 0's parameters and buffers (the same start, whatever the seeding);
    a part's ``extra_state`` (e.g. a generator's state, not a tensor to send) is seeded alike."""
    if procs.world > 1:
        for tensor in module.state_dict().values():
            if isinstance(tensor, torch.Tensor):
                dist.broadcast(tensor, src=0)


def average_gradients(params: list[nn.Parameter], procs: Processes) -> None:
    """Average ``.grad`` over processes in one all-reduce.

    A parameter with a gradient on any rank gets one on every rank (zeros where it had none), so
    the result is the gradient of the global batch; a parameter no rank touched keeps ``None``
    and the optimizer leaves it alone, as in one process.
    """
    if procs.world == 1:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    device = params[0].device
    present = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=device)
    dist.all_reduce(present, op=dist.ReduceOp.MAX)
    grads = []
    for p, any_rank in zip(params, present.tolist(), strict=True):
        if any_rank:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= procs.world
    for g, chunk in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(chunk.view_as(g))


def all_reduce_sums(sums: dict[str, torch.Tensor], procs: Processes) -> dict[str, float]:
    """Sum each value over processes (metrics are sums until the very end)."""
    if procs.world > 1:
        keys = sorted(sums)
        packed = torch.stack([sums[k].double() for k in keys])  # on the model's device (NCCL)
        dist.all_reduce(packed)
        return dict(zip(keys, packed.tolist(), strict=True))
    return {k: float(v) for k, v in sums.items()}


def all_gather_rows(rows: dict[str, torch.Tensor], procs: Processes) -> dict[str, torch.Tensor]:
    """Every process's rows (n_rank, …) of each key, joined in rank order (Σ n_rank, …).

    For metrics that need every example at once (COCO-style AP ranks all detections of a split):
    shards differ in length, so each is padded to the longest before one all-gather per key.
    """
    if procs.world == 1:
        return rows
    device = next(iter(rows.values())).device
    counts = [torch.zeros((), dtype=torch.long, device=device) for _ in range(procs.world)]
    dist.all_gather(counts, torch.tensor(len(next(iter(rows.values()))), device=device))
    longest = max(int(c) for c in counts)
    joined = {}
    for key in sorted(rows):
        values = rows[key]
        padded = values.new_zeros((longest, *values.shape[1:]))
        padded[: len(values)] = values
        parts = [torch.empty_like(padded) for _ in range(procs.world)]
        dist.all_gather(parts, padded)
        joined[key] = torch.cat([part[: int(c)] for part, c in zip(parts, counts, strict=True)])
    return joined


def total(values: torch.Tensor, procs: Processes) -> torch.Tensor:
    """The sum of ``values`` over processes (a NaN or inf on any rank reaches every rank)."""
    if procs.world > 1:
        values = values.clone()
        dist.all_reduce(values)
    return values


def mean(values: torch.Tensor, procs: Processes) -> torch.Tensor:
    """The mean of ``values`` over processes (a NaN or inf on any rank reaches every rank, so a
    finiteness check on the result takes the same branch everywhere)."""
    if procs.world > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= procs.world
    return values
