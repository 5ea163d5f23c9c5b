"""The global batch as one process sees it: random draws and sums that do not depend on how many
processes share the batch.

Under ``torchrun`` each rank holds rows rank·B … (rank+1)·B − 1 of every global batch (the
trainer's batch streams split it so). A part that samples per row (gates, routes, gate noise)
draws for the whole global batch and keeps its own rows, so 2 processes sample what 1 does; a
part that needs a statistic of the batch (a baseline) sums over every rank.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from sharedspace.collectives import global_sum, rank_and_world


def global_batch_sum(local: torch.Tensor) -> torch.Tensor:
    """Sums over this process's rows (…) → the sums over the global batch, whose gradient reaches
    this process's rows multiplied by the number of processes: averaged over the processes, as the
    trainer averages gradients, it is the gradient of the global batch's sum (itself in 1 process).
    """
    _, world = rank_and_world()
    if world == 1:
        return local
    mine = local.detach()
    return global_sum(mine) + world * (local - mine)


class RowDraws(nn.Module):
    """Per-row random draws from a counter-based stream: the n-th draw comes from a generator
    seeded by (seed, n), and both are buffers — so the checkpoint resumes the stream exactly and
    every rank draws alike. ``seed`` comes from the global RNG when the part is built (the run's
    seed fixes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("seed", torch.randint(2**31, ()))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(
        self, kind: str, local_rows: int, *shape: int, uneven: bool = False
    ) -> torch.Tensor:
        """(local_rows, *shape) draws ("uniform" in [0, 1) or "normal"): this rank's rows of one
        draw for the global batch. ``uneven``: ranks hold different numbers of rows (the real
        tokens of their examples, in rank order), found with one collective; else every rank
        holds ``local_rows``."""
        rank, world = rank_and_world()
        generator = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + int(self.count))
        self.count += 1
        start, total = rank * local_rows, local_rows * world
        if uneven and world > 1:
            counts = torch.zeros(world, dtype=torch.long, device=self.seed.device)
            counts[rank] = local_rows
            counts = global_sum(counts).tolist()  # (world,): every rank's rows
            start, total = sum(counts[:rank]), sum(counts)
        draw = torch.rand if kind == "uniform" else torch.randn
        values = draw(total, *shape, generator=generator)
        return values[start : start + local_rows].to(self.seed.device)


Positions = list[tuple[RowDraws, torch.Tensor]]


def stream_positions(streams: nn.Module | list["RowDraws"]) -> Positions:
    """Where every per-row stream stands now, for ``replay``: the streams of a model (found by
    walking it) or a list of them (found once, as ``SharedSpaceModel`` keeps them)."""
    if isinstance(streams, nn.Module):
        streams = [m for m in streams.modules() if isinstance(m, RowDraws)]
    return [(m, m.count.clone()) for m in streams]


@contextmanager
def replay(positions: Positions) -> Iterator[None]:
    """Inside, every stream draws again from ``positions`` (the same gates, routes and noise as
    the forward that started there); after, each stands where it stood before. So an extra
    forward (a weighting's recomputed losses, a transfer probe) measures the step's own sampled
    model and leaves the run's draws as they would have been without it."""
    now = [(stream, stream.count.clone()) for stream, _ in positions]
    for stream, count in positions:
        stream.count.copy_(count)
    try:
        yield
    finally:
        for stream, count in now:
            stream.count.copy_(count)


def score_function_surrogate(losses: torch.Tensor, log_prob: torch.Tensor) -> torch.Tensor:
    """mean_e (L_e − b_e) · log_prob_e: its gradient estimates that of the expected loss of
    discrete choices (gates, routes) with log-probabilities ``log_prob`` (B,), from the detached
    per-example losses ``losses`` (B,). The baseline b_e is the mean loss of the other rows of the
    global batch (leave-one-out, Kool et al. 2019): independent of row e's choice, so unbiased;
    no state; the same under any number of processes, whose gradient average of this local mean
    is the global batch's mean."""
    total, count = global_sum(torch.stack([losses.sum(), losses.new_tensor(float(len(losses)))]))
    baseline = (total - losses) / (count - 1).clamp_min(1)  # (B,)
    return ((losses - baseline) * log_prob).mean()
