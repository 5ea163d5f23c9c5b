"""Multi-process training on torch.distributed, launched by ``torchrun`` (gloo on CPU, NCCL on GPU).

Gradients are averaged explicitly (``average_gradients``) rather than by the DDP module wrapper:
DDP's reducer assumes one forward and one backward over a fixed set of parameters per step, and a
multi-task step breaks each part of that — several forwards (one per task), surrogate losses from
loss-feedback hooks that reach parameters no output depends on, and gradient-level weightings that
need per-task gradients averaged before their nonlinear combination. One coalesced all-reduce per
step carries what DDP's buckets would.

A single process needs nothing of this: ``setup`` returns world size 1 unless torchrun set the
environment.

``train --nproc N`` starts ``launcher → torchrun (agent) → N workers``. ``check_processes`` refuses
an N the run cannot use before anything starts, and each process below the launcher dies with its
parent (``die_with_parent``), so killing the launcher, even with SIGKILL, leaves no worker behind.
"""

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from sharedspace.collectives import SINGLE, Processes
from sharedspace.config import ExperimentConfig
from sharedspace.errors import ConfigError

FORCE_NPROC = "--force-nproc"
PARENT = "SHAREDSPACE_PARENT"  # environment: the PID of the process a child must not outlive
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a container's or taskset's share)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_processes(cfg: ExperimentConfig, n: int, force: bool = False) -> None:
    """Refuse ``n`` processes the run cannot use, before any starts or loads data: fewer than 1;
    more than the CPUs (unless ``force``: each process is a whole trainer, and hundreds of them
    exhaust memory long before fork fails) or than the visible GPUs (one GPU a process, always);
    a global batch (``train.batch_size``, or a task's smaller ``train_size``, which caps its
    batch) that the processes cannot share in equal parts."""
    if n < 1:
        raise ConfigError(f"--nproc {n}: must be at least 1")
    device = cfg.train.device
    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        gpus = torch.cuda.device_count()
        if n > gpus:
            raise ConfigError(
                f"--nproc {n}: more processes than the {gpus} visible CUDA devices "
                "(each process trains on one GPU)"
            )
    elif n > (cpus := available_cpus()) and not force:
        raise ConfigError(
            f"--nproc {n}: more processes than the {cpus} CPUs available (each is "
            f"a whole trainer); {FORCE_NPROC} starts them anyway"
        )
    batches = {"train.batch_size": cfg.train.batch_size}
    for name, task in cfg.tasks.items():
        size = getattr(task.data.config, "train_size", None)
        if size is not None and size < cfg.train.batch_size:  # the batch is the whole split
            batches[f"tasks.{name}.data.train_size"] = size
    for key, batch in batches.items():
        if batch % n:
            raise ConfigError(
                f"{key}: {batch} does not split into {n} equal parts (--nproc {n}: each "
                f"process takes an equal share of every batch); use a multiple of {n}"
            )


def die_with_parent() -> None:
    """Under ``train --nproc`` (Linux): the kernel sends this process SIGKILL when its parent
    ends (``prctl(PR_SET_PDEATHSIG)``), and its own children get the same rule from the
    environment. SIGKILL because a parent that is gone can no longer collect a graceful stop,
    and a rank stopping alone would wait in its next collective; checkpoints are atomic and
    resume exactly. A parent that ended before the ``prctl`` is noticed by its PID."""
    parent = os.environ.get(PARENT)
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != int(parent):  # reparented: the parent ended before the prctl
        os.kill(os.getpid(), signal.SIGKILL)
    os.environ[PARENT] = str(os.getpid())


def children() -> list[int]:
    """PIDs of this process's children (Linux: from /proc)."""
    mine, found = os.getpid(), []
    for entry in os.scandir("/proc"):
        try:
            stat = Path(entry.path, "stat").read_text() if entry.name.isdigit() else ""
        except OSError:  # ended meanwhile
            continue
        if stat and int(stat.rpartition(")")[2].split()[1]) == mine:
            found.append(int(entry.name))
    return found


def agent() -> None:
    """torchrun, as ``train --nproc`` starts it. It dies with the launcher, and passes SIGINT
    and SIGTERM on to the workers one for one: torchrun starts each worker in a session of its
    own, out of the terminal's reach, and its own handler would answer the first signal by
    ending (with a traceback), killing a worker still saving after 30 s and treating a second
    signal as its own death. Each signal reaches each worker once: a stop, then (a second)
    quit — held while the stop's checkpoint is written (``trainer.StopRequest``)."""
    from torch.distributed.run import main

    die_with_parent()
    if sys.platform.startswith("linux"):  # elsewhere (no /proc) torchrun forwards as it does

        def forward(signum: int, frame: object) -> None:
            for pid in children():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, forward)
        os.environ["PET_SIGNALS_TO_HANDLE"] = "SIGHUP,SIGQUIT"  # torchrun's --signals-to-handle
    main()


def setup(device: torch.device) -> Processes:
    """Join the process group that torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE
    if not dist.is_initialized():
        # torch._dynamo, imported the first time after the group exists (torch.optim imports
        # it), keeps a reference to the group: destroy_process_group then cannot join gloo's
        # threads, and one of them freeing a collective's tensors while the interpreter exits
        # aborts the process (SIGABRT, "terminate called without an active exception")
        import torch._dynamo  # noqa: F401

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def teardown() -> None:
    """Leave together (a rank that destroys the group while another still writes the run's
    files can abort inside gloo), and join gloo's threads before the interpreter exits."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
