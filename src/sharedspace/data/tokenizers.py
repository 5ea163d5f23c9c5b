"""Tokenizers: text to ids and back, with one set of special ids and a JSON state for checkpoints.

Three kinds, all fitted on training text only:
- ``word``: WikiText-style word level (Merity et al. 2016): the most frequent words, everything
  else ``<unk>``. Its perplexities compare with published word-level WikiText numbers.
- ``bpe``: byte-level BPE through HuggingFace ``tokenizers`` (as GPT-2; MultiModel used 8k
  subwords), so no text is ever unknown.
- ``char``: one id per character (the most frequent ones), as character-level speech
  recognisers write transcripts: a small softmax, and every spelling of a seen alphabet.
Every tokenizer shares ``<pad>`` = 0, ``<unk>`` = 1, ``<eos>`` = 2, so heads and losses need not
know which one a run used.

A state read back (from a checkpoint or a weights file someone sent) is untrusted: each kind
rebuilds its tokenizer with its own constructor from the data in the state (words; vocabulary and
merges) and refuses anything else, so no regex, normalizer or setting from a file ever reaches the
tokenizers library.
"""

import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from itertools import chain
from typing import Any, ClassVar, TypeVar

import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from sharedspace.errors import ConfigError, DataError
from sharedspace.registry import Registry

SPECIALS = ("<pad>", "<unk>", "<eos>")
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2
MAX_VOCAB = 1_000_000  # as TextConfig.vocab_size's bound: a larger state is not one of ours
MAX_TOKEN_CHARS = 10_000  # far above any word or BPE token a corpus gives
# what byte-level BPE tokens are made of
BYTE_SYMBOLS = frozenset(pre_tokenizers.ByteLevel.alphabet())


class Tokenizer(ABC):
    """What every tokenizer offers; ids below ``vocab_size``, specials at 0, 1, 2."""

    kind: ClassVar[str]  # the TOKENIZERS name, stored in state_dict
    min_vocab_size: ClassVar[int]  # the fewest ids ``fit`` accepts (``validate`` checks it early)
    pad_id = PAD_ID
    unk_id = UNK_ID
    eos_id = EOS_ID

    @classmethod
    @abstractmethod
    def fit(cls, texts: list[str], vocab_size: int) -> "Tokenizer":
        """Learn a vocabulary of at most ``vocab_size`` ids (specials included) from ``texts``."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> "Tokenizer": ...

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``; ``<pad>`` is dropped, ``<unk>`` and ``<eos>`` are shown."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict that ``tokenizer_from_state`` rebuilds this tokenizer from."""

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]


TOKENIZERS: Registry[Callable[[list[str], int], Tokenizer]] = Registry("tokenizer")
TOKENIZER_CLASSES: dict[str, type[Tokenizer]] = {}  # kind -> class, for tokenizer_from_state
TokenizerType = TypeVar("TokenizerType", bound=type[Tokenizer])


def _register(cls: TokenizerType) -> TokenizerType:
    """Name a tokenizer class once: its ``fit`` in TOKENIZERS, itself for rebuilding from state."""
    TOKENIZERS.register(cls.kind)(cls.fit)
    TOKENIZER_CLASSES[cls.kind] = cls
    return cls


@_register
class WordTokenizer(Tokenizer):
    """Lowercased words and punctuation marks, capped to the most frequent ones.

    A literal ``<unk>`` in the text (WikiText has them) is our unk id, not three tokens.
    """

    kind = "word"
    min_vocab_size = len(SPECIALS) + 1
    PATTERN = re.compile(r"<unk>|\w+|[^\w\s]")

    def __init__(self, words: list[str]) -> None:
        self.tokens = [*SPECIALS, *words]
        self.ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int) -> "WordTokenizer":
        """Keep the ``vocab_size - 3`` most frequent words; ties go to the word seen first."""
        _check_size(vocab_size, cls.min_vocab_size)
        counts = Counter(chain.from_iterable(cls.split(text) for text in texts))
        for special in SPECIALS:
            counts.pop(special, None)
        # sorted() is stable and a Counter keeps first-seen order, so ties go to the first seen
        ranked = sorted(counts, key=counts.__getitem__, reverse=True)
        return cls(ranked[: vocab_size - len(SPECIALS)])

    @classmethod
    def split(cls, text: str) -> list[str]:
        return cls.PATTERN.findall(text.lower())

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        get = self.ids.get
        return [get(word, UNK_ID) for word in self.split(text)]

    def decode(self, ids: list[int]) -> str:
        if ids and not 0 <= min(ids) <= max(ids) < len(self.tokens):
            raise ValueError(f"ids must be in 0..{len(self.tokens) - 1}")
        return " ".join(self.tokens[i] for i in ids if i != PAD_ID)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "words": self.tokens[len(SPECIALS) :]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "WordTokenizer":
        _check_keys(cls.kind, state, {"kind", "words"})
        words = state.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DataError("word tokenizer state: 'words' must be a list of strings")
        _check_tokens(cls.kind, words, "words", len(SPECIALS))
        if len(set(words) | set(SPECIALS)) != len(words) + len(SPECIALS):
            raise DataError("word tokenizer state: 'words' repeat a word or hold a special token")
        return cls(words)


@_register
class BPETokenizer(Tokenizer):
    """Byte-level BPE: any text encodes, and decode(encode(text)) gives the text back."""

    kind = "bpe"
    min_vocab_size = len(SPECIALS) + len(BYTE_SYMBOLS)  # the specials and the 256 byte symbols

    def __init__(self, hf: HFTokenizer) -> None:
        self.hf = hf

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int) -> "BPETokenizer":
        """Learn merges up to ``vocab_size`` ids (the 256 byte symbols and 3 specials included)."""
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        _check_size(vocab_size, cls.min_vocab_size)
        hf = cls.byte_level(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIALS),  # added first, so they get ids 0, 1, 2
            initial_alphabet=alphabet,
            show_progress=False,
        )
        hf.train_from_iterator(texts, trainer, length=len(texts))
        return cls(hf)

    @staticmethod
    def byte_level(model: models.BPE) -> HFTokenizer:
        """The one way sharedspace sets up a BPE tokenizer, for ``fit`` and ``from_state``."""
        hf = HFTokenizer(model)
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        return hf

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Encoded in parallel by the Rust library, much faster than one call per text."""
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode([i for i in ids if i != PAD_ID], skip_special_tokens=False)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer": json.loads(self.hf.to_str())}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "BPETokenizer":
        """Rebuilt from the vocabulary and merges alone; every other field must be what
        ``byte_level`` writes (a field an older library did not write may be missing)."""
        _check_keys(cls.kind, state, {"kind", "tokenizer"})
        stored = state.get("tokenizer")
        model = stored.get("model") if isinstance(stored, dict) else None
        if not isinstance(model, dict) or "vocab" not in model or "merges" not in model:
            raise DataError("bpe tokenizer state: 'tokenizer' lacks its model's vocab and merges")
        vocab = _bpe_vocab(model["vocab"])
        merges = _bpe_merges(model["merges"], vocab)
        hf = cls.byte_level(models.BPE(vocab=vocab, merges=merges))
        hf.add_special_tokens(list(SPECIALS))  # already ids 0, 1, 2 of vocab
        problem = _difference(_settings(stored), _settings(json.loads(hf.to_str())), "tokenizer")
        if problem is not None:
            raise DataError(f"bpe tokenizer state: {problem}; not a tokenizer sharedspace writes")
        return cls(hf)


@_register
class CharTokenizer(Tokenizer):
    """Characters as they are written (case and spaces kept), capped to the most frequent ones;
    decode(encode(text)) gives back any text of seen characters."""

    kind = "char"
    min_vocab_size = len(SPECIALS) + 1

    def __init__(self, chars: list[str]) -> None:
        self.tokens = [*SPECIALS, *chars]
        self.ids = {char: i for i, char in enumerate(chars, len(SPECIALS))}

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int) -> "CharTokenizer":
        """Keep the ``vocab_size - 3`` most frequent characters; ties go to the one seen first."""
        _check_size(vocab_size, cls.min_vocab_size)
        counts = Counter(chain.from_iterable(texts))
        ranked = sorted(counts, key=counts.__getitem__, reverse=True)  # stable: first seen first
        return cls(ranked[: vocab_size - len(SPECIALS)])

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        get = self.ids.get
        return [get(char, UNK_ID) for char in text]

    def decode(self, ids: list[int]) -> str:
        if ids and not 0 <= min(ids) <= max(ids) < len(self.tokens):
            raise ValueError(f"ids must be in 0..{len(self.tokens) - 1}")
        return "".join(self.tokens[i] for i in ids if i != PAD_ID)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": self.tokens[len(SPECIALS) :]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "CharTokenizer":
        _check_keys(cls.kind, state, {"kind", "chars"})
        chars = state.get("chars")
        if not isinstance(chars, list) or not all(
            isinstance(c, str) and len(c) == 1 for c in chars
        ):
            raise DataError("char tokenizer state: 'chars' must be a list of single characters")
        _check_tokens(cls.kind, chars, "chars", len(SPECIALS))
        if len(set(chars)) != len(chars):
            raise DataError("char tokenizer state: 'chars' repeat a character")
        return cls(chars)


def _check_size(vocab_size: int, minimum: int) -> None:
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ConfigError(f"vocab_size: {vocab_size!r} is too small, at least {minimum}")


def _check_keys(kind: str, state: dict[str, Any], keys: set[str]) -> None:
    extra = next((key for key in state if key not in keys), None)
    if extra is not None:
        raise DataError(
            f"{kind} tokenizer state: {str(extra)[:40]!r} is not a key sharedspace writes"
        )


def _check_tokens(kind: str, tokens: list[str] | dict[str, int], where: str, specials: int) -> None:
    """A vocabulary of sharedspace's size: at most ``MAX_VOCAB`` ids, no empty or huge token."""
    if len(tokens) + specials > MAX_VOCAB:
        raise DataError(
            f"{kind} tokenizer state: '{where}' holds {len(tokens):,} tokens, over {MAX_VOCAB:,}"
        )
    for token in tokens:
        if not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise DataError(
                f"{kind} tokenizer state: '{where}' holds a token of {len(token):,} characters "
                f"(1 to {MAX_TOKEN_CHARS:,} expected)"
            )


def _bpe_vocab(vocab: Any) -> dict[str, int]:
    """The stored vocabulary, checked before the library sees it: byte-level tokens with the ids
    0..n-1 once each, the specials at 0, 1, 2."""
    where = "tokenizer.model.vocab"
    if not isinstance(vocab, dict) or not all(
        isinstance(token, str) and type(i) is int for token, i in vocab.items()
    ):
        raise DataError(f"bpe tokenizer state: '{where}' must map tokens to integer ids")
    _check_tokens("bpe", vocab, where, 0)
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise DataError(f"bpe tokenizer state: '{where}' ids are not 0..{len(vocab) - 1} once each")
    if [vocab.get(s) for s in SPECIALS] != [PAD_ID, UNK_ID, EOS_ID]:
        raise DataError(f"bpe tokenizer state: specials {SPECIALS} are not ids 0, 1, 2")
    foreign = next((t for t in vocab if t not in SPECIALS and not BYTE_SYMBOLS.issuperset(t)), None)
    if foreign is not None:
        raise DataError(f"bpe tokenizer state: '{where}' token {foreign[:40]!r} is not byte-level")
    return vocab


def _bpe_merges(merges: Any, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """The stored merges as pairs of vocabulary tokens whose join is a token too; older
    ``tokenizers`` versions wrote each pair as one string ``"a b"``."""
    where = "tokenizer.model.merges"
    if not isinstance(merges, list) or len(merges) > len(vocab):
        raise DataError(f"bpe tokenizer state: '{where}' must be a list, at most one per token")
    pairs = []
    for i, merge in enumerate(merges):
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(part, str) and part in vocab for part in pair)
            and pair[0] + pair[1] in vocab
        ):
            raise DataError(
                f"bpe tokenizer state: '{where}[{i}]' is not a pair of tokens whose join is a token"
            )
        pairs.append((pair[0], pair[1]))
    return pairs


def _settings(tokenizer: dict[str, Any]) -> dict[str, Any]:
    """A BPE tokenizer's JSON without its data (vocabulary and merges): what sharedspace chose."""
    model = {k: v for k, v in tokenizer["model"].items() if k not in ("vocab", "merges")}
    return {**tokenizer, "model": model}


def _difference(stored: Any, written: Any, where: str) -> str | None:
    """Where ``stored`` departs from ``written`` (None if nowhere): a key ``written`` lacks, or
    another value. Only ``written``'s shallow structure is walked, so any nesting is cheap."""
    if isinstance(stored, dict) and isinstance(written, dict):
        extra = next((key for key in stored if key not in written), None)
        if extra is not None:
            return f"'{where}.{str(extra)[:40]}' is not a field sharedspace writes"
        parts = [(key, f"{where}.{key}") for key in stored]
    elif isinstance(stored, list) and isinstance(written, list) and len(stored) == len(written):
        parts = [(i, f"{where}[{i}]") for i in range(len(stored))]
    elif type(stored) is type(written) and stored == written:
        return None
    else:
        return f"'{where}' is {_shown(stored)} where sharedspace writes {_shown(written)}"
    found = (_difference(stored[key], written[key], name) for key, name in parts)
    return next((problem for problem in found if problem is not None), None)


def _shown(value: Any) -> str:
    """A short description of a JSON value for an error message."""
    if isinstance(value, dict | list):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, str):
        return json.dumps(value[:40])
    return json.dumps(value, default=lambda v: type(v).__name__)[:40]  # a checkpoint's tensor


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its ``state_dict()`` (as stored in a checkpoint or weights file,
    so untrusted); any other state is a one-line ``DataError`` naming the field."""
    kind = state.get("kind") if isinstance(state, dict) else None
    if not isinstance(kind, str) or kind not in TOKENIZER_CLASSES:
        raise DataError(
            f"tokenizer state: kind {_shown(kind)} is not one of {sorted(TOKENIZER_CLASSES)}"
        )
    return TOKENIZER_CLASSES[kind].from_state(state)


def encode_stream(tokenizer: Tokenizer, docs: list[str]) -> torch.Tensor:
    """All documents as one 1-D int64 stream, each followed by ``<eos>``, for language modelling."""
    encoded = tokenizer.encode_batch(docs)
    lengths = torch.tensor([len(ids) + 1 for ids in encoded], dtype=torch.long)
    stream = torch.full((int(lengths.sum()),), tokenizer.eos_id, dtype=torch.long)
    ends = lengths.cumsum(0) - 1  # where each document's eos goes
    keep = torch.ones(len(stream), dtype=torch.bool)
    keep[ends] = False
    stream[keep] = torch.tensor(list(chain.from_iterable(encoded)), dtype=torch.long)
    return stream
