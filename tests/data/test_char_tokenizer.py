"""The character tokenizer (``char``): the most frequent characters, exact round trips of seen
characters, and a state that rebuilds it and refuses anything else."""

import pytest

from sharedspace.data import TOKENIZERS, tokenizer_from_state
from sharedspace.data.tokenizers import EOS_ID, PAD_ID, SPECIALS, UNK_ID
from sharedspace.errors import ConfigError, DataError

TEXTS = ["The cat sat.", "A dog, a log!"]


@pytest.fixture(scope="module")
def chars():
    return TOKENIZERS.get("char")(TEXTS, 1000)


def test_ids_follow_frequency_and_ties_go_to_the_first_seen(chars):
    # " " and "a" come 5 times each, the space seen first
    counts = {c: sum(t.count(c) for t in TEXTS) for c in set("".join(TEXTS))}
    first = "".join(TEXTS).index
    expected = sorted(counts, key=lambda c: (-counts[c], first(c)))
    assert chars.tokens == [*SPECIALS, *expected] and chars.tokens[3:5] == [" ", "a"]
    assert chars.vocab_size == 3 + len(counts)
    assert TOKENIZERS.get("char")(TEXTS, 5).tokens == [*SPECIALS, " ", "a"]  # capped


def test_text_of_seen_characters_comes_back_exactly(chars):
    for text in [*TEXTS, "a cat, a dog.", "  TAT  "]:
        ids = chars.encode(text)
        assert len(ids) == len(text) and chars.decode(ids) == text
    assert chars.encode("a") == [chars.tokens.index("a")]


def test_unseen_characters_are_unknown_and_specials_are_shown(chars):
    ids = chars.encode("zag")
    assert ids[0] == UNK_ID and chars.decode(ids) == "<unk>ag"
    assert chars.decode([*chars.encode("cat"), EOS_ID, PAD_ID]) == "cat<eos>"
    with pytest.raises(ValueError, match="ids must be in"):
        chars.decode([chars.vocab_size])


def test_a_state_rebuilds_the_same_ids(chars):
    rebuilt = tokenizer_from_state(chars.state_dict())
    assert rebuilt.kind == "char" and rebuilt.tokens == chars.tokens
    assert rebuilt.encode("a zebra cat") == chars.encode("a zebra cat")


@pytest.mark.parametrize(
    "state",
    [
        {"kind": "char", "chars": "abc"},
        {"kind": "char", "chars": ["a", "bc"]},
        {"kind": "char", "chars": ["a", ""]},
        {"kind": "char", "chars": ["a", "a"]},
        {"kind": "char", "chars": ["a"], "lowercase": True},
        {"kind": "char"},
    ],
)
def test_another_state_is_a_data_error(state):
    with pytest.raises(DataError, match=r"^char tokenizer state: "):
        tokenizer_from_state(state)


def test_a_vocabulary_needs_one_character():
    with pytest.raises(ConfigError, match="vocab_size"):
        TOKENIZERS.get("char")(TEXTS, 3)
