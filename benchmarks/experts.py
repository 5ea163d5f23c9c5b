"""Sparse mixtures cost k/M of the dense one: forward + backward time of task multi-clustering and
of the noisy top-k MoE with k = 1, 2, 4, 8 of M = 16 experts, against the dense mixture of all 16,
measured side by side in one run.

    python benchmarks/experts.py [--rows 4096] [--dim 256] [--hidden 512] [--reps 7] [--threads 2]

Every expert is the ``mlp`` block dim → hidden → dim. The dense reference is the ``mixture``
space (every expert on every row). The top-k MoE runs exactly k experts per row; multi-clustering
(training mode) draws each expert for each row with probability k/M, so k per row on average. A
run is the median of ``--reps`` timed forward + backward passes after two warm-ups, the spaces
taking turns so that drift in the machine's load hits them alike. "vs ideal" is the measured ratio
divided by k/M: 1.00 would be a sparse mixture with no overhead at all.
"""

import argparse
import statistics
import time

import torch

from sharedspace.config import Component
from sharedspace.parts import collect
from sharedspace.resolve import resolve_component
from sharedspace.spaces import SPACES, build_space

M = 16


def space(name: str, dim: int, hidden: int, **params) -> torch.nn.Module:
    section = Component(name, {"experts": M, "expert": {"widths": [hidden, dim]}, **params})
    resolve_component(SPACES, section, "model.space")
    return build_space(section, dim, num_tasks=1).train()


def step(model: torch.nn.Module, h: torch.Tensor) -> float:
    """Seconds of one forward + backward (the aux losses included)."""
    started = time.perf_counter()
    z = model(h, 0)
    aux = collect(model.modules())
    (z.square().mean() + sum(aux.values(), torch.zeros(()))).backward()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    h = torch.randn(args.rows, args.dim)
    models = {("dense", M): space("mixture", args.dim, args.hidden)}
    for k in (1, 2, 4, 8):
        models["moe", k] = space("moe", args.dim, args.hidden, k=k)
        mc = space("multi_clustering", args.dim, args.hidden, density=0.0)
        with torch.no_grad():
            for logits in mc.logits:  # k experts a row on average
                logits.fill_(torch.logit(torch.tensor(k / M)).item())
        models["multi_clustering", k] = mc
    times: dict[tuple[str, int], list[float]] = {key: [] for key in models}
    for rep in range(args.reps + 2):
        for key, model in models.items() if rep % 2 else reversed(models.items()):
            seconds = step(model, h)
            model.zero_grad(set_to_none=True)
            if rep >= 2:
                times[key].append(seconds)
    dense = statistics.median(times["dense", M])
    print(
        f"threads: {args.threads}; {args.rows} rows, experts {args.dim} → {args.hidden} → "
        f"{args.dim}, M = {M}; dense mixture {dense * 1e3:.1f} ms forward + backward"
    )
    print(f"{'space':<18}{'k':>3}{'ms':>9}{'vs dense':>10}{'ideal k/M':>11}{'vs ideal':>10}")
    for (name, k), values in times.items():
        ms, ratio = statistics.median(values) * 1e3, statistics.median(values) / dense
        print(f"{name:<18}{k:>3}{ms:>9.1f}{ratio:>10.3f}{k / M:>11.3f}{ratio / (k / M):>10.2f}")


if __name__ == "__main__":
    main()
