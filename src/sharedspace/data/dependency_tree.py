"""Dependency trees as token sequences a decoder writes, and back: the relative-head encoding.

A tree over n tokens gives each token its head (the 1-based index of another token, 0 for the
root) and the label of that arc. It is written as 2n whitespace-separated tokens, per token the
head's *offset* from it, then the label: ``1 nn -2 amod 0 root`` reads "my head is the next
token (nn); the one two back (amod); I am the root". This is the relative positional head
encoding of Strzyz, Vilares & Gómez-Rodríguez (2019), "Viable Dependency Parsing as Sequence
Labeling" (NAACL), emitted token by token by a decoder as in Li, Cai, He & Zhao (2018), "Seq2seq
Dependency Parsing" (COLING). 0 can stand for the root because no token heads itself. Unlike a
bracketed linearisation (Vinyals et al. 2015, "Grammar as a Foreign Language") its length is fixed
by the input (2n), so per-token accuracy compares position by position. A rightward offset has no
``+``: a byte-level BPE splits a sign into a token of its own, and in head-final Turkish 82 % of
offsets point right, so the tree costs about 2.1 subword tokens a word instead of 3.

``delinearise`` is the exact inverse of ``linearise`` and never fails on a prediction: a missing
or malformed pair, or an offset that leaves the sentence, gives that token head ``UNKNOWN`` and
label "" (scored wrong), and tokens past 2n are ignored, so ``attachment`` (exact match, unlabelled
and labelled attachment) is defined for any output.
"""

import re
from dataclasses import dataclass

UNKNOWN = -1  # the head of a token whose pair a prediction lacks or garbles
ROOT_OFFSET = "0"
# the canonical spellings linearise writes (no "+", no leading zeros); anything else is malformed
OFFSET = re.compile(r"0|-?[1-9][0-9]{0,8}")


@dataclass(frozen=True)
class DependencyTree:
    """Per token (in sentence order): its head, 1-based (0 = the root; ``UNKNOWN`` only in a
    decoded prediction), and the label of the arc from that head."""

    heads: tuple[int, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.heads) != len(self.labels):
            raise ValueError(f"{len(self.heads)} heads but {len(self.labels)} labels")


@dataclass(frozen=True)
class Attachment:
    """How a predicted tree matches the gold one: counts to sum over a split, then divide."""

    tokens: int
    unlabelled: int  # tokens whose head is right (UAS numerator)
    labelled: int  # tokens whose head and label are right (LAS numerator)
    exact: bool  # every head and label right: the paper's "full" (exact match)


def linearise(tree: DependencyTree) -> str:
    """The tree as 2n tokens, per token its head's offset (``k`` right, ``-k`` left, ``0`` =
    root) and its label. Labels must be single non-empty tokens without whitespace."""
    return " ".join(
        f"{ROOT_OFFSET if head == 0 else head - i} {label}"
        for i, (head, label) in enumerate(zip(tree.heads, tree.labels, strict=True), start=1)
    )


def delinearise(text: str, length: int) -> DependencyTree:
    """The tree of an ``length``-token sentence that ``text`` writes; never raises.

    Pair i (tokens 2i, 2i+1) is token i+1's offset and label. A missing or non-canonical
    offset (``+1``, ``01``, ``x``) or one pointing outside tokens 1..length gives head
    ``UNKNOWN``; a missing label gives ""; tokens past the 2·length-th are ignored.
    """
    tokens = text.split()
    heads, labels = [], []
    for i in range(1, length + 1):
        pair = tokens[2 * i - 2 : 2 * i]
        heads.append(_head(pair[0], i, length) if pair else UNKNOWN)
        labels.append(pair[1] if len(pair) == 2 else "")
    return DependencyTree(tuple(heads), tuple(labels))


def _head(offset: str, i: int, length: int) -> int:
    """The head that ``offset`` gives token ``i`` of a ``length``-token sentence, or UNKNOWN."""
    if not OFFSET.fullmatch(offset):
        return UNKNOWN
    if offset == ROOT_OFFSET:
        return 0
    head = i + int(offset)
    return head if 1 <= head <= length else UNKNOWN


def attachment(gold: DependencyTree, predicted: DependencyTree) -> Attachment:
    """Compare a prediction (from ``delinearise`` with the gold length) with the gold tree."""
    if len(gold.heads) != len(predicted.heads):
        raise ValueError(f"{len(gold.heads)} gold tokens, {len(predicted.heads)} predicted")
    heads = [g == p for g, p in zip(gold.heads, predicted.heads, strict=True)]
    both = [h and g == p for h, g, p in zip(heads, gold.labels, predicted.labels, strict=True)]
    return Attachment(len(heads), sum(heads), sum(both), all(both))
