"""BLEU and chrF of decoded text (sacrebleu), kept as sums so batches and processes add up.

Corpus BLEU and chrF are functions of statistics summed over sentences (n-gram matches and
totals, lengths; character and word n-gram counts), which is how sacrebleu itself scores a
corpus. A task's ``metric_sums`` adds this batch's statistics under scalar keys; ``text_scores``
turns the totals into the corpus scores, equal to ``sacrebleu.corpus_bleu`` / ``corpus_chrf`` on
every sentence at once (tested). Defaults are sacrebleu's: BLEU with its 13a tokenizer and
exponential smoothing, chrF with character order 6, no word n-grams (``signatures``). chrF's
statistics come from two of its underscored methods, stable through sacrebleu 2.x (pinned <3).

``bleu_interval`` gives corpus BLEU with a bootstrap confidence interval over sentences, for a
small test set (950 captions): resampling sentences with replacement is a count matrix times
the per-sentence statistics, so 1,000 resamples cost one matrix product and a vectorised BLEU.
With sacrebleu's seed it draws exactly sacrebleu's resamples (``corpus_score(...,
n_bootstrap=)``), and its interval is the one sacrebleu reports as μ ± half-width (tested).
"""

import numpy as np
import torch
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.bleu import MAX_NGRAM_ORDER

_BLEU, _CHRF = BLEU(), CHRF()
_ORDER = MAX_NGRAM_ORDER
_BLEU_KEYS = (
    *(f"bleu_match_{n}" for n in range(1, _ORDER + 1)),
    *(f"bleu_total_{n}" for n in range(1, _ORDER + 1)),
    "bleu_hyp_len",
    "bleu_ref_len",
)


def text_score_sums(hypotheses: list[str], references: list[str]) -> dict[str, torch.Tensor]:
    """One reference per hypothesis → the batch's statistics (float64 scalars)."""
    bleu = _BLEU.corpus_score(hypotheses, [references])
    values = [*bleu.counts, *bleu.totals, bleu.sys_len, bleu.ref_len]
    sums = dict(zip(_BLEU_KEYS, values, strict=True))
    per_sentence = _CHRF._extract_corpus_statistics(hypotheses, [references])
    chrf = [sum(column) for column in zip(*per_sentence, strict=True)]
    sums |= {f"chrf_{i}": value for i, value in enumerate(chrf)}
    return {k: torch.tensor(float(v), dtype=torch.float64) for k, v in sums.items()}


def text_scores(sums: dict[str, float]) -> dict[str, float]:
    """Summed statistics → {"bleu": 0–100, "chrf": 0–100} (sacrebleu's corpus scores)."""
    counts = [int(sums[f"bleu_match_{n}"]) for n in range(1, _ORDER + 1)]
    totals = [int(sums[f"bleu_total_{n}"]) for n in range(1, _ORDER + 1)]
    bleu = BLEU.compute_bleu(
        counts, totals, int(sums["bleu_hyp_len"]), int(sums["bleu_ref_len"]), smooth_method="exp"
    )
    chrf = [int(sums[k]) for k in sorted((k for k in sums if k.startswith("chrf_")), key=_index)]
    return {"bleu": bleu.score, "chrf": _CHRF._compute_score_from_stats(chrf).score}


def bleu_interval(
    hypotheses: list[str], references: list[str], resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """One reference per hypothesis → (corpus BLEU, low, high): the score (sacrebleu's, exactly)
    and the 95 % percentile interval of BLEU over ``resamples`` resamples of the sentences with
    replacement, drawn by ``numpy.random.default_rng(seed)`` as sacrebleu draws them (its seed
    is 12345). The bounds are sacrebleu's order statistics: the (R//40)-th smallest and largest
    of the R resampled scores. Memory: R × N counts (1,000 × 950 captions: 7.6 MB)."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(
            f"{len(hypotheses)} hypotheses for {len(references)} references; need as many, >0"
        )
    per_sentence = _BLEU._extract_corpus_statistics(hypotheses, [references])
    stats = np.array(per_sentence, dtype=np.float64)  # (N, 2 + 2·order): lengths, matches, totals
    score = _BLEU._compute_score_from_stats(list(stats.sum(0))).score
    n = len(stats)
    picks = np.random.default_rng(seed).choice(n, size=(resamples, n), replace=True)  # (R, N)
    rows = np.arange(resamples)[:, None] * n
    counts = np.bincount((picks + rows).ravel(), minlength=resamples * n).reshape(resamples, n)
    scores = np.sort(_bleu_of_sums(counts @ stats))  # (R,)
    cut = resamples // 40
    return score, float(scores[cut]), float(scores[resamples - cut - 1])


def _bleu_of_sums(sums: np.ndarray) -> np.ndarray:
    """(R, 2 + 2·order) summed statistics (hypothesis and reference lengths, n-gram matches,
    n-gram totals, as sacrebleu lists them) → (R,) BLEU scores: ``BLEU.compute_bleu`` with
    exponential smoothing, row by row at once."""
    sys_len, ref_len = sums[:, 0], sums[:, 1]
    correct, total = sums[:, 2 : 2 + _ORDER], sums[:, 2 + _ORDER :]
    with np.errstate(divide="ignore", invalid="ignore"):
        short = np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0)
        brevity = np.where(sys_len < ref_len, short, 1.0)
        # each order with no match (but some n-grams) halves the smoothed count again
        halvings = np.cumsum((correct == 0) & (total > 0), axis=1)
        smoothed = np.where(correct > 0, 100.0 * correct / total, 100.0 / (2.0**halvings * total))
        precisions = np.where(total > 0, smoothed, 0.0)
        logs = np.where(precisions > 0, np.log(precisions), -9999999999.0)  # sacrebleu's my_log
    scores = brevity * np.exp(logs.sum(axis=1) / _ORDER)
    return np.where(correct.any(axis=1), scores, 0.0)


def _index(key: str) -> int:
    return int(key.rsplit("_", 1)[1])


def signatures() -> dict[str, str]:
    """sacrebleu's signatures of the two scores, printed with a table of them."""
    return {
        name: str(metric(references=[["x"]]).get_signature())
        for name, metric in (("bleu", BLEU), ("chrf", CHRF))
    }
