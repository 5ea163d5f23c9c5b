"""Text as tasks read it: next-token windows, labelled documents, reversal pairs, continuations.

One tokenizer per (corpus, tokenizer kind, vocabulary size), fitted once on the corpus's training
documents (or restored from a checkpoint), so every task on one corpus reads the same ids and can
share the text cap. Sequences of unequal length are padded with ``<pad>`` and carry a mask.
"""

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar

import torch

from sharedspace.data import TOKENIZERS, TextSplits, Tokenizer, encode_stream, tokenizer_from_state
from sharedspace.data.specs import ClassesTarget, TextSpec, TokensTarget, TokenTarget
from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.errors import ConfigError
from sharedspace.tasks.data import (
    SPLITS,
    DataView,
    Sizes,
    Split,
    TaskData,
    load_dataset,
    warn_unscored,
)

MAX_VOCAB = 1_000_000  # far above any corpus here; a BPE trainer asked for 10¹² aborts


@dataclass
class VocabularyConfig(Sizes):
    """Data fields of every view that tokenizes text."""

    tokenizer: str = "word"  # a TOKENIZERS name
    vocab_size: int = 10000  # size cap of the tokenizer, specials included
    # a name: the tasks that give one read ONE tokenizer, fitted on all their training text
    # (tasks/vocabulary.py); None: the tokenizer of this task's dataset
    vocabulary: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 8 <= self.vocab_size <= MAX_VOCAB:
            raise ConfigError(f"vocab_size: expected 8 to {MAX_VOCAB:,}, got {self.vocab_size}")


@dataclass
class TextConfig(VocabularyConfig):
    positive: ClassVar[tuple[str, ...]] = (*Sizes.positive, "seq_len")

    seq_len: int = 15  # tokens the model reads per example


@functools.lru_cache(maxsize=8)
def _fitted(source: str, data_dir: str | None, kind: str, vocab_size: int) -> Tokenizer:
    return TOKENIZERS.get(kind)(load_dataset(source, data_dir).train, vocab_size)


def tokenizer_for(source: str, cfg: TextConfig, data_dir: str | None, state: dict) -> Tokenizer:
    """The corpus's tokenizer: restored from a checkpoint's task state, else fitted (once)."""
    if "tokenizer" in state:
        return tokenizer_from_state(state["tokenizer"])
    return _fitted(source, data_dir, cfg.tokenizer, cfg.vocab_size)


def vocabulary(tokenizer: Tokenizer) -> str:
    """A digest of the tokenizer: equal digests, equal meaning of every id."""
    state = json.dumps(tokenizer.state_dict(), sort_keys=True).encode()
    return hashlib.sha256(state).hexdigest()[:16]


def text_spec(tokenizer: Tokenizer, seq_len: int) -> TextSpec:
    return TextSpec(tokenizer.vocab_size, seq_len, vocabulary(tokenizer))


def padded(sequences: list[list[int]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists of at most ``width`` ids → ids (N, width) padded with <pad>, lengths (N,)."""
    ids = torch.full((len(sequences), width), PAD_ID, dtype=torch.long)
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if sequences:
        flat = torch.tensor([t for s in sequences for t in s], dtype=torch.long)
        ids[_mask(lengths, width)] = flat  # row-major: each row's tokens in order
    return ids, lengths


def shuffled(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


@dataclass
class TokenWindows:
    """Windows of ``seq_len`` tokens and the token after each, ``stride`` apart in the stream."""

    stream: torch.Tensor  # (L,) int64
    seq_len: int
    stride: int = 1

    def __len__(self) -> int:
        return max(0, (len(self.stream) - self.seq_len - 1) // self.stride + 1)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        offsets = torch.arange(self.seq_len + 1)
        windows = self.stream[idx[:, None] * self.stride + offsets]  # (B, T + 1)
        return {"x": windows[:, :-1], "y": windows[:, -1]}

    def first(self, n: int | None) -> "TokenWindows":
        """The first ``n`` windows (all when None)."""
        end = None if n is None else (n - 1) * self.stride + self.seq_len + 1
        return TokenWindows(self.stream[:end], self.seq_len, self.stride)


class CorpusView(DataView):
    """A view of a corpus's documents; its training text is the corpus's training documents."""

    reads = TextSplits

    @classmethod
    def texts(cls, source, cfg, data_dir):
        return {source: load_dataset(source, data_dir).train}


class NextTokenWindows(CorpusView):
    """The corpus as one token stream (each document ends in ``<eos>``) read through windows."""

    kind = "text"
    target = "token"
    name = "next_token_windows"

    @dataclass
    class Config(TextConfig):
        positive: ClassVar[tuple[str, ...]] = (*TextConfig.positive, "stride")

        stride: int = 1  # step between consecutive training windows; held out: every token

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        corpus = load_dataset(source, data_dir)
        tokenizer = tokenizer_for(source, cfg, data_dir, state)
        splits = {}
        for split in SPLITS:
            stream = encode_stream(tokenizer, getattr(corpus, split))
            stride = cfg.stride if split == "train" else 1
            limit = cfg.train_size if split == "train" else cfg.eval_size
            splits[split] = TokenWindows(stream, cfg.seq_len, stride).first(limit)
            if len(splits[split]) == 0:
                raise ConfigError(
                    f"{key}: the {split} split of {source} has {len(stream)} tokens, "
                    f"too few for seq_len {cfg.seq_len}"
                )
        spec = text_spec(tokenizer, cfg.seq_len)
        target = TokenTarget(tokenizer.vocab_size, spec.vocabulary)
        return TaskData(splits, spec, target, state={"tokenizer": tokenizer.state_dict()})


@dataclass
class PaddedTokens:
    """Padded token sequences ``x`` with per-example targets: class ids (N,) or token
    sequences (N, L') padded with <pad> (then ``target_lengths`` gives their lengths)."""

    ids: torch.Tensor  # (N, T) int64
    lengths: torch.Tensor  # (N,)
    targets: torch.Tensor  # (N,) or (N, L')
    target_lengths: torch.Tensor | None = None  # (N,) for sequence targets

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.ids[idx]
        batch = {"x": x, "x_mask": _mask(self.lengths[idx], x.shape[1]), "y": self.targets[idx]}
        if self.target_lengths is not None:
            batch["y_mask"] = _mask(self.target_lengths[idx], self.targets.shape[1])
        return batch

    def first(self, n: int | None) -> "PaddedTokens":
        ends = None if self.target_lengths is None else self.target_lengths[:n]
        return PaddedTokens(self.ids[:n], self.lengths[:n], self.targets[:n], ends)


def _mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    return torch.arange(width) < lengths[:, None]  # (B, width) True at real positions


def _encode_documents(tokenizer: Tokenizer, docs: list[str], seq_len: int) -> list[list[int]]:
    """Each document's first ``seq_len`` tokens (at least one: an empty text reads as <eos>)."""
    return [ids[:seq_len] or [EOS_ID] for ids in tokenizer.encode_batch(docs)]


class Documents(CorpusView):
    """Whole documents (their first ``seq_len`` tokens), labelled by the corpus's categories —
    e.g. a fortune and the file it is filed in (art, computers, food, love, …)."""

    kind = "text"
    target = "classes"
    name = "documents"

    @dataclass
    class Config(TextConfig):
        seq_len: int = 64  # tokens read per document; longer documents are cut
        categories: list[str] | None = None  # the categories kept (None: all of the corpus's)

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        corpus = load_dataset(source, data_dir)
        if not corpus.categories:
            raise ConfigError(f"{key}: {source} has no document categories to classify")
        present = sorted(set(corpus.categories["train"]))
        classes = sorted(cfg.categories) if cfg.categories is not None else present
        missing = sorted(set(classes) - set(present))
        if missing or len(classes) < 2:
            raise ConfigError(
                f"{key}.categories: {missing or classes} — need two or more of {present}"
            )
        label = {name: i for i, name in enumerate(classes)}
        tokenizer = tokenizer_for(source, cfg, data_dir, state)
        splits: dict[str, Split] = {}
        for i, split in enumerate(SPLITS):
            pairs = [
                (doc, label[c])
                for doc, c in zip(getattr(corpus, split), corpus.categories[split], strict=True)
                if c in label
            ]
            docs = _encode_documents(tokenizer, [d for d, _ in pairs], cfg.seq_len)
            ids, lengths = padded(docs, cfg.seq_len)
            labels = torch.tensor([y for _, y in pairs], dtype=torch.long)
            order = shuffled(len(pairs), seed + i)  # files are in category order: mix them
            data = PaddedTokens(ids[order], lengths[order], labels[order])
            splits[split] = data.first(cfg.train_size if split == "train" else cfg.eval_size)
        spec, target = text_spec(tokenizer, cfg.seq_len), ClassesTarget(tuple(classes))
        return TaskData(splits, spec, target, state={"tokenizer": tokenizer.state_dict()})


class ReversalPairs(CorpusView):
    """Sequence-to-sequence pairs from real text: the first k tokens of a document and the same
    tokens in reverse order, then ``<eos>``; k is drawn per document (seeded) from
    [min_len, seq_len], so inputs and outputs have unequal lengths and need their masks."""

    kind = "text"
    target = "tokens"
    name = "reversal_pairs"

    @dataclass
    class Config(TextConfig):
        seq_len: int = 8  # longest input; the output is one longer (its <eos>)
        min_len: int = 3

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 1 <= self.min_len <= self.seq_len:
                raise ConfigError(
                    f"min_len: need 1 ≤ min_len ≤ seq_len ({self.seq_len}), got {self.min_len}"
                )

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        corpus = load_dataset(source, data_dir)
        tokenizer = tokenizer_for(source, cfg, data_dir, state)
        splits: dict[str, Split] = {}
        for i, split in enumerate(SPLITS):
            docs = _encode_documents(tokenizer, getattr(corpus, split), cfg.seq_len)
            draw = torch.Generator().manual_seed(seed + i)
            wanted = torch.randint(cfg.min_len, cfg.seq_len + 1, (len(docs),), generator=draw)
            inputs = [ids[:k] for ids, k in zip(docs, wanted.tolist(), strict=True)]
            ids, lengths = padded(inputs, cfg.seq_len)
            targets, target_lengths = padded([[*s[::-1], EOS_ID] for s in inputs], cfg.seq_len + 1)
            data = PaddedTokens(ids, lengths, targets, target_lengths)
            splits[split] = data.first(cfg.train_size if split == "train" else cfg.eval_size)
        spec = text_spec(tokenizer, cfg.seq_len)
        target = TokensTarget(tokenizer.vocab_size, cfg.seq_len + 1, spec.vocabulary)
        return TaskData(splits, spec, target, state={"tokenizer": tokenizer.state_dict()})


def _halves(docs: list[list[int]], seq_len: int, max_len: int) -> list[tuple[list[int], list[int]]]:
    """(first ⌊n/2⌋ ids, the other ids + <eos>) of each document of n ≥ 2 ids whose halves fit
    ``seq_len`` and ``max_len``, in order."""
    halves = ((ids[: len(ids) // 2], [*ids[len(ids) // 2 :], EOS_ID]) for ids in docs)
    return [(x, y) for x, y in halves if 1 <= len(x) <= seq_len and len(y) <= max_len]


class Continuations(CorpusView):
    """Language modelling as sequence to sequence: a document of n tokens is read as its first
    ⌊n/2⌋ tokens, and its other ⌈n/2⌉ tokens then ``<eos>`` are written. A body that decodes
    from an input (MultiModel's) so models the corpus's text; the task's perplexity is that of a
    continuation given its start. Documents of one token, or longer than the lengths, are dropped
    (as ``pairs`` drops long pairs), shuffled (a corpus is filed by category) and padded."""

    kind = "text"
    target = "tokens"
    name = "continuations"
    by_name = True  # seq2seq on a corpus is reversal_pairs unless a config asks for this

    @dataclass
    class Config(TextConfig):
        positive: ClassVar[tuple[str, ...]] = (*TextConfig.positive, "max_len")

        seq_len: int = 32  # the most tokens of a start; a longer document is dropped
        max_len: int = 48  # the most continuation tokens, <eos> included; longer: dropped

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        corpus = load_dataset(source, data_dir)
        tokenizer = tokenizer_for(source, cfg, data_dir, state)
        splits: dict[str, Split] = {}
        for i, split in enumerate(SPLITS):
            docs = tokenizer.encode_batch(getattr(corpus, split))
            kept = _halves(docs, cfg.seq_len, cfg.max_len)
            why = f"of one token or longer than seq_len {cfg.seq_len} / max_len {cfg.max_len}"
            warn_unscored(key, split, len(kept), len(docs), why)
            if not kept:
                raise ConfigError(
                    f"{key}: the {split} split of {source} has no document of 2 to "
                    f"{cfg.seq_len + cfg.max_len - 1} tokens ({len(docs)} documents)"
                )
            order = shuffled(len(kept), seed + i).tolist()
            ids, lengths = padded([kept[j][0] for j in order], cfg.seq_len)
            targets, target_lengths = padded([kept[j][1] for j in order], cfg.max_len)
            data = PaddedTokens(ids, lengths, targets, target_lengths)
            splits[split] = data.first(cfg.train_size if split == "train" else cfg.eval_size)
        spec = text_spec(tokenizer, cfg.seq_len)
        target = TokensTarget(tokenizer.vocab_size, cfg.max_len, spec.vocabulary)
        return TaskData(splits, spec, target, state={"tokenizer": tokenizer.state_dict()})
