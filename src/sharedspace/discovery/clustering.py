"""Reduction by clustering: score one representative per group of near-identical label sets.

The seed's reduction (Sohmshetty with Zamir): many label sets of N images differ in only a few
labels, and a network learns through a fraction of flipped labels (the label-ablation tolerance;
the seed picked 20%), so label sets that close behave as one task. k-means over the binary label
vectors groups them, and only each cluster's representative needs training and scoring.
"""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

ENUMERATE_LIMIT = 100_000  # label sets enumerated when no count is asked for
N_INIT = 1  # k-means++ restarts (sklearn's default); 3 moved no table entry by 0.005, took 4×


def positives(n: int, ratio: int) -> int:
    """The number of positives of a 1:``ratio`` label set of ``n`` images."""
    return n // (ratio + 1)


def label_sets(n: int, ratio: int, count: int | None, generator: torch.Generator) -> torch.Tensor:
    """(L, n) bool: distinct label sets of ``n`` images, each with exactly p = n // (ratio + 1)
    positives (1 positive to ``ratio`` negatives).

    ``count`` None: all C(n, p) of them, in lexicographic order of their positives (refused above
    ``ENUMERATE_LIMIT``); else ``count`` distinct ones drawn uniformly at random.
    """
    if ratio < 1:
        raise ValueError(f"ratio {ratio} below 1")
    p = positives(n, ratio)
    if p < 1:
        raise ValueError(f"a 1:{ratio} label set of {n} images has no positives")
    total = math.comb(n, p)
    if count is None and total > ENUMERATE_LIMIT:
        raise ValueError(
            f"C({n}, {p}) = {total} label sets, more than {ENUMERATE_LIMIT} to enumerate; "
            "give a count to sample"
        )
    if count is not None and not 1 <= count <= total:
        raise ValueError(f"count {count} outside [1, C({n}, {p}) = {total}]")
    if total <= ENUMERATE_LIMIT:
        at = torch.tensor(list(itertools.combinations(range(n), p)))  # (C, p)
        sets = torch.zeros(total, n, dtype=torch.bool).scatter_(1, at, True)
        if count is None:
            return sets
        return sets[torch.randperm(total, generator=generator)[:count]]
    seen: dict[bytes, torch.Tensor] = {}
    while len(seen) < count:
        at = torch.rand(count - len(seen), n, generator=generator).argsort(1)[:, :p]
        for row in torch.zeros(len(at), n, dtype=torch.bool).scatter_(1, at, True):
            seen.setdefault(row.numpy().tobytes(), row)
    return torch.stack(list(seen.values()))


@dataclass(frozen=True)
class Reduction:
    """k-means clusters of L label sets of n images.

    ``ablation`` is the fraction of the n labels in which a label set differs from its cluster's
    representative: Hamming distance / n, the meaning of ``labellings.flipped``'s fraction (the
    representative with that fraction of its labels flipped is the label set). Both have p
    positives, so the distance is even (as many 1 → 0 as 0 → 1 flips) and at most 2p/n ≈
    2/(R + 1): 0.2 at 1:9, where every label set is within a 20% tolerance of every other.
    """

    assignment: torch.Tensor  # (L,) long, the cluster of each label set
    representatives: torch.Tensor  # (k, n) bool, p positives each
    ablation: torch.Tensor  # (L,) float

    @property
    def mean_ablation(self) -> float:
        return self.ablation.mean().item()

    def within(self, tolerance: float) -> float:
        """The fraction of label sets whose ablation is at most ``tolerance``."""
        return (self.ablation <= tolerance).float().mean().item()


def reduce(label_sets: torch.Tensor, k: int, seed: int) -> Reduction:
    """Cluster (L, n) binary label sets, all with the same number p of positives, into ``k``.

    A cluster's representative is the top p entries of the mean of its members (ties to the
    earlier image): of all label sets with p positives, the one with the least total Hamming
    distance to the members.
    """
    if label_sets.ndim != 2 or not 1 <= k <= len(label_sets):
        raise ValueError(f"k {k} for label sets of shape {tuple(label_sets.shape)}")
    counts = label_sets.sum(1)
    if not torch.equal(counts, counts[:1].expand_as(counts)):
        raise ValueError(f"label sets with {counts.min()} to {counts.max()} positives")
    p = int(counts[0])
    x = label_sets.float()  # (L, n)
    # One BLAS thread: on 2 busy cores, k-means++ for k = 1000 on 5000 × 400 took 60 s with two
    # and 2.8 s with one (its many small products). Plain KMeans is fast enough: 20,000 × 400 took
    # 35 s at k = 1000 and 7 s at k = 10 with three restarts, so no MiniBatchKMeans.
    with threadpool_limits(1, user_api="blas"):
        km = KMeans(k, n_init=N_INIT, random_state=seed).fit(x.numpy())
    assignment = torch.from_numpy(km.labels_).long()
    members = torch.zeros(k).index_add_(0, assignment, torch.ones(len(x)))  # (k,)
    sums = torch.zeros(k, x.shape[1]).index_add_(0, assignment, x)  # (k, n)
    centres = torch.from_numpy(np.asarray(km.cluster_centers_, dtype=np.float32))
    means = torch.where(members[:, None] > 0, sums / members.clamp_min(1)[:, None], centres)
    top = torch.sort(means, dim=1, descending=True, stable=True).indices[:, :p]
    representatives = torch.zeros(k, x.shape[1], dtype=torch.bool).scatter_(1, top, True)
    differ = label_sets.bool() != representatives[assignment]  # (L, n)
    return Reduction(assignment, representatives, differ.float().mean(1))


def reduction_table(
    sizes: Sequence[int] = (20, 100, 400),
    ratios: Sequence[int] = (4, 9),
    ks: Sequence[int] = (10, 50, 200, 1000),
    count: int = 5000,
    tolerance: float = 0.2,
    seed: int = 0,
) -> list[dict]:
    """The seed's table: for each N and ratio, how close k-means brings label sets to their
    cluster's representative. Rows: ``N``, ``ratio`` ("1:R"), ``label_sets`` (how many were
    clustered), ``k``, ``mean_ablation`` and ``within_tolerance`` (fraction with ablation ≤
    ``tolerance``).

    All label sets when there are at most ``count`` (N = 20: 4845 at 1:4, 190 at 1:9), else
    ``count`` drawn at random; each k capped at the number of label sets. The defaults (23 rows)
    took 10–16 s on 2 busy CPU cores.
    """
    rows = []
    for n, ratio in itertools.product(sizes, ratios):
        generator = torch.Generator().manual_seed(seed)
        total = math.comb(n, positives(n, ratio))
        sets = label_sets(n, ratio, None if total <= count else count, generator)
        for k in sorted({min(k, len(sets)) for k in ks}):
            r = reduce(sets, k, seed)
            rows.append(
                {
                    "N": n,
                    "ratio": f"1:{ratio}",
                    "label_sets": len(sets),
                    "k": k,
                    "mean_ablation": r.mean_ablation,
                    "within_tolerance": r.within(tolerance),
                }
            )
    return rows
