"""Tokenizers: text to ids and back, with one set of special ids and a JSON state for checkpoints.

Two kinds, both fitted on training text only:
- ``word``: WikiText-style word level (Merity et al. 2016): the most frequent words, everything
  else ``<unk>``. Its perplexities compare with published word-level WikiText numbers.
- ``bpe``: byte-level BPE through HuggingFace ``tokenizers`` (as GPT-2; MultiModel used 8k
  subwords), so no text is ever unknown.
Every tokenizer shares ``<pad>`` = 0, ``<unk>`` = 1, ``<eos>`` = 2, so heads and losses need not
know which one a run used.
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


class Tokenizer(ABC):
    """What every tokenizer offers; ids below ``vocab_size``, specials at 0, 1, 2."""

    kind: ClassVar[str]  # the TOKENIZERS name, stored in state_dict
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
    PATTERN = re.compile(r"<unk>|\w+|[^\w\s]")

    def __init__(self, words: list[str]) -> None:
        self.tokens = [*SPECIALS, *words]
        self.ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int) -> "WordTokenizer":
        """Keep the ``vocab_size - 3`` most frequent words; ties go to the word seen first."""
        _check_size(vocab_size, len(SPECIALS) + 1)
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
        words = state.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DataError("word tokenizer state: 'words' must be a list of strings")
        if len(set(words) | set(SPECIALS)) != len(words) + len(SPECIALS):
            raise DataError("word tokenizer state: 'words' repeat a word or hold a special token")
        return cls(words)


@_register
class BPETokenizer(Tokenizer):
    """Byte-level BPE: any text encodes, and decode(encode(text)) gives the text back."""

    kind = "bpe"

    def __init__(self, hf: HFTokenizer) -> None:
        self.hf = hf

    @classmethod
    def fit(cls, texts: list[str], vocab_size: int) -> "BPETokenizer":
        """Learn merges up to ``vocab_size`` ids (the 256 byte symbols and 3 specials included)."""
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        _check_size(vocab_size, len(SPECIALS) + len(alphabet))
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIALS),  # added first, so they get ids 0, 1, 2
            initial_alphabet=alphabet,
            show_progress=False,
        )
        hf.train_from_iterator(texts, trainer, length=len(texts))
        return cls(hf)

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
        try:
            hf = HFTokenizer.from_str(json.dumps(state["tokenizer"]))
        except Exception as e:  # the library raises plain Exception on bad JSON
            raise DataError(f"bpe tokenizer state is not a valid tokenizer ({e})") from e
        if [hf.token_to_id(s) for s in SPECIALS] != [PAD_ID, UNK_ID, EOS_ID]:
            raise DataError(f"bpe tokenizer state: specials {SPECIALS} are not ids 0, 1, 2")
        return cls(hf)


def _check_size(vocab_size: int, minimum: int) -> None:
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ConfigError(f"vocab_size: {vocab_size!r} is too small, at least {minimum}")


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its ``state_dict()`` (as stored in a checkpoint)."""
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind not in TOKENIZER_CLASSES:
        raise DataError(f"tokenizer state: kind {kind!r} is not one of {sorted(TOKENIZER_CLASSES)}")
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
