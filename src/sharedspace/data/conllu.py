"""CoNLL-U, the Universal Dependencies file format: sentences with their dependency trees.

A sentence is comment lines (``# sent_id = …``, ``# text = …``), one line per word of ten
tab-separated columns (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC), then a blank line
(https://universaldependencies.org/format.html). Two kinds of line are not words of the basic
tree and are skipped: a multiword token's range (``1-2``; its words follow it) and an empty node
(``1.1``; it belongs to enhanced graphs only). Treebanks that split a word into inflectional groups
(Turkish: ``Açık`` ``la`` ``nma`` ``yan`` for "Açıklanmayan") give each group its own row, linked to
the next by ``ig`` and marked ``SpaceAfter=No``, so they need nothing special here.

The reader takes lines one at a time (a file or a zip member streamed, never read whole) and
keeps only the current sentence; a malformed line is a DataError naming ``source:line``.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sharedspace.data.dependency_tree import DependencyTree
from sharedspace.errors import DataError, clip

COLUMNS = 10
ID, FORM, HEAD, DEPREL, MISC = 0, 1, 6, 7, 9
NOT_A_WORD = re.compile(r"[1-9][0-9]*(-[1-9][0-9]*|\.[1-9][0-9]*)")  # a range or an empty node
NUMBER = re.compile(r"0|[1-9][0-9]{0,8}")
RELATION = re.compile(r"\S+")  # a relation is one token (a linearised tree splits on spaces)


@dataclass(frozen=True)
class Sentence:
    """One sentence's words (as written, one per row) and its basic dependency tree."""

    sent_id: str  # the ``# sent_id`` comment, "" where there is none
    forms: tuple[str, ...]
    space_after: tuple[bool, ...]  # False where MISC says SpaceAfter=No (the next row is glued on)
    tree: DependencyTree


def read_conllu(lines: Iterable[bytes], source: str) -> Iterator[Sentence]:
    """The sentences of CoNLL-U ``lines`` (UTF-8 bytes, as a binary file iterates), in order.

    ``source`` names the file in errors: a line that is not UTF-8, a word line without ten
    columns, IDs that do not count 1, 2, 3…, a HEAD that is not a word of the sentence (or the
    word itself), an empty DEPREL, or a sentence with no words is ``DataError("source:line: …")``.
    """
    rows: list[list[str]] = []
    sent_id, start = "", 0  # start: the current sentence's first line; 0 between sentences
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise DataError(f"{source}:{number}: not UTF-8 (byte {e.start}: {e.reason})") from None
        if not line.strip():
            if start:
                yield _sentence(rows, sent_id, source, start)
            rows, sent_id, start = [], "", 0
            continue
        start = start or number
        if line.startswith("#"):
            if line.startswith("# sent_id ="):
                sent_id = line.split("=", 1)[1].strip()
            continue
        columns = line.split("\t")
        if len(columns) != COLUMNS:
            raise DataError(
                f"{source}:{number}: expected {COLUMNS} tab-separated columns, found "
                f"{len(columns)}: {clip(line)!r}"
            )
        if not NOT_A_WORD.fullmatch(columns[ID]):
            _check_word(columns, len(rows) + 1, source, number)
            rows.append([*columns, str(number)])  # the line number, for HEAD errors later
    if start:
        yield _sentence(rows, sent_id, source, start)


def _check_word(columns: list[str], expected_id: int, source: str, number: int) -> None:
    """A word line's ID is the next one, its HEAD a number other than itself, its DEPREL set."""
    if columns[ID] != str(expected_id):
        raise DataError(f"{source}:{number}: word ID {clip(columns[ID])!r}, expected {expected_id}")
    if not NUMBER.fullmatch(columns[HEAD]) or columns[HEAD] == columns[ID]:
        raise DataError(
            f"{source}:{number}: HEAD {clip(columns[HEAD])!r} of word {expected_id} is not the "
            "number of another word (or 0 for the root)"
        )
    if columns[DEPREL] == "_" or not RELATION.fullmatch(columns[DEPREL]):
        raise DataError(f"{source}:{number}: DEPREL {clip(columns[DEPREL])!r} is not a relation")


def _sentence(rows: list[list[str]], sent_id: str, source: str, start: int) -> Sentence:
    """The sentence of checked word ``rows``; a HEAD past the last word is an error here."""
    if not rows:
        raise DataError(f"{source}:{start}: sentence {sent_id!r} has no word lines")
    for row in rows:
        if int(row[HEAD]) > len(rows):
            raise DataError(
                f"{source}:{row[-1]}: HEAD {row[HEAD]} of word {row[ID]} is past the sentence's "
                f"last word ({len(rows)})"
            )
    return Sentence(
        sent_id,
        tuple(row[FORM] for row in rows),
        tuple("SpaceAfter=No" not in row[MISC].split("|") for row in rows),
        DependencyTree(tuple(int(row[HEAD]) for row in rows), tuple(row[DEPREL] for row in rows)),
    )
