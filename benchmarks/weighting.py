"""Step time and all-reduce volume of every task-weighting method against ``equal``, in one run.

    python benchmarks/weighting.py [--steps 15] [--rounds 2] [--methods equal,pcgrad,...]
                                   [--threads 1] [--comm-steps 4] [--data-dir DIR]

Every run is the real ``sharedspace.train`` loop on the three SUS tasks (configs/sus/all_three.yaml)
with ``train.sampler=all`` (every task each step, each its own batch; gradient-level methods need
it), ``train.weighting=<method>`` and small data (``--train-size`` training and ``--eval-size``
validation/test examples per task, so one epoch outlasts the run and validation, checkpoint and
logging happen once, after the last step).

1. Step time, one process with ``--threads`` threads (default 1: on a 2-core machine that is
   busy with anything else, two OpenMP threads wait on each other and steps become several times
   slower and erratic; one thread gives steady numbers either way). Timed is the wall time between
   consecutive optimizer steps (a global ``torch.optim`` step post-hook; nothing in the trainer is
   patched): one whole step — task sampling, batches, the three forwards, the weighting's backward
   and combination, the optimizer step and the weighting's ``after_step`` (FAMO's extra forward).
   Setup, validation, checkpoint and final evaluation fall outside every interval. Each run drops
   its first 2 intervals (warm-up); the methods run ``--rounds`` times, in forward then reverse
   order alternately, so drift in the machine's load hits all methods alike, and a method's ms/step
   is the median of its intervals from every round. Ratios are to ``equal`` in the same run;
   ``fixed`` (no weights given) computes exactly what ``equal`` does, so its ratio shows the noise.

2. All-reduce volume, two processes: spawned with torch.multiprocessing, one thread each, a gloo
   group on 127.0.0.1 (the trainer joins it through its usual WORLD_SIZE path). Inside them
   ``torch.distributed.all_reduce`` is wrapped to count calls, elements and bytes between
   consecutive optimizer steps — the same intervals as above; the first and last are left out (they
   hold setup and the final evaluation). Expected, from the model: ``equal`` does three all-reduces
   a step — the T task losses and the aux total (T+1 values), one "has a gradient" flag per
   parameter tensor (int32) and the flat gradients; a loss-level method adds its own parameters to
   the last two (uncertainty: T log-variances) and FAMO one all-reduce of its T recomputed losses;
   a gradient-level method adds one all-reduce of the (T, n_shared) Jacobian and a used-parameter
   mask (T·n_shared + len(shared) values), while the shared parameters' gradients leave the flat
   average (−n_shared, with no aux loss reaching them): net (T−1)·n_shared + len(shared), plus its
   own parameters (GradNorm: T logits).

A method whose solver extra is not installed (``missing_modules()``) is skipped;
one that fails under 2 processes gets its error in the second table.
"""

import argparse
import itertools
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.optim.optimizer import register_optimizer_step_post_hook

from sharedspace.config import ExperimentConfig, load_yaml
from sharedspace.resolve import load_config
from sharedspace.tasks.data import source_kind
from sharedspace.train.trainer import train
from sharedspace.train.weighting import WEIGHTINGS, GradientWeighting, build_weighting

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "sus" / "all_three.yaml"
WARMUP = 2  # step intervals dropped at the start of each timed run
RECOMPUTES = {"famo"}  # methods that all-reduce the step's losses recomputed after the step
WORLD = 2
# Nash-MTL's cvxpy problem warns on every run that it cannot be re-solved faster (not DPP)
warnings.filterwarnings("ignore", message="You are solving a parameterized problem that is not DPP")


def family(method: str) -> str:
    return "gradient" if issubclass(WEIGHTINGS.get(method), GradientWeighting) else "loss"


def experiment(method: str, steps: int, args: argparse.Namespace, out: str) -> ExperimentConfig:
    raw = load_yaml(CONFIG)
    batch = raw.get("train", {}).get("batch_size", 128)
    for task in raw["tasks"].values():  # the data fields each kind of source takes (sus BUDGETS)
        data = task["data"]
        # at least one epoch of steps: the epoch-end validation must not land inside the run
        data.update(train_size=max(args.train_size, batch * (steps + 1)), eval_size=args.eval_size)
        if source_kind(data["source"]) == "image":
            data["val_size"] = args.eval_size
    raw.update(name=f"weighting-{method}", out_dir=out)
    if args.data_dir:
        raw["data_dir"] = args.data_dir
    raw["train"].update(
        sampler="all",
        weighting=method,
        max_steps=steps,
        eval_every=None,
        log_every=steps,
        checkpoint_every=10**9,
        progress=False,
    )
    return load_config(data=raw, source=str(CONFIG))


def time_steps(
    method: str, args: argparse.Namespace, out: str
) -> tuple[list[float], dict[str, int]]:
    """Seconds of each step of one run of ``method`` (warm-up dropped), and the sizes the expected
    communication depends on."""
    stamps: list[float] = []
    handle = register_optimizer_step_post_hook(lambda *_: stamps.append(time.perf_counter()))
    try:
        result = train(experiment(method, args.steps, args, out), overwrite=True)
    finally:
        handle.remove()
    intervals = [b - a for a, b in itertools.pairwise(stamps)]
    shared = [p for p in result.model.shared_parameters() if p.requires_grad]
    sizes = {
        "tasks": len(result.tasks),
        "n_shared": sum(p.numel() for p in shared),
        "shared": len(shared),
        "total": sum(p.numel() for p in result.model.parameters() if p.requires_grad),
    }
    return intervals[WARMUP:], sizes


def comm_worker(rank: int, port: int, methods: list[str], args: argparse.Namespace, out: str):
    """One of the two processes: train each method ``--comm-steps`` steps, counting all-reduces."""
    os.environ.update(WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(seconds=args.comm_timeout),
    )
    step, events = [0], []  # events: (optimizer steps so far, elements, bytes)
    real_all_reduce = dist.all_reduce

    def counting_all_reduce(tensor, *a, **kw):
        events.append((step[0], tensor.numel(), tensor.numel() * tensor.element_size()))
        return real_all_reduce(tensor, *a, **kw)

    dist.all_reduce = counting_all_reduce  # the trainer calls torch.distributed.all_reduce
    handle = register_optimizer_step_post_hook(lambda *_: step.__setitem__(0, step[0] + 1))
    results = {}
    for method in methods:
        step[0] = 0
        events.clear()
        try:  # both ranks run the same code, so a failure is the same on both
            train(experiment(method, args.comm_steps, args, out), overwrite=True)
        except Exception as e:
            ours = [f for f in traceback.extract_tb(e.__traceback__) if "sharedspace" in f.filename]
            where = f" in {ours[-1].name} ({Path(ours[-1].filename).name})" if ours else ""
            results[method] = f"{type(e).__name__}{where}: {str(e).strip().splitlines()[0]}"
            continue
        # interval k (1 ≤ k < steps): after optimizer step k-1 up to optimizer step k
        results[method] = [
            [[n, b] for s, n, b in events if s == k] for k in range(1, args.comm_steps)
        ]
    handle.remove()
    dist.all_reduce = real_all_reduce
    if rank == 0:
        (Path(out) / "comm.json").write_text(json.dumps(results))
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_comm(methods: list[str], args: argparse.Namespace, out: str) -> dict:
    """{method: per-step lists of (elements, bytes), one per all-reduce, or the method's error}
    from 2 processes."""
    context = mp.spawn(
        comm_worker, args=(free_port(), methods, args, out), nprocs=WORLD, join=False
    )
    deadline = time.monotonic() + args.comm_timeout
    while not context.join(timeout=2):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.terminate()
            sys.exit(f"the 2-process part ran past --comm-timeout {args.comm_timeout} s")
    return json.loads((Path(out) / "comm.json").read_text())


def expected_extra(method: str, cfg: ExperimentConfig, sizes: dict[str, int]) -> tuple[int, int]:
    """(all-reduce calls, values) per step that ``method`` sends beyond ``equal`` (docstring)."""
    weighting = build_weighting(cfg.train.weighting, list(cfg.tasks))
    own = [p for p in weighting.parameters() if p.requires_grad]
    calls, values = 0, sum(p.numel() for p in own) + len(own)  # own gradients and their flags
    tasks, n_shared, shared = sizes["tasks"], sizes["n_shared"], sizes["shared"]
    if isinstance(weighting, GradientWeighting):
        calls, values = calls + 1, values + tasks * n_shared + shared - n_shared
    if method in RECOMPUTES:
        calls, values = calls + 1, values + tasks
    return calls, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="steps of each timed run")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs of each method")
    parser.add_argument("--methods", default=None, help="comma-separated (default: every one)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, timed part")
    parser.add_argument("--comm-steps", type=int, default=4, help="steps of each 2-process run")
    parser.add_argument("--comm-timeout", type=int, default=300, help="seconds, 2-process part")
    parser.add_argument("--train-size", type=int, default=4000, help="per task (at least 1 epoch)")
    parser.add_argument("--eval-size", type=int, default=200, help="validation/test per task")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    if args.steps < WARMUP + 2 or args.comm_steps < 3:
        parser.error(f"--steps must be ≥ {WARMUP + 2} and --comm-steps ≥ 3")
    names = args.methods.split(",") if args.methods else list(WEIGHTINGS)
    for name in names:
        WEIGHTINGS.get(name)  # an unknown name fails now, not after minutes
    others = {n for n in names if n != "equal"}
    names = ["equal", *sorted(others, key=lambda n: (family(n) == "gradient", n))]  # loss first
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    print(
        f"threads: {torch.get_num_threads()} of {os.cpu_count()} CPUs (load average "
        f"{os.getloadavg()[0]:.1f} at the start); {CONFIG.name}, sampler all, batch 128 per "
        f"task; {args.steps} steps × {args.rounds} rounds per method\n"
    )

    # 1. step time, methods interleaved: forward order, then reverse, ...
    seconds: dict[str, list[list[float]]] = {}  # method → each round's step times
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as out:
        for round_ in range(args.rounds):
            for method in names if round_ % 2 == 0 else names[::-1]:
                if method in skipped:
                    continue
                entry = WEIGHTINGS.get(method)
                if entry.missing_modules():
                    skipped[method] = f"needs pip install 'sharedspace[{entry.install_extra}]'"
                    continue
                steps, sizes = time_steps(method, args, out)
                seconds.setdefault(method, []).append(steps)
    timed = [n for n in names if n in seconds]
    median = {name: statistics.median(itertools.chain(*seconds[name])) for name in timed}
    print("| method | family | ms/step | vs equal | median of each round |")
    print("|---|---|---:|---:|---:|")
    for name in timed:
        rounds = " / ".join(f"{statistics.median(r) * 1e3:.0f}" for r in seconds[name])
        ratio = median[name] / median["equal"]
        print(f"| {name} | {family(name)} | {median[name] * 1e3:.0f} | {ratio:.2f} | {rounds} |")
    for name, reason in skipped.items():
        print(f"\nskipped {name}: {reason}")
    print(f"\n(step-time part: {time.perf_counter() - started:.0f} s)\n")

    # 2. all-reduce volume under 2 processes
    comm_started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        comm = measure_comm(timed, args, out)
    print(
        f"2 processes (gloo, 127.0.0.1); T = {sizes['tasks']} tasks; trainable values "
        f"{sizes['total']:,}, of them shared (n_shared) {sizes['n_shared']:,} in "
        f"{sizes['shared']} tensors\n"
    )
    print(
        "| method | family | all-reduces/step | values/step | MB/step | extra values | "
        "extra MB | expected extra values |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    base = None  # equal's (calls, values, MB): equal comes first
    notes = []
    for name in timed:
        cfg = experiment(name, args.comm_steps, args, "unused")
        extra_calls, extra_values = expected_extra(name, cfg, sizes)
        expected = f"{extra_values:+,} (+{extra_calls} calls)"
        steps = comm[name]
        if isinstance(steps, str):  # the method failed under 2 processes
            print(f"| {name} | {family(name)} | failed: {steps} | | | | | {expected} |")
            continue
        if any(s != steps[0] for s in steps):
            notes.append(f"{name}: the all-reduces differ between steps: {steps}")
        calls = len(steps[0])
        values = sum(n for n, _ in steps[0])
        megabytes = sum(b for _, b in steps[0]) / 1e6
        base = base or (calls, values, megabytes)
        print(
            f"| {name} | {family(name)} | {calls} (+{calls - base[0]}) | {values:,} | "
            f"{megabytes:.1f} | {values - base[1]:+,} | {megabytes - base[2]:+.1f} | "
            f"{expected} |"
        )
    for note in notes:
        print(f"\n{note}")
    print(
        f"\nMB = 10⁶ bytes (float32 values; the per-tensor flags are int32). "
        f"(2-process part: {time.perf_counter() - comm_started:.0f} s; "
        f"total {time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
