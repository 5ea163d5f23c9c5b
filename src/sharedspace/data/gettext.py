"""Real human translations from the gettext message catalogs Debian packages ship (en → de, fr).

``sharedspace data download gettext`` (``data/debian.py``) extracts the German and French
catalogs of a pinned list of packages into ``<data_dir>/gettext/<package>/<lang>/<domain>.mo``;
this module reads them with the standard library (``gettext.GNUTranslations``) and cleans them:

- kept: singular forms (a plural entry's form 0); dropped: context ids (``ctx\\x04msgid``, glib's
  ``Context|text``), markup, printf/format placeholders (``%s %d %1$s %(name)s %1 {0} $VAR``),
  empty or untranslated (identical) entries, sources without a letter, more than 40 words;
- keyboard accelerators are removed (``_File``, ``&Open``; ``&&`` is a literal ``&``), except an
  ``_`` inside an identifier that both sides spell alike (``LC_ALL``); whitespace is collapsed and
  one trailing ``:`` stripped;
- an English source translated differently in several catalogs keeps its most frequent
  translation (ties: the first in package, language, catalog order).

One row per English message holds its German and/or French translation; the split is
``parallel.split_of`` of the English (90/5/5 by the hash of the normalised sentence), so a
sentence is in one split for both languages. A catalog that cannot be read (one that declares
UTF-8 but holds Latin-1, a truncated file) is skipped with a one-line warning.

``gettext_heldout`` is the out-of-domain check: its test split is the pairs of two held-out
packages (``HELD_OUT``: kile-l10n, e2fsprogs-l10n) whose normalised English source appears in no
other package; its train and validation splits are those of the other packages alone, by the same
hash (their rows that hash to test are left out, so a model trained on ``gettext_heldout`` can
also be scored on ``gettext``'s test split without having seen a sentence of it).
"""

import gettext
import io
import re
import struct
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sharedspace.data.datasets import ParallelSplits, dataset
from sharedspace.data.locate import find_dataset
from sharedspace.data.parallel import by_hash, normalised, split_rows
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, read_bytes

LANGUAGES = ("de", "fr")
SIDES = ("en", *LANGUAGES)
HELD_OUT = ("kile-l10n", "e2fsprogs-l10n")
MAX_WORDS = 40
MO_LIMIT = 64 * MiB  # the largest catalog of the pinned packages is under 2 MB
HOW_TO_GET = "get it with `sharedspace data download gettext --data-dir DIR`"

# glib's Q_("Context|text"), KDE's "ctx|text": a word glued to a bar opens the id (or the id has
# a bar its translation lacks: Gramps' "French month lexeme|Prairial")
CONTEXT_PREFIX = re.compile(r"^[^\s|]+\|\S")
MARKUP = re.compile(r"</?[A-Za-z][^<>]*>|&[A-Za-z]+;|&#x?[0-9A-Fa-f]+;")
PLACEHOLDER = re.compile(
    r"%(?:\d+\$)?(?:\([^()]*\))?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?"
    r"(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcsSpn%]"  # printf, python %(name)s, %%
    r"|%<?\w+>?|%[<>]"  # Qt/KDE %1, C99 %<PRId64>, GCC's quotes %< %>
    r"|\{[\w.]*(?:![rsa])?(?::[^{}]*)?\}"  # {0}, {name}, {:d}, {}
    r"|\$\{?[A-Za-z_]\w*\}?"  # $VAR, ${VAR}
)
MNEMONIC_AMPERSAND = re.compile(r"&(?=[^\W_])")
MNEMONIC_UNDERSCORE = re.compile(r"(?<!_)_(?=[^\W_])")


def read_catalog(path: Path) -> dict[str, str] | None:
    """msgid → msgstr of one .mo file (plural entries: form 0), or None with a one-line warning
    when it cannot be read (bad magic, truncated, text not in its declared charset)."""
    data = read_bytes(path, MO_LIMIT, DataError)
    try:
        catalog = gettext.GNUTranslations(io.BytesIO(data))._catalog  # type: ignore[attr-defined]
    except (OSError, ValueError, LookupError, struct.error, SyntaxError, RecursionError) as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        warnings.warn(f"{path}: skipped, not a readable catalog ({reason})", stacklevel=2)
        return None
    messages = {}
    for key, text in catalog.items():
        if isinstance(key, tuple):  # (msgid, plural index)
            if key[1] != 0:
                continue
            key = key[0]
        if isinstance(key, str) and isinstance(text, str):
            messages[key] = text
    return messages


def _without_mnemonic(text: str, other: str) -> str:
    """``text`` without its keyboard accelerator: ``&&`` → ``&``, ``&X`` → ``X``, and a lone
    ``_X`` → ``X`` (a mnemonic is one per string; ``__`` is never one), except mid-word in a
    word copied verbatim into ``other`` (an identifier such as ``check_blocks``)."""
    text = MNEMONIC_AMPERSAND.sub("", text.replace("&&", "\0")).replace("\0", "&")
    found = list(MNEMONIC_UNDERSCORE.finditer(text))
    if len(found) != 1:
        return text
    at = found[0].start()
    if at > 0 and text[at - 1].isalnum():
        word = text[text.rfind(" ", 0, at) + 1 :].split(" ", 1)[0]
        if word in other.split():
            return text
    return text[:at] + text[at + 1 :]


def _tidy(text: str) -> str:
    """Collapsed whitespace, one trailing ``:`` stripped (French spaces it: ``Nom :``)."""
    text = " ".join(text.split())
    return text[:-1].rstrip() if text.endswith(":") else text


def clean_pair(msgid: str, msgstr: str) -> tuple[str, str] | None:
    """The cleaned (English, translation) of a catalog entry, or None when it is dropped (see the
    module docstring for the rules)."""
    if "\x04" in msgid or CONTEXT_PREFIX.match(msgid) or ("|" in msgid and "|" not in msgstr):
        return None
    if any(p.search(t) for p in (MARKUP, PLACEHOLDER) for t in (msgid, msgstr)):
        return None
    source = _tidy(_without_mnemonic(msgid, msgstr))
    target = _tidy(_without_mnemonic(msgstr, msgid))
    if not source or not target or source == target:
        return None
    if not any(c.isalpha() for c in source):
        return None
    if max(len(source.split()), len(target.split())) > MAX_WORDS:
        return None
    return source, target


@dataclass(frozen=True)
class Catalog:
    package: str
    language: str  # a LANGUAGES code
    path: Path


def catalogs(folder: Path) -> list[Catalog]:
    """The ``<package>/<lang>/<domain>.mo`` files under ``folder``, in name order."""
    found = [
        Catalog(path.parent.parent.name, language, path)
        for language in LANGUAGES
        for path in folder.glob(f"*/{language}/*.mo")
    ]
    return sorted(found, key=lambda c: (c.package, c.language, c.path.name))


def gettext_rows(found: Iterable[Catalog]) -> list[dict[str, str]]:
    """One row ``{"en": …, "de": …, "fr": …}`` per cleaned English source, holding each
    language's most frequent translation of it across ``found``."""
    counts: dict[str, dict[str, Counter[str]]] = {}  # English → language → translation counts
    for catalog in found:
        messages = read_catalog(catalog.path)
        for msgid, msgstr in (messages or {}).items():
            pair = clean_pair(msgid, msgstr)
            if pair is not None:
                counts.setdefault(pair[0], {}).setdefault(catalog.language, Counter())[pair[1]] += 1
    return [
        {"en": source, **{lang: c.most_common(1)[0][0] for lang, c in by_language.items()}}
        for source, by_language in counts.items()
    ]


def _folder(data_dir: Path | None) -> Path:
    markers = tuple(f"*/{language}/*.mo" for language in LANGUAGES)
    return find_dataset("gettext", markers, data_dir, how_to_get=HOW_TO_GET)


@dataset("gettext", kind="text", splits=ParallelSplits)
def load_gettext(data_dir: Path | None = None) -> ParallelSplits:
    """English → German and French messages of the downloaded Debian catalogs, one row per English
    message, split 90/5/5 by the hash of its normalised text (``sharedspace data download
    gettext``)."""
    rows = gettext_rows(catalogs(_folder(data_dir)))
    if not rows:
        raise DataError(f"{_folder(data_dir)}: its catalogs hold no usable translation")
    return split_rows(rows, "en", SIDES)


@dataset("gettext_heldout", kind="text", splits=ParallelSplits)
def load_gettext_heldout(data_dir: Path | None = None) -> ParallelSplits:
    """``gettext`` with two packages held out (kile-l10n, e2fsprogs-l10n): train and validation
    come from the other packages (hashed as in ``gettext``), test is the held-out packages' pairs
    whose normalised English appears in no other package — an out-of-domain test."""
    found = catalogs(_folder(data_dir))
    held = [c for c in found if c.package in HELD_OUT]
    missing = sorted(set(HELD_OUT) - {c.package for c in held})
    if missing:
        raise DataError(
            f"{_folder(data_dir)}: no catalogs of {', '.join(missing)} (held out for the test); "
            f"{HOW_TO_GET}"
        )
    splits = split_rows(gettext_rows(c for c in found if c not in held), "en", SIDES)
    seen = {normalised(row["en"]) for split in (splits.train, splits.validation, splits.test)
            for row in split}  # fmt: skip
    unseen = [row for row in gettext_rows(held) if normalised(row["en"]) not in seen]
    return ParallelSplits(splits.train, splits.validation, by_hash(unseen, "en"), SIDES)


def pair_counts(splits: ParallelSplits) -> dict[str, dict[str, int]]:
    """Language → split → the number of rows holding that language (English and it)."""
    return {
        language: {
            split: sum(language in row for row in getattr(splits, split))
            for split in ("train", "validation", "test")
        }
        for language in splits.sides[1:]
    }
