"""Scores of a decoded text by what it means, beyond BLEU and chrF: a dataset declares one for a
side whose text is a structure (``ParallelSplits.scorers``), and a task writing that side
reports them (``seq2seq``: uas and las of a decoded dependency tree).

A scorer keeps sums over sentences, as ``tasks.text_scores`` keeps BLEU's statistics, so batches
and processes add up and each ratio is taken once over a whole split (2 processes = 1).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sharedspace.data.dependency_tree import attachment, delinearise


@dataclass(frozen=True)
class TextScorer:
    """``sums(predictions, references)`` → this batch's sums (numbers, one key each);
    ``ratios``: each reported metric → (numerator key, denominator key) of the summed totals."""

    sums: Callable[[list[str], list[str]], dict[str, float]]
    ratios: Mapping[str, tuple[str, str]]

    def scores(self, totals: Mapping[str, float]) -> dict[str, float]:
        """The summed totals → each metric of ``ratios``."""
        return {name: totals[top] / totals[bottom] for name, (top, bottom) in self.ratios.items()}


def attachment_sums(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Tree tokens, and those with the right head (UAS's numerator) and the right head and label
    (LAS's), over sentences. A reference is ``linearise`` of a gold tree of n tokens (2n text
    tokens); its prediction is read by ``delinearise`` at that n, so a garbled or cut-short pair
    scores its token wrong and anything past 2n is ignored."""
    found = [
        attachment(delinearise(ref, n), delinearise(pred, n))
        for pred, ref in zip(predictions, references, strict=True)
        for n in [len(ref.split()) // 2]
    ]
    return {
        "tree_tokens": sum(a.tokens for a in found),
        "tree_heads": sum(a.unlabelled for a in found),
        "tree_arcs": sum(a.labelled for a in found),
    }


# unlabelled and labelled attachment scores of a dependency tree (0–1, per tree token)
ATTACHMENT = TextScorer(
    attachment_sums, {"uas": ("tree_heads", "tree_tokens"), "las": ("tree_arcs", "tree_tokens")}
)
