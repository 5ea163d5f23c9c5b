"""Zero-shot compositional (attribute–object pair) recognition metrics of a score matrix.

Shape notation: N test examples, P pairs. ``scores`` (N, P) are any real scores (higher = more
likely), ``labels`` (N,) int64 pair ids, ``seen`` (P,) bool the pairs trained on, ``candidates``
(P,) bool the pairs this split scores (its seen ∪ unseen pairs; the others are never predicted).
An example counts as seen or unseen by its label; one whose label is not a candidate counts in
no metric. Ties go to the label: a top-k prediction is correct when fewer than k candidates
score strictly above the label (``torch.topk`` breaks ties arbitrarily).

Closed world (Misra et al. 2017, "From Red Wine to Red Tomato"): top-k accuracy of the unseen
examples among the unseen candidates only.

Generalised (Purushwalkam et al. 2019, "Task-driven modular networks"), as czsl's ``Evaluator``
(``models/common.py``) computes it: a bias b is added to the unseen pairs' scores and, for each b,
seen and unseen accuracy are the top-k accuracies of the seen and the unseen examples over all
candidates. A bias shifts a whole group of pairs, so an example's rank within its own group never
changes and its correctness is a step in b: an unseen example is right for b ≥ a threshold, a
seen one for b ≤ another (``_thresholds``); the accuracy at any b is then a count of sorted
thresholds, with no pass over the scores per bias.

The biases are czsl's: for each unseen example right at the largest bias, d = (its k-th best seen
score) − (its label's score) − 1e-4, just below where the example turns right (exactly, for k = 1;
czsl takes the k-th best seen score whatever the example's rank among the unseen pairs, so for
k > 1 d can lie below that point); sorted, every max(n // 20, 1)-th is kept, from the first (so
20 to 39 biases once n ≥ 20). czsl then adds its largest bias, 1e3 (here +∞: the unseen
candidates outrank every seen one); this adds −∞ as well (the seen candidates outrank every unseen
one), so ``seen_top{k}`` is the seen-only accuracy, never below czsl's "best seen" (its seen
accuracy at its smallest bias). At that smallest bias czsl's unseen accuracy is already 0 (given k
seen candidates), so the added point changes neither the AUC nor the best harmonic mean.
"""

from collections.abc import Sequence

import torch

_CZSL_OFFSET = 1e-4  # czsl's step below each unseen example's turning point
_CZSL_BINS = 20  # czsl's ``magic_binsize``: about this many biases are swept
# The extreme biases: past every gap of finite scores, yet finite, so that the never-right
# thresholds (±∞) stay on their side of them.
_FAR = torch.finfo(torch.float64).max


def _check(
    scores: torch.Tensor, labels: torch.Tensor, seen: torch.Tensor, candidates: torch.Tensor
) -> None:
    """Shapes and dtypes as the module docstring gives them; seen pairs are candidates; scores
    are finite."""
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        shapes = f"scores {tuple(scores.shape)}, labels {tuple(labels.shape)}"
        raise ValueError(f"{shapes}: need (N, P), (N,)")
    if seen.shape != scores.shape[1:] or candidates.shape != scores.shape[1:]:
        shapes = f"seen {tuple(seen.shape)}, candidates {tuple(candidates.shape)}"
        raise ValueError(f"{shapes}: need (P,) for scores {tuple(scores.shape)}")
    if seen.dtype != torch.bool or candidates.dtype != torch.bool:
        raise ValueError(f"seen ({seen.dtype}) and candidates ({candidates.dtype}) must be bool")
    if (seen & ~candidates).any():
        raise ValueError("every seen pair must be a candidate")
    if scores.numel() and not (scores.amax().isfinite() and scores.amin().isfinite()):
        raise ValueError("scores hold a NaN or an infinity")  # amax and amin propagate NaN


def _best(scores: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """(N, k) float64 the k best scores of the pairs in ``mask`` (P,), best first, −∞ past the
    last such pair. Counting those above a label gives its rank in that group where the rank is
    below k, and k otherwise: all a top-k accuracy needs, without an (N, P) count."""
    best = scores.masked_fill(~mask, -torch.inf).topk(min(k, scores.shape[1]), dim=1).values
    return torch.nn.functional.pad(best.double(), (0, k - best.shape[1]), value=-torch.inf)


def _thresholds(rank: torch.Tensor, gaps: torch.Tensor, k: int, never: float) -> torch.Tensor:
    """(M,) per example the bias at which its label meets the other group's (k − rank)-th best
    pair, read from ``gaps`` (M, K), those biases for the other group's K best pairs; ``never``
    where ``rank`` ≥ k, as the label's own group then takes all k places."""
    slots = k - rank  # (M,) top-k places the other group may take before the label drops out
    gap = gaps.gather(1, (slots - 1).clamp(0, gaps.shape[1] - 1)[:, None]).squeeze(1)
    return gap.where(slots > 0, never)


def closed_world_accuracy(
    scores: torch.Tensor,
    labels: torch.Tensor,
    seen: torch.Tensor,
    candidates: torch.Tensor,
    k: int = 1,
) -> float:
    """Top-k accuracy (0–1) of the examples whose label is an unseen candidate, predicting among the
    unseen candidates only; an error if there is no such example. Shapes: module docstring."""
    _check(scores, labels, seen, candidates)
    unseen = candidates[labels] & ~seen[labels]  # (N,)
    if not unseen.any():
        raise ValueError("no example's label is an unseen candidate")
    label_scores = scores.gather(1, labels[:, None]).double()  # (N, 1)
    rank = (_best(scores, candidates & ~seen, k) > label_scores).sum(1)  # (N,) at most k
    return (rank[unseen] < k).double().mean().item()


def generalised_metrics(
    scores: torch.Tensor,
    labels: torch.Tensor,
    seen: torch.Tensor,
    candidates: torch.Tensor,
    ks: Sequence[int] = (1, 2, 3),
) -> dict[str, float]:
    """Per k in ``ks``, over czsl's biases (module docstring), all 0–1: ``seen_top{k}`` and
    ``unseen_top{k}`` the best seen and unseen accuracies, ``hm_top{k}`` the best harmonic mean of
    the two at one bias (0 where both are 0), ``auc_top{k}`` the area under seen accuracy against
    unseen accuracy (czsl's ``np.trapz(seen, unseen)``, the points in increasing bias). A split
    with no seen (unseen) example has only the ``unseen_`` (``seen_``) keys. ``unseen_top{k}`` is
    the unseen accuracy at +∞ bias, which is ``closed_world_accuracy(..., k)``.
    Shapes: module docstring."""
    _check(scores, labels, seen, candidates)
    seen_ex = seen[labels]  # (N,)
    unseen_ex = candidates[labels] & ~seen[labels]  # (N,)
    n_seen, n_unseen = int(seen_ex.sum()), int(unseen_ex.sum())
    label_scores = scores.gather(1, labels[:, None]).double()  # (N, 1)
    top = max(ks)
    best_seen = _best(scores, seen, top)  # (N, top)
    best_unseen = _best(scores, candidates & ~seen, top)  # (N, top)
    # The label's rank in its own group (capped at top); per unseen example (U, top), the best
    # seen scores minus its label's: the bias its label needs to pass each of them; per seen
    # example (S, top), its label's score minus the best unseen ones: the bias at which each of
    # them passes it.
    rank_u = (best_unseen > label_scores).sum(1)[unseen_ex]  # (U,)
    rank_s = (best_seen > label_scores).sum(1)[seen_ex]  # (S,)
    gap_u = (best_seen - label_scores)[unseen_ex]
    gap_s = (label_scores - best_unseen)[seen_ex]
    far = torch.tensor([_FAR], dtype=torch.float64, device=scores.device)

    metrics = {}
    for k in ks:
        # An unseen example is right for b ≥ its threshold, a seen one for b ≤ its threshold.
        unseen_from = _thresholds(rank_u, gap_u, k, torch.inf).sort().values  # (U,)
        seen_until = _thresholds(rank_s, gap_s, k, -torch.inf).sort().values  # (S,)
        turning = gap_u[rank_u < k, k - 1].sort().values - _CZSL_OFFSET
        swept = turning[:: max(len(turning) // _CZSL_BINS, 1)]
        # (B,) increasing. A swept −∞ (fewer than k seen candidates) counts as −far does: a seen
        # example that is never right needs k seen pairs above its label.
        biases = torch.cat([-far, swept, far])
        right_u = torch.searchsorted(unseen_from, biases, right=True)  # (B,)
        right_s = n_seen - torch.searchsorted(seen_until, biases)  # (B,)
        unseen_acc = right_u.double() / max(n_unseen, 1)
        seen_acc = right_s.double() / max(n_seen, 1)
        if n_seen:
            metrics[f"seen_top{k}"] = seen_acc.max().item()
        if n_unseen:
            metrics[f"unseen_top{k}"] = unseen_acc.max().item()
        if n_seen and n_unseen:
            hm = (2 * seen_acc * unseen_acc / (seen_acc + unseen_acc)).nan_to_num(0.0)
            metrics[f"hm_top{k}"] = hm.max().item()
            metrics[f"auc_top{k}"] = torch.trapezoid(seen_acc, unseen_acc).item()
    return metrics
