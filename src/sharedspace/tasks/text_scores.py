"""BLEU and chrF of decoded text (sacrebleu), kept as sums so batches and processes add up.

Corpus BLEU and chrF are functions of statistics summed over sentences (n-gram matches and
totals, lengths; character and word n-gram counts), which is how sacrebleu itself scores a
corpus. A task's ``metric_sums`` adds this batch's statistics under scalar keys; ``text_scores``
turns the totals into the corpus scores, equal to ``sacrebleu.corpus_bleu`` / ``corpus_chrf`` on
every sentence at once (tested). Defaults are sacrebleu's: BLEU with its 13a tokenizer and
exponential smoothing, chrF with character order 6, no word n-grams (``signatures``). chrF's
statistics come from two of its underscored methods, stable through sacrebleu 2.x (pinned <3).
"""

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


def _index(key: str) -> int:
    return int(key.rsplit("_", 1)[1])


def signatures() -> dict[str, str]:
    """sacrebleu's signatures of the two scores, printed with a table of them."""
    return {
        name: str(metric(references=[["x"]]).get_signature())
        for name, metric in (("bleu", BLEU), ("chrf", CHRF))
    }
