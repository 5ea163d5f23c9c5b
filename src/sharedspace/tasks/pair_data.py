"""Aligned texts as sequence-to-sequence pairs: one side in, another out (en → de, words → tree).

The ``pairs`` view reads any ``ParallelSplits`` dataset (gettext, your translation_pairs, a
treebank's words and trees) and uses the rows holding both of its sides. Every task on one
dataset reads through ONE tokenizer, fitted once per process on the training text of every side
of the dataset (as MultiModel's one 8k-subword vocabulary for all its languages), so en → de,
de → en and en → fr tasks share one text cap and one language output net: their input and
target specs carry the same vocabulary digest. The tokenizer is restored from a checkpoint's
task state when there is one, so a resumed run reads the same ids.

Pairs longer than the view's lengths are dropped, never truncated: a truncated target teaches
the decoder to stop mid-sentence, and a truncated source asks for words it cannot see (dropped
validation or test pairs are warned of: the scores are on the rest). The defaults (48 source,
56 target tokens) keep 98.5–99.5 % of gettext's pairs in each direction and split (measured
with the 8k BPE); a split with no pair left is an error.
"""

import functools
import warnings
from dataclasses import dataclass
from typing import ClassVar

from sharedspace.data import TOKENIZERS, ParallelSplits, Tokenizer, tokenizer_from_state
from sharedspace.data.specs import TokensTarget
from sharedspace.data.text_scorer import TextScorer
from sharedspace.data.tokenizers import EOS_ID
from sharedspace.errors import ConfigError, clip
from sharedspace.tasks.data import (
    SPLITS,
    DataView,
    Split,
    TaskData,
    load_dataset,
    warn_unscored,
)
from sharedspace.tasks.seq2seq import SequenceToSequence
from sharedspace.tasks.text_data import PaddedTokens, TextConfig, padded, text_spec
from sharedspace.tasks.views import DATA_VIEWS


@functools.lru_cache(maxsize=8)
def _fitted(source: str, data_dir: str | None, kind: str, vocab_size: int) -> Tokenizer:
    """One tokenizer per (dataset, kind, size), fitted on the training text of all its sides."""
    data: ParallelSplits = load_dataset(source, data_dir)
    texts = [row[side] for row in data.train for side in data.sides if side in row]
    return TOKENIZERS.get(kind)(texts, vocab_size)


def pairs_tokenizer(source: str, cfg: TextConfig, data_dir: str | None, state: dict) -> Tokenizer:
    """The dataset's shared tokenizer: restored from a checkpoint's task state, else fitted."""
    if "tokenizer" in state:
        return tokenizer_from_state(state["tokenizer"])
    return _fitted(source, data_dir, cfg.tokenizer, cfg.vocab_size)


def _within(
    tokenizer: Tokenizer, rows: list[tuple[str, str]], seq_len: int, max_len: int
) -> list[tuple[list[int], list[int]]]:
    """(source ids, target ids + <eos>) of the pairs with 1 to ``seq_len`` source tokens and at
    most ``max_len`` target tokens (<eos> included), in order."""
    inputs = tokenizer.encode_batch([x for x, _ in rows])
    outputs = tokenizer.encode_batch([y for _, y in rows])
    return [
        (x, [*y, EOS_ID])
        for x, y in zip(inputs, outputs, strict=True)
        if 1 <= len(x) <= seq_len and len(y) < max_len
    ]


def target_scorer(
    data: ParallelSplits, side: str, tokenizer: Tokenizer, key: str
) -> TextScorer | None:
    """The data's scorer of ``side`` (``ParallelSplits.scorers``) when the tokenizer writes that
    side's training texts back exactly; else None, with a warning. A scorer reads the structure
    of the decoded text, which a lossy tokenizer breaks (``word`` writes a tree's ``-1`` back as
    ``- 1``), while BLEU and chrF only compare the two texts in its normal form."""
    scorer = data.scorers.get(side)
    texts = [row[side] for row in data.train if side in row] if scorer else []
    for text, ids in zip(texts, tokenizer.encode_batch(texts), strict=True):
        if (decoded := tokenizer.decode(ids)) != text:
            warnings.warn(
                f"{key}.tokenizer: {tokenizer.kind} writes {clip(text, 40)!r} back as "
                f"{clip(decoded, 40)!r}, so {', '.join(scorer.ratios)} are not reported; "
                f"bpe writes the {side} side exactly",
                stacklevel=2,
            )
            return None
    return scorer


@DATA_VIEWS.register(SequenceToSequence)
class Pairs(DataView):
    """``source_side`` text → ``target_side`` tokens then ``<eos>``, in the dataset's shared
    tokenizer; batches: ``x`` (B, seq_len) with ``x_mask``, ``y`` (B, max_len) with ``y_mask``."""

    kind = "text"
    target = "tokens"
    name = "pairs"
    reads = ParallelSplits

    @dataclass
    class Config(TextConfig):
        positive: ClassVar[tuple[str, ...]] = (*TextConfig.positive, "max_len")

        source_side: str = "en"  # the side read (a language code, "words", …)
        target_side: str = "de"  # the side written
        tokenizer: str = "bpe"
        vocab_size: int = 8000  # MultiModel's 8k subwords, shared by every side
        seq_len: int = 48  # the most source tokens; a longer pair is dropped
        max_len: int = 56  # the most target tokens, <eos> included; a longer pair is dropped

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.source_side == self.target_side:
                raise ConfigError(
                    f"target_side: {self.target_side!r} is the source_side too; name two sides"
                )

    @classmethod
    def texts(cls, source, cfg, data_dir):
        """The training rows' two sides the task reads (alone, it fits on every side)."""
        train = load_dataset(source, data_dir).train
        sides = (cfg.source_side, cfg.target_side)
        return {f"{source}.{side}": [row[side] for row in train if side in row] for side in sides}

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        data: ParallelSplits = load_dataset(source, data_dir)
        for field, side in (("source_side", cfg.source_side), ("target_side", cfg.target_side)):
            if side not in data.sides:
                raise ConfigError(
                    f"{key}.{field}: {side!r} is not a side of {source}; its sides: "
                    f"{', '.join(data.sides)}"
                )
        tokenizer = pairs_tokenizer(source, cfg, data_dir, state)
        a, b = cfg.source_side, cfg.target_side
        splits: dict[str, Split] = {}
        for split in SPLITS:
            rows = [(r[a], r[b]) for r in getattr(data, split) if a in r and b in r]
            kept = _within(tokenizer, rows, cfg.seq_len, cfg.max_len)
            why = f"empty or longer than seq_len {cfg.seq_len} / max_len {cfg.max_len}"
            warn_unscored(key, split, len(kept), len(rows), why)
            if not kept:
                raise ConfigError(
                    f"{key}: the {split} split of {source} has no {a} → {b} pair within "
                    f"seq_len {cfg.seq_len} and max_len {cfg.max_len} ({len(rows)} before the cap)"
                )
            ids, lengths = padded([x for x, _ in kept], cfg.seq_len)
            targets, target_lengths = padded([y for _, y in kept], cfg.max_len)
            pairs = PaddedTokens(ids, lengths, targets, target_lengths)
            splits[split] = pairs.first(cfg.train_size if split == "train" else cfg.eval_size)
        spec = text_spec(tokenizer, cfg.seq_len)
        target = TokensTarget(tokenizer.vocab_size, cfg.max_len, spec.vocabulary)
        state = {"tokenizer": tokenizer.state_dict()}
        scorer = target_scorer(data, b, tokenizer, key)
        return TaskData(splits, spec, target, state, tokenizer.decode, score_text=scorer)
