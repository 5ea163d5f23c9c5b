"""Scores of a decoded text by what it means, beyond BLEU and chrF: a dataset declares one for a
side whose text is a structure (``ParallelSplits.scorers``), and a task writing that side
reports them (``seq2seq``: uas and las of a decoded dependency tree, labelled bracket precision,
recall and F1 of a decoded constituency tree).

A scorer keeps sums over sentences, as ``tasks.text_scores`` keeps BLEU's statistics, so batches
and processes add up and each ratio is taken once over a whole split (2 processes = 1).
"""

from collections import Counter
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
        """The summed totals → each metric of ``ratios`` (0 over an empty denominator: no bracket
        predicted has no precision to speak of)."""
        return {
            name: totals[top] / totals[bottom] if totals[bottom] else 0.0
            for name, (top, bottom) in self.ratios.items()
        }


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


def brackets(tree: str) -> Counter:
    """The labelled spans (label, first word, past the last word) of a tree linearised as
    Vinyals et al. (2015) wrote it, ``(S (NP XX XX ) (VP XX ) )``: "(LABEL" opens, ")" closes,
    any other token is a word. Read leniently, as a decoder may garble it: a stray ")" is
    skipped, brackets left open close at the end."""
    spans: Counter = Counter()
    stack: list[tuple[str, int]] = []
    words = 0
    for token in tree.split():
        if token.startswith("(") and len(token) > 1:
            stack.append((token[1:], words))
        elif token == ")":
            if stack:
                label, start = stack.pop()
                spans[label, start, words] += 1
        else:
            words += 1
    spans.update((label, start, words) for label, start in stack)
    return spans


def bracket_sums(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Brackets predicted, in the reference, and matched (label and span, as a multiset) over
    sentences: EVALB's labelled counts, every bracket counted (the root too; no punctuation
    rule, as the words are all ``XX``)."""
    matched = predicted = gold = 0
    for pred, ref in zip(predictions, references, strict=True):
        found, wanted = brackets(pred), brackets(ref)
        matched += sum((found & wanted).values())
        predicted += sum(found.values())
        gold += sum(wanted.values())
    return {
        "brackets_matched": matched,
        "brackets_matched_twice": 2 * matched,
        "brackets_predicted": predicted,
        "brackets_gold": gold,
        "brackets_both": predicted + gold,
    }


# labelled bracket precision, recall and F1 of a constituency tree (0–1, over a split's brackets)
BRACKETS = TextScorer(
    bracket_sums,
    {
        "bracket_precision": ("brackets_matched", "brackets_predicted"),
        "bracket_recall": ("brackets_matched", "brackets_gold"),
        "bracket_f1": ("brackets_matched_twice", "brackets_both"),
    },
)
