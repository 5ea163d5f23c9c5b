"""Word and character error rates (``data.word_errors``) against counts made by hand, and against
an edit distance written here, on constructed transcripts."""

import random
import sys

import pytest

from sharedspace.data.word_errors import WORD_ERRORS, error_sums, normalise
from sharedspace.errors import SharedSpaceError

pytest.importorskip("jiwer", reason="pip install 'sharedspace[audio]'")
REFERENCE = "the cat sat"  # 3 words, 11 characters


def rates(predictions: list[str], references: list[str]) -> dict[str, float]:
    return WORD_ERRORS.scores(error_sums(predictions, references))


@pytest.mark.parametrize(
    ("prediction", "word_edits", "char_edits"),
    [
        (REFERENCE, 0, 0),
        ("the cat sit", 1, 1),  # a substitution: sat → sit, a → i
        ("the sat", 1, 4),  # a deletion: "cat" (and "cat " of the characters)
        ("the big cat sat", 1, 4),  # an insertion: "big" ("big ")
        ("", 3, 11),  # nothing decoded: every word and character deleted
        ("the cat sat on the mat", 3, 11),  # three insertions: " on the mat"
    ],
)
def test_one_sentence_counts_its_edits(prediction, word_edits, char_edits):
    sums = error_sums([prediction], [REFERENCE])
    assert sums == {
        "word_edits": word_edits,
        "reference_words": 3,
        "char_edits": char_edits,
        "reference_chars": 11,
    }
    assert rates([prediction], [REFERENCE]) == {"wer": word_edits / 3, "cer": char_edits / 11}


def test_a_corpus_rate_is_total_edits_over_total_reference_words_not_a_mean():
    references = ["one two three four", "five"]
    predictions = ["one two three four", "six"]  # 0 of 4 words wrong, then 1 of 1
    assert rates(predictions, references)["wer"] == 1 / 5  # the mean of rates would be 0.5
    assert rates(predictions, references)["cer"] == 3 / 22  # "five" → "six": 3 of 18 + 4 chars


def test_batches_add_up_to_the_whole_split():
    rng = random.Random(0)
    words = ["a", "an", "cat", "cats", "sat", "mat", "the"]
    references = [" ".join(rng.choices(words, k=rng.randint(1, 6))) for _ in range(20)]
    predictions = [" ".join(rng.choices(words, k=rng.randint(0, 6))) for _ in range(20)]
    parts = [error_sums(predictions[i : i + 7], references[i : i + 7]) for i in (0, 7, 14)]
    totals = {key: sum(part[key] for part in parts) for key in parts[0]}
    assert totals == error_sums(predictions, references)
    assert WORD_ERRORS.scores(totals) == rates(predictions, references)


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein's distance between two sequences, by its textbook recurrence."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def test_edits_are_the_edit_distance_of_words_and_of_characters():
    rng = random.Random(1)
    for _ in range(50):
        reference = " ".join(rng.choices(["ab", "b", "ba", "c"], k=rng.randint(1, 5)))
        prediction = " ".join(rng.choices(["ab", "b", "bb", "c"], k=rng.randint(0, 5)))
        sums = error_sums([prediction], [reference])
        assert sums["word_edits"] == edit_distance(reference.split(), prediction.split())
        assert sums["char_edits"] == edit_distance(list(reference), list(prediction))


@pytest.mark.parametrize(
    ("text", "scored"),
    [
        ("Twenty-one, please!", "twenty one please"),
        ("Don’t   stop.", "don't stop"),  # a typographic apostrophe, extra spaces
        ("'Quoted' (words)", "quoted words"),  # apostrophes that join no word characters
        ("5 $ + 10 %", "5 $ + 10"),  # digits and symbols are kept; % is punctuation (Po)
        ("?!", ""),
    ],
)
def test_texts_are_scored_in_lower_case_without_punctuation(text, scored):
    assert normalise(text) == scored


def test_case_and_punctuation_are_not_errors():
    assert rates(["twenty one please"], ["Twenty-one, please!"]) == {"wer": 0.0, "cer": 0.0}
    assert rates(["twenty-one please"], ["twentyone please"])["wer"] == 1.0  # a split word


def test_more_insertions_than_reference_words_is_a_rate_above_one():
    assert rates(["a b c"], ["a"]) == {"wer": 2.0, "cer": 4.0}


def test_without_jiwer_scoring_is_a_one_line_error_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jiwer", None)  # import jiwer raises ImportError
    with pytest.raises(SharedSpaceError, match=r"need jiwer: pip install 'sharedspace\[audio\]'"):
        error_sums(["a"], ["a"])
