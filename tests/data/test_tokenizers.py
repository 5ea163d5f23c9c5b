import json

import pytest
import torch

from sharedspace.data import TOKENIZERS, Tokenizer, encode_stream, tokenizer_from_state, tokenizers
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
        {"kind": ["bpe"]},  # unhashable: was a TypeError
        {"kind": "word", "words": ["a"], "lowercase": False},
        {"kind": "word", "words": [""]},
        {"kind": "word", "words": ["a" * 10_001]},
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


CATASTROPHIC = {"type": "Replace", "pattern": {"Regex": "(\\w+\\s?)+$"}, "content": ""}


def _deep(depth: int) -> dict:
    """A dict nested ``depth`` deep, built without recursion."""
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _edit(state: dict, where: str, value) -> dict:
    """A copy of a bpe state with the field at dotted ``where`` set to ``value``."""
    state = json.loads(json.dumps(state))
    *parents, last = where.split(".")
    target = state
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    target[int(last) if isinstance(target, list) else last] = value
    return state


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        # settings sharedspace does not write: each would reach the library as a regex or rule
        ("tokenizer.normalizer", CATASTROPHIC, r"'tokenizer\.normalizer' is a dict .* writes null"),
        ("tokenizer.normalizer", _deep(100_000), r"'tokenizer\.normalizer' is a dict"),
        ("tokenizer.pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(a+)+$"},
                                     "behavior": "Isolated", "invert": False},
         r"'tokenizer\.pre_tokenizer\.pattern' is not a field"),
        ("tokenizer.pre_tokenizer.add_prefix_space", True, r"add_prefix_space' is true"),
        ("tokenizer.post_processor", {"type": "ByteLevel"}, r"'tokenizer\.post_processor'"),
        ("tokenizer.truncation", {"max_length": 1}, r"'tokenizer\.truncation'"),
        ("tokenizer.model.type", "WordPiece", r"'tokenizer\.model\.type' is \"WordPiece\""),
        ("tokenizer.model.dropout", 0.5, r"'tokenizer\.model\.dropout' is 0\.5"),
        ("tokenizer.added_tokens.1.content", "x", r"'tokenizer\.added_tokens\[1\]\.content'"),
        ("tokenizer.added_tokens", [], r"'tokenizer\.added_tokens' is a list of 0"),
        ("tokenizer.extra", 1, r"'tokenizer\.extra' is not a field"),
        ("regex", "(a+)+$", r"'regex' is not a key sharedspace writes"),
        # the data: checked before the library sees it
        ("tokenizer.model", None, r"lacks its model's vocab and merges"),
        ("tokenizer.model.vocab", [], r"vocab' must map tokens to integer ids"),
        ("tokenizer.model.vocab.!", "3", r"vocab' must map tokens to integer ids"),
        ("tokenizer.model.vocab.!", True, r"vocab' must map tokens to integer ids"),
        ("tokenizer.model.vocab.!", 10**9, r"ids are not 0\.\.\d+ once each"),
        ("tokenizer.model.vocab.<pad>", 3, r"ids are not 0\.\.\d+ once each"),
        ("tokenizer.model.vocab.!", 2, r"ids are not"),
        ("tokenizer.model.merges", {}, r"merges' must be a list"),
        ("tokenizer.model.merges.0", ["zz", "t"], r"merges\[0\]' is not a pair of tokens"),
        ("tokenizer.model.merges.0", ["!", "!"], r"merges\[0\]' is not a pair"),  # "!!" no token
        ("tokenizer.model.merges.0", ["a", "b", "c"], r"merges\[0\]' is not a pair"),
        ("tokenizer.model.merges.0", _deep(100_000), r"merges\[0\]' is not a pair"),
    ],
)  # fmt: skip
def test_a_bpe_state_other_than_sharedspace_writes_is_refused(bpe, where, value, message):
    """The state is data to rebuild from, never a tokenizer to load: a file whose normalizer is
    a catastrophic regex made ``evaluate`` spin for ever (the library ran it on every text)."""
    state = _edit(bpe.state_dict(), where, value)
    with pytest.raises(DataError, match=rf"^bpe tokenizer state: .*{message}") as err:
        tokenizer_from_state(state)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_a_bpe_vocabulary_of_foreign_tokens_or_sizes_is_refused(bpe, monkeypatch):
    state = bpe.state_dict()
    vocab = state["tokenizer"]["model"]["vocab"]
    for token, message in [
        ("a b", "not byte-level"),
        ("東", "not byte-level"),
        ("", "0 characters"),
    ]:
        edited = _edit(state, "tokenizer.model.vocab", {**vocab, token: len(vocab)})
        with pytest.raises(DataError, match=message):
            tokenizer_from_state(edited)
    too_many = _edit(state, "tokenizer.model.merges", state["tokenizer"]["model"]["merges"] * 9)
    with pytest.raises(DataError, match="at most one per token"):
        tokenizer_from_state(too_many)
    monkeypatch.setattr(tokenizers, "MAX_VOCAB", len(vocab) - 1)
    with pytest.raises(DataError, match=f"holds {len(vocab)} tokens, over {len(vocab) - 1}"):
        tokenizer_from_state(state)
    monkeypatch.setattr(tokenizers, "MAX_VOCAB", 5)
    with pytest.raises(DataError, match="word tokenizer state: 'words' holds 3 tokens, over 5"):
        tokenizer_from_state({"kind": "word", "words": ["a", "b", "c"]})


def test_a_bpe_state_rebuilds_exactly_and_reads_older_library_versions(bpe):
    """What ``fit`` wrote comes back field for field; an older ``tokenizers`` wrote each merge as
    one string and fewer settings, which still rebuilds the same tokenizer."""
    state = json.loads(json.dumps(bpe.state_dict()))
    assert tokenizer_from_state(state).state_dict() == state
    older = _edit(
        state,
        "tokenizer.model.merges",
        [" ".join(m) for m in state["tokenizer"]["model"]["merges"]],
    )
    del (
        older["tokenizer"]["model"]["ignore_merges"],
        older["tokenizer"]["pre_tokenizer"]["use_regex"],
    )
    rebuilt = tokenizer_from_state(older)
    assert rebuilt.state_dict() == state
    for text in [*TEXTS, "unseen words <unk> here"]:
        assert rebuilt.encode(text) == bpe.encode(text)
