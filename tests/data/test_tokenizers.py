import json

import pytest
import torch

from sharedspace.data import TOKENIZERS, Tokenizer, encode_stream, tokenizer_from_state
from sharedspace.errors import ConfigError, DataError

TEXTS = [
    "The cat sat on the mat.",
    "The dog sat on the log!",
    "A <unk> word , and the cat ran .",
    "Zebra quagga; the end.",
]


@pytest.fixture(scope="module")
def word():
    return TOKENIZERS.get("word")(TEXTS, 12)


@pytest.fixture(scope="module")
def bpe():
    return TOKENIZERS.get("bpe")(TEXTS * 5, 300)


def test_specials_are_shared(word, bpe):
    for tok in (word, bpe):
        assert isinstance(tok, Tokenizer)
        assert (tok.pad_id, tok.unk_id, tok.eos_id) == (0, 1, 2)


def test_word_vocabulary_is_the_most_frequent_words(word):
    # the: 6, ".": 3, then cat/sat/on: 2 each and mat/dog/log/!: 1 each, in order of first use
    assert word.vocab_size == 12
    assert word.state_dict()["words"] == ["the", ".", "cat", "sat", "on", "mat", "dog", "log", "!"]


def test_word_fit_is_deterministic_and_capped():
    a = TOKENIZERS.get("word")(TEXTS, 12).state_dict()
    b = TOKENIZERS.get("word")(list(TEXTS), 12).state_dict()
    assert a == b
    assert TOKENIZERS.get("word")(TEXTS, 1000).vocab_size == 3 + 18  # every distinct word


def test_word_round_trip_and_unknowns(word):
    ids = word.encode("The CAT sat on the mat.")
    assert word.decode(ids) == "the cat sat on the mat ."
    assert word.encode("zebra <unk> <UNK> cat") == [1, 1, 1, word.encode("cat")[0]]
    assert word.decode([0, 1, 2]) == "<unk> <eos>"  # pad dropped
    assert all(0 <= i < word.vocab_size for i in word.encode(" ".join(TEXTS)))


def test_word_never_learns_specials_as_words():
    tok = TOKENIZERS.get("word")(["<unk> <unk> <unk> a"], 10)
    assert tok.state_dict()["words"] == ["a"]


def test_bpe_round_trip_is_lossless(bpe):
    text = "The zebra sat!  Unseen: naïve 東京\n\tend"
    assert bpe.decode(bpe.encode(text)) == text
    assert bpe.vocab_size <= 300


def test_bpe_maps_literal_unk_to_unk_id(bpe):
    assert 1 in bpe.encode("a <unk> b")


def test_bpe_fit_is_deterministic(bpe):
    again = TOKENIZERS.get("bpe")(TEXTS * 5, 300)
    assert again.state_dict() == bpe.state_dict()


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_state_dict_rebuilds_identical_encodings(kind, word, bpe):
    tok = {"word": word, "bpe": bpe}[kind]
    state = json.loads(json.dumps(tok.state_dict()))  # as it comes back from a checkpoint
    rebuilt = tokenizer_from_state(state)
    assert type(rebuilt) is type(tok)
    assert rebuilt.vocab_size == tok.vocab_size
    for text in [*TEXTS, "unseen words <unk> here"]:
        assert rebuilt.encode(text) == tok.encode(text)


@pytest.mark.parametrize(
    "state",
    [
        {"kind": "sentencepiece"},
        {"words": ["a"]},
        {"kind": "word", "words": "abc"},
        {"kind": "word", "words": ["a", "a"]},
        {"kind": "word", "words": ["<eos>"]},
        {"kind": "bpe", "tokenizer": {"not": "a tokenizer"}},
        {"kind": "bpe"},
    ],
)
def test_bad_state_is_a_data_error(state):
    with pytest.raises(DataError, match=r"tokenizer state"):
        tokenizer_from_state(state)


@pytest.mark.parametrize(("kind", "size"), [("word", 3), ("bpe", 200)])
def test_vocab_size_too_small(kind, size):
    with pytest.raises(ConfigError, match=r"vocab_size"):
        TOKENIZERS.get(kind)(TEXTS, size)


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_encode_stream_ends_every_document_with_eos(kind, word, bpe):
    tok = {"word": word, "bpe": bpe}[kind]
    docs = ["the cat", "", "sat on the mat ."]
    stream = encode_stream(tok, docs)
    expected = [i for d in docs for i in [*tok.encode(d), tok.eos_id]]
    assert stream.dtype == torch.int64 and stream.dim() == 1
    assert stream.tolist() == expected
    assert encode_stream(tok, []).shape == (0,)
