"""What a speech dataset says, as text: transcripts in one spoken form, and the short sentences a
speech synthesiser reads exactly as they are written.

``spoken_form`` is the transcript every speech dataset here stores (synthesised and real alike),
so a model trained on one is scored on another word for word: lower case (a voice carries no
capitals), letters and digits with a word's inner apostrophes (``don't``), everything else a word
break (punctuation is not heard; ``well-known`` is two words).

``speakable`` keeps a sentence only where a synthesiser says what the transcript holds: 3–12
words, ASCII letters and the punctuation ``, . ; : ! ? ' " -`` only (no digits — "1984" is read
"nineteen eighty-four" —, no symbols, no brackets), starting with a capital letter, and no word
of two or more capitals (acronyms are spelled out letter by letter).
"""

import re

MIN_WORDS = 3
MAX_WORDS = 12
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters and digits, inner apostrophes kept
SPEAKABLE = re.compile(r"[A-Z][A-Za-z ,.;:!?'\"-]*")
ACRONYM = re.compile(r"\b[A-Z]{2,}")
# where a sentence ends, and where a fortune's attribution ("... -- Mark Twain") starts
SENTENCE_END = re.compile(r"(?<=[.!?])[\"']?\s+(?=[\"']?[A-Z])|\s+-{2,}\s*")


def spoken_form(text: str) -> str:
    """``"Don't PANIC -- it's well-known."`` → ``"don't panic it's well known"``."""
    return " ".join(WORD.findall(text.casefold().replace("\u2019", "'")))


def speakable(sentence: str) -> bool:
    """Whether a synthesiser reads ``sentence`` as its ``spoken_form`` (module docstring)."""
    return (
        MIN_WORDS <= len(sentence.split()) <= MAX_WORDS
        and SPEAKABLE.fullmatch(sentence) is not None
        and ACRONYM.search(sentence) is None
        and bool(spoken_form(sentence))
    )


def speakable_sentences(text: str) -> list[str]:
    """The speakable sentences of a text (whitespace collapsed), in order."""
    return [s for s in SENTENCE_END.split(" ".join(text.split())) if speakable(s)]
