"""Word and character error rates of decoded transcripts (speech recognition), kept as sums.

A corpus's WER is its word edits (substitutions + deletions + insertions of the best alignment,
Levenshtein's) over its reference words, and CER the same over characters, spaces included —
one ratio of two sums over every sentence, not the mean of the sentences' rates (a one-word
sentence wrong would weigh as much as a long one right). The counts come from ``jiwer``
(``process_words`` / ``process_characters``); batches and processes add them up as
``TextScorer`` sums, and each rate is taken once over a whole split. A rate can exceed 1 (a
decoder that babbles inserts more words than the reference has).

Both texts are normalised first, as transcripts from different sources (synthesis prompts,
hand transcriptions) differ in case and punctuation, not in what was said: lower case; every
punctuation character (Unicode category P: ``.,!?;:"()-`` …) becomes a space, except an
apostrophe inside a word (``don't``, typographic ’ read as '); whitespace collapsed. So
"Twenty-one, please!" and "twenty one please" are the same transcript. Symbols (Unicode
category S: ``$ + =`` …; Unicode files ``%`` under punctuation) and digits are kept as written:
"5" and "five" differ.

``jiwer`` is optional (``pip install 'sharedspace[audio]'``); ``WORD_ERRORS`` imports it when it
first scores, and a task that reports these rates calls ``jiwer()`` when it is built, so a
missing package is a one-line error before training, not after it.
"""

import re
import unicodedata
from types import ModuleType

from sharedspace.data.text_scorer import TextScorer
from sharedspace.errors import SharedSpaceError

INSTALL = (
    "word and character error rates need jiwer: pip install 'sharedspace[audio]' "
    "(in this repo: .venv/bin/pip install -e '.[audio]')"
)
_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")  # one that does not join two word characters


def jiwer() -> ModuleType:
    """The ``jiwer`` module, or a one-line error naming the install command."""
    try:
        import jiwer
    except ImportError:
        raise SharedSpaceError(INSTALL) from None
    return jiwer


def normalise(text: str) -> str:
    """``text`` as it is scored: lower case, punctuation → spaces (an apostrophe inside a word
    kept), single spaces, none at the ends."""
    text = text.lower().replace("\u2019", "'")
    spaced = "".join(
        " " if c != "'" and unicodedata.category(c).startswith("P") else c for c in text
    )
    return " ".join(_STRAY_APOSTROPHE.sub(" ", spaced).split())


def error_sums(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Word and character edits of each prediction against its reference, and the reference
    words and characters, summed over the sentences (both normalised)."""
    hypotheses = [normalise(text) for text in predictions]
    wanted = [normalise(text) for text in references]
    lib = jiwer()
    words = lib.process_words(wanted, hypotheses)
    chars = lib.process_characters(wanted, hypotheses)
    return {
        "word_edits": words.substitutions + words.deletions + words.insertions,
        "reference_words": words.hits + words.substitutions + words.deletions,
        "char_edits": chars.substitutions + chars.deletions + chars.insertions,
        "reference_chars": chars.hits + chars.substitutions + chars.deletions,
    }


# word and character error rates of a transcript (0 is perfect; above 1 when it babbles)
WORD_ERRORS = TextScorer(
    error_sums, {"wer": ("word_edits", "reference_words"), "cer": ("char_edits", "reference_chars")}
)
