"""Multi-process training on PyTorch DDP, launched by ``torchrun`` (gloo on CPU, NCCL on GPU).

A single process needs nothing of this: ``setup`` returns world size 1 unless torchrun set the
environment.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Processes()


def setup(device: torch.device) -> Processes:
    """Join the process group that torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def all_reduce_sums(sums: dict[str, torch.Tensor], procs: Processes) -> dict[str, float]:
    """Sum each value over processes (metrics are sums until the very end)."""
    if procs.world > 1:
        keys = sorted(sums)
        packed = torch.stack([sums[k].double() for k in keys])  # on the model's device (NCCL)
        dist.all_reduce(packed)
        return dict(zip(keys, packed.tolist(), strict=True))
    return {k: float(v) for k, v in sums.items()}


def all_true(flag: torch.Tensor, procs: Processes) -> bool:
    """True when ``flag`` holds on every process, so all ranks take the same branch."""
    if procs.world > 1:
        flag = flag.to(torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
