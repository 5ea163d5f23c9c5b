import math

import pytest
import torch

from sharedspace.discovery.clustering import Reduction, label_sets, reduce, reduction_table


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def distinct(sets: torch.Tensor) -> int:
    return len(torch.unique(sets, dim=0))


def test_all_label_sets_are_enumerated_each_with_p_positives():
    sets = label_sets(10, 4, None, gen())
    assert sets.shape == (math.comb(10, 2), 10) == (45, 10)
    assert (sets.sum(1) == 2).all() and distinct(sets) == 45


def test_sampled_label_sets_are_distinct_and_as_many_as_asked():
    sets = label_sets(100, 4, 300, gen())
    assert sets.shape == (300, 100) and (sets.sum(1) == 20).all() and distinct(sets) == 300
    assert torch.equal(sets, label_sets(100, 4, 300, gen()))
    few = label_sets(10, 4, 45, gen())  # every one of the 45, in random order
    assert distinct(few) == 45 and not torch.equal(few, label_sets(10, 4, None, gen()))


def test_label_sets_refuse_what_cannot_be_given():
    with pytest.raises(ValueError, match=r"C\(100, 20\) = \d+ label sets, more than 100000"):
        label_sets(100, 4, None, gen())
    with pytest.raises(ValueError, match=r"count 46 outside \[1, C\(10, 2\) = 45\]"):
        label_sets(10, 4, 46, gen())
    with pytest.raises(ValueError, match="ratio 0 below 1"):
        label_sets(10, 0, None, gen())
    with pytest.raises(ValueError, match="1:4 label set of 3 images has no positives"):
        label_sets(3, 4, None, gen())


def test_one_cluster_per_label_set_leaves_no_ablation():
    sets = label_sets(10, 4, None, gen())
    r = reduce(sets, len(sets), seed=0)
    assert (r.ablation == 0).all() and r.mean_ablation == 0.0 and r.within(0.0) == 1.0


def test_two_tight_groups_become_two_clusters():
    n, bases = 20, (0, 10)  # group g: positives b..b+3, and four sets with one of them swapped
    sets = []
    for b in bases:
        base = torch.zeros(n, dtype=torch.bool)
        base[b : b + 4] = True
        sets.append(base)
        for j in range(4):
            swapped = base.clone()
            swapped[b + j], swapped[b + 4 + j] = False, True
            sets.append(swapped)
    r = reduce(torch.stack(sets), 2, seed=0)
    group = torch.arange(10) // 5
    assert len(r.assignment[group == 0].unique()) == 1
    assert len(r.assignment[group == 1].unique()) == 1
    assert r.assignment[0] != r.assignment[5]
    assert torch.equal(r.representatives[r.assignment[[0, 5]]], torch.stack([sets[0], sets[5]]))
    expected = torch.tensor([0.0, 0.1, 0.1, 0.1, 0.1] * 2)  # one swap: 2 of 20 labels differ
    assert torch.allclose(r.ablation, expected)


def test_representatives_have_p_positives_and_ablation_falls_as_k_grows():
    sets = label_sets(40, 4, 200, gen())
    means = []
    for k in (1, 5, 20, 80, 200):
        r = reduce(sets, k, seed=0)
        assert r.representatives.shape == (k, 40) and (r.representatives.sum(1) == 8).all()
        hamming = (sets != r.representatives[r.assignment]).sum(1)
        assert torch.equal(r.ablation, hamming / 40)
        means.append(r.mean_ablation)
    assert means == sorted(means, reverse=True) and means[-1] == 0.0


def test_reduce_refuses_mixed_ratios_and_bad_k():
    sets = label_sets(10, 4, None, gen())
    with pytest.raises(ValueError, match="k 46 for label sets of shape"):
        reduce(sets, 46, seed=0)
    with pytest.raises(ValueError, match="label sets with 1 to 2 positives"):
        reduce(torch.cat([sets, label_sets(10, 9, None, gen())]), 3, seed=0)


def test_within_counts_label_sets_at_most_the_tolerance():
    r = Reduction(torch.zeros(4).long(), torch.zeros(1, 5).bool(), torch.tensor([0, 0.2, 0.2, 0.4]))
    assert r.within(0.2) == 0.75 and r.mean_ablation == pytest.approx(0.2)


def test_reduction_table_rows():
    rows = reduction_table(sizes=(10,), ratios=(4, 9), ks=(2, 100), count=30)
    assert [(r["N"], r["ratio"], r["label_sets"], r["k"]) for r in rows] == [
        (10, "1:4", 30, 2),  # C(10, 2) = 45 > 30: a sample of 30
        (10, "1:4", 30, 30),
        (10, "1:9", 10, 2),  # C(10, 1) = 10: all of them
        (10, "1:9", 10, 10),
    ]
    assert all(
        set(r) == {"N", "ratio", "label_sets", "k", "mean_ablation", "within_tolerance"}
        for r in rows
    )
    assert rows[1]["mean_ablation"] == 0.0 and rows[1]["within_tolerance"] == 1.0
