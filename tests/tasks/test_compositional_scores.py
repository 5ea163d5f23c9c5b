"""Compositional zero-shot metrics (``tasks.compositional_scores``): closed-world and generalised
(seen, unseen, best harmonic mean, AUC) numbers worked out by hand on a 6 × 5 score matrix, the
bias sweep's endpoints, ties, pairs that are not candidates, splits missing a group, and czsl's
evaluator re-done with a loop over its biases and ``torch.topk`` on a random matrix."""

import math
import time

import numpy as np
import pytest
import torch

from sharedspace.tasks.compositional_scores import closed_world_accuracy, generalised_metrics

# Pairs 0, 1 seen; 2, 3 unseen candidates; 4 unseen and not a candidate, yet the best score of
# examples 0 and 4. Per example (label): the label's rank among its own group's candidates
# (r), and the bias b (added to the unseen pairs) up to which a seen example is right in the
# top k, or from which an unseen example is right; seen examples: label − m-th best unseen,
# unseen: m-th best seen − label, where m = k − r (never right when m ≤ 0, always when the other
# group has fewer than m candidates).
#   ex label scores                         r  k=1          k=2                k=3
#   0  0 s   [0.9, 0.1, 0.3, 0.2, 5.0]      0  b ≤ .9−.3=.6 b ≤ .9−.2=.7       always
#   1  1 s   [0.6, 0.3, 0.1, 0.2, 0.0]      1  never        b ≤ .3−.2=.1       b ≤ .3−.1=.2
#   2  2 u   [0.4, 0.2, 0.3, 0.1, 0.0]      0  b ≥ .4−.3=.1 b ≥ .2−.3=−.1      always
#   3  3 u   [0.8, 0.1, 0.6, 0.2, 0.0]      1  never        b ≥ .8−.2=.6       b ≥ .1−.2=−.1
#   4  2 u   [0.7, 0.5, 0.2, 0.1, 9.0]      0  b ≥ .7−.2=.5 b ≥ .5−.2=.3       always
#   5  0 s   [0.3, 0.6, 0.1, 0.4, 0.0]      1  never        b ≤ .3−.4=−.1      b ≤ .3−.1=.2
SCORES = torch.tensor(
    [
        [0.9, 0.1, 0.3, 0.2, 5.0],
        [0.6, 0.3, 0.1, 0.2, 0.0],
        [0.4, 0.2, 0.3, 0.1, 0.0],
        [0.8, 0.1, 0.6, 0.2, 0.0],
        [0.7, 0.5, 0.2, 0.1, 9.0],
        [0.3, 0.6, 0.1, 0.4, 0.0],
    ]
)
LABELS = torch.tensor([0, 1, 2, 3, 2, 0])
SEEN = torch.tensor([True, True, False, False, False])
CANDIDATES = torch.tensor([True, True, True, True, False])


def hm(seen: float, unseen: float) -> float:
    return 2 * seen * unseen / (seen + unseen)


def test_closed_world_by_hand() -> None:
    # Unseen examples 2, 3, 4 have ranks 0, 1, 0 among the unseen candidates 2 and 3 (pair 4,
    # the best score of example 4, is no candidate): top-1 2/3, top-2 all three.
    args = SCORES, LABELS, SEEN, CANDIDATES
    assert closed_world_accuracy(*args, k=1) == pytest.approx(2 / 3)
    assert closed_world_accuracy(*args, k=2) == pytest.approx(1.0)


def test_generalised_top1_by_hand() -> None:
    # czsl's biases: unseen examples right at +∞ (2 and 4), best seen − label − 1e-4: .0999,
    # .4999 (fewer than 20, all kept); with ±∞, seen/unseen accuracy at each bias:
    #   −∞: seen {0} 1/3, unseen {} 0;  .0999: 1/3, 0 (example 2 needs b ≥ .1);
    #   .4999: seen {0} 1/3, unseen {2} 1/3;  +∞: seen 0, unseen {2, 4} 2/3.
    # AUC = 0 + (1/3 + 1/3)/2 · 1/3 + (1/3 + 0)/2 · 1/3 = 1/9 + 1/18 = 1/6; best HM at .4999.
    metrics = generalised_metrics(SCORES, LABELS, SEEN, CANDIDATES, ks=(1,))
    assert metrics == pytest.approx(
        {"seen_top1": 1 / 3, "unseen_top1": 2 / 3, "hm_top1": hm(1 / 3, 1 / 3), "auc_top1": 1 / 6}
    )


def test_generalised_top2_by_hand() -> None:
    # czsl's biases use the 2nd best seen score whatever the rank: examples 2, 3, 4 → .2−.3,
    # .1−.2, .5−.2, less 1e-4: −.1001, −.1001, .2999 (example 3 really turns at .6):
    #   −∞: seen {0, 1, 5} 1, unseen 0;  −.1001 (twice): 1, 0;
    #   .2999: seen {0} 1/3, unseen {2} 1/3;  +∞: seen 0, unseen 1.
    # AUC = (1 + 1/3)/2 · 1/3 + (1/3 + 0)/2 · 2/3 = 2/9 + 1/9 = 1/3.
    metrics = generalised_metrics(SCORES, LABELS, SEEN, CANDIDATES, ks=(2,))
    assert metrics == pytest.approx(
        {"seen_top2": 1.0, "unseen_top2": 1.0, "hm_top2": hm(1 / 3, 1 / 3), "auc_top2": 1 / 3}
    )


def test_generalised_top3_with_fewer_pairs_than_k() -> None:
    # Two seen candidates: the 3rd best seen score is −∞, so examples 2 and 4 are right at any
    # bias and czsl's biases (which would fail on topk(3) of 2 pairs) all fall to −∞; example 0
    # likewise at any bias (two unseen candidates).
    #   −∞ (×4): seen {0, 1, 5} 1, unseen {2, 4} 2/3;  +∞: seen {0} 1/3, unseen 1.
    # HM: 2·(2/3)/(5/3) = 4/5 at −∞; AUC = (1 + 1/3)/2 · (1 − 2/3) = 2/9.
    metrics = generalised_metrics(SCORES, LABELS, SEEN, CANDIDATES, ks=(3,))
    assert metrics == pytest.approx(
        {"seen_top3": 1.0, "unseen_top3": 1.0, "hm_top3": 4 / 5, "auc_top3": 2 / 9}
    )


def test_top_k_differs_from_top_1() -> None:
    metrics = generalised_metrics(SCORES, LABELS, SEEN, CANDIDATES)
    assert metrics["seen_top1"] == pytest.approx(1 / 3)
    assert metrics["seen_top2"] == pytest.approx(1.0)
    assert metrics["auc_top1"] < metrics["auc_top2"]


def test_non_candidates_are_never_predicted() -> None:
    # Pair 4, not a candidate, scoring above everything changes nothing, and an example labelled
    # with it counts nowhere.
    top, bottom = SCORES.clone(), SCORES.clone()
    top[:, 4], bottom[:, 4] = 100.0, -100.0
    assert generalised_metrics(top, LABELS, SEEN, CANDIDATES) == generalised_metrics(
        bottom, LABELS, SEEN, CANDIDATES
    )
    assert closed_world_accuracy(top, LABELS, SEEN, CANDIDATES) == pytest.approx(2 / 3)
    extra = torch.cat([SCORES, torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]])])
    assert generalised_metrics(
        extra, torch.cat([LABELS, torch.tensor([4])]), SEEN, CANDIDATES
    ) == generalised_metrics(SCORES, LABELS, SEEN, CANDIDATES)


def test_sweep_endpoints_reach_seen_only_accuracy() -> None:
    # Pairs 0 seen, 1 unseen. Example 0 (seen) is right for b ≤ .5 − .45 = .05, example 1
    # (unseen) for b ≥ .9 − .6 = .3. czsl sweeps .2999 and 1e3 only: seen 0 at both, so its best
    # seen is 0; the −∞ end gives the seen-only accuracy, 1. Unseen: 0 at −∞ and .2999, 1 at +∞.
    # No bias has both right: HM 0; the curve rises at seen 0 only: AUC 0.
    scores = torch.tensor([[0.5, 0.45], [0.9, 0.6]])
    metrics = generalised_metrics(
        scores, torch.tensor([0, 1]), torch.tensor([True, False]), torch.tensor([True, True]), (1,)
    )
    assert metrics == {"seen_top1": 1.0, "unseen_top1": 1.0, "hm_top1": 0.0, "auc_top1": 0.0}


def test_k_above_the_number_of_pairs() -> None:
    # Two pairs, top-3: every label is among the predictions at any bias, so every point of the
    # curve is (1, 1) and it encloses no area.
    scores = torch.tensor([[0.5, 0.45], [0.9, 0.6]])
    metrics = generalised_metrics(
        scores, torch.tensor([0, 1]), torch.tensor([True, False]), torch.tensor([True, True]), (3,)
    )
    assert metrics == {"seen_top3": 1.0, "unseen_top3": 1.0, "hm_top3": 1.0, "auc_top3": 0.0}


def test_ties_go_to_the_label() -> None:
    # Example 0's label (pair 2) ties with pair 3: right in the closed world at top-1, and with
    # its seen gap .4 − .3 = .1, right from b = .1 on; example 1's label ties with pair 1 and is
    # right up to b = .6 − .3 = .3 (the tie with seen pair 1 does not count against it).
    scores = torch.tensor([[0.4, 0.1, 0.3, 0.3], [0.6, 0.6, 0.3, 0.1]], dtype=torch.float64)
    labels, seen = torch.tensor([2, 0]), torch.tensor([True, True, False, False])
    candidates = torch.ones(4, dtype=torch.bool)
    assert closed_world_accuracy(scores, labels, seen, candidates) == 1.0
    # czsl's one bias .0999: seen 1, unseen 0; with −∞ (1, 0) and +∞ (0, 1): AUC 1/2 · 1 = 1/2.
    assert generalised_metrics(scores, labels, seen, candidates, (1,))["auc_top1"] == 0.5


def test_a_bias_that_ties_the_label_counts_it_right() -> None:
    # Pair 0 seen, 1 unseen. Example 0 (seen) is right up to b = .5 − 1e-4 =: B; examples 1 and
    # 2 (unseen) from b = B and from b = .5. czsl's biases: B − 1e-4 and .5 − 1e-4 = B, where
    # both example 0's and example 1's labels tie the other pair: both right. Points (seen,
    # unseen): −∞ (1, 0), B − 1e-4 (1, 0), B (1, 1/2), +∞ (0, 1): best HM 2 · 1/2 / (3/2) = 2/3.
    b = 0.5 - 1e-4
    scores = torch.tensor([[b, 0.0], [b, 0.0], [0.75, 0.25]], dtype=torch.float64)
    labels, seen = torch.tensor([0, 1, 1]), torch.tensor([True, False])
    metrics = generalised_metrics(scores, labels, seen, torch.tensor([True, True]), (1,))
    assert metrics["hm_top1"] == pytest.approx(2 / 3)


def test_splits_without_a_group_leave_out_its_keys() -> None:
    only_seen = LABELS[SEEN[LABELS]]
    metrics = generalised_metrics(SCORES[SEEN[LABELS]], only_seen, SEEN, CANDIDATES, (1,))
    assert metrics == {"seen_top1": pytest.approx(1 / 3)}
    only_unseen = ~SEEN[LABELS]
    metrics = generalised_metrics(SCORES[only_unseen], LABELS[only_unseen], SEEN, CANDIDATES, (1,))
    assert metrics == {"unseen_top1": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match="unseen candidate"):
        closed_world_accuracy(SCORES[SEEN[LABELS]], only_seen, SEEN, CANDIDATES)


def test_bad_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="bool"):
        generalised_metrics(SCORES, LABELS, SEEN.long(), CANDIDATES)
    with pytest.raises(ValueError, match="seen pair must be a candidate"):
        generalised_metrics(SCORES, LABELS, SEEN, CANDIDATES & ~SEEN)
    with pytest.raises(ValueError, match=r"need \(P,\)"):
        generalised_metrics(SCORES, LABELS, SEEN[:4], CANDIDATES)
    nan = SCORES.clone()
    nan[0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        closed_world_accuracy(nan, LABELS, SEEN, CANDIDATES)


def random_split(n: int, p: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Scores in [0, 1.5) (the label boosted, so accuracies are neither 0 nor 1), a third of the
    pairs seen, a fifth of the unseen ones not candidates, labels drawn from the candidates."""
    g = torch.Generator().manual_seed(seed)
    seen = torch.rand(p, generator=g) < 1 / 3
    candidates = seen | (torch.rand(p, generator=g) < 0.8)
    ids = candidates.nonzero().squeeze(1)
    labels = ids[torch.randint(len(ids), (n,), generator=g)]
    scores = torch.rand(n, p, generator=g, dtype=torch.float64)
    scores[torch.arange(n), labels] += 0.5 * torch.rand(n, generator=g, dtype=torch.float64)
    return scores, labels, seen, candidates


def czsl_curve(
    scores: torch.Tensor, labels: torch.Tensor, seen: torch.Tensor, candidates: torch.Tensor, k: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """czsl's ``Evaluator.evaluate_predictions`` with a loop: the bias added to the unseen pairs,
    non-candidates at −1e10, ``topk``; biases from the unseen examples right at 1e3, k-th best
    seen score − label score − 1e-4, sorted, every max(n // 20, 1)-th, then 1e3 → (seen, unseen)
    accuracies over them, and (seen, unseen) at −1e3, which czsl does not sweep."""
    label_seen = seen[labels]

    def hits(bias: float) -> torch.Tensor:
        biased = scores + bias * (~seen).double()
        biased[:, ~candidates] = -1e10
        return (biased.topk(k, dim=1).indices == labels[:, None]).any(1)

    label_scores = scores[torch.arange(len(labels)), labels][~label_seen]
    kth_seen = scores[~label_seen][:, seen].topk(k, dim=1).values[:, k - 1]
    diff = (kth_seen - label_scores)[hits(1e3)[~label_seen]] - 1e-4
    diff = diff.sort().values
    biases = [*diff[:: max(len(diff) // 20, 1)].tolist(), 1e3]
    curve = [hits(b) for b in biases]
    seen_acc = np.array([h[label_seen].double().mean().item() for h in curve])
    unseen_acc = np.array([h[~label_seen].double().mean().item() for h in curve])
    low = hits(-1e3)
    return seen_acc, unseen_acc, low[label_seen].double().mean().item(), unseen_acc[0]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_matches_czsl_loop(k: int) -> None:
    scores, labels, seen, candidates = random_split(400, 30, seed=k)
    metrics = generalised_metrics(scores, labels, seen, candidates, ks=(k,))
    seen_acc, unseen_acc, seen_only, first_unseen = czsl_curve(scores, labels, seen, candidates, k)
    assert len(seen_acc) > 20  # enough correct unseen examples for czsl's stride to act
    assert first_unseen == 0.0  # so the −∞ point adds no area
    harmonic = 2 * seen_acc * unseen_acc / np.maximum(seen_acc + unseen_acc, 1e-12)
    assert metrics == pytest.approx(
        {
            f"seen_top{k}": max(seen_only, seen_acc.max()),
            f"unseen_top{k}": unseen_acc.max(),
            f"hm_top{k}": harmonic.max(),
            f"auc_top{k}": float(np.trapezoid(seen_acc, unseen_acc)),
        }
    )
    assert closed_world_accuracy(scores, labels, seen, candidates, k) == metrics[f"unseen_top{k}"]


def test_large_random_matrix() -> None:
    scores, labels, seen, candidates = random_split(20_000, 2_000, seed=0)
    scores = scores.float()
    start = time.perf_counter()
    metrics = generalised_metrics(scores, labels, seen, candidates)
    assert time.perf_counter() - start < 10  # about a second on a laptop CPU
    assert len(metrics) == 12
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in metrics.values())
    for k in (1, 2, 3):
        best_seen, best_unseen = metrics[f"seen_top{k}"], metrics[f"unseen_top{k}"]
        assert metrics[f"hm_top{k}"] <= max(best_seen, best_unseen)
        assert 0 < metrics[f"auc_top{k}"] <= best_seen * best_unseen
