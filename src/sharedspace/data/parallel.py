"""Aligned texts split by their source sentence, and your own translation pairs (TSV or JSONL).

One split rule for every dataset of aligned texts: a row goes to a split by a hash of its
*normalised* key text (the English source: lower case, letters and digits only), so a sentence
and its near twins ("Open file…", "open file") land in one split, and a sentence translated into
German and into French is in the same split for both languages (and for any other task keyed on
the same English). Buckets of the hash: 90 % train, 5 % validation, 5 % test; within a split,
rows are ordered by the same hash, so the first n rows of a split are a fixed pseudo-random
sample on every machine.

``translation_pairs`` reads a user's file (or a folder of them):
- TSV: ``source<TAB>target`` per line; a first line of two language tags (``en<TAB>de``,
  ``pt-BR<TAB>fr``) names the sides, else they are ``source`` and ``target``.
- JSONL: one object per line mapping side names to texts (``{"en": "…", "de": "…"}``); a line
  may leave out sides other than the key side.
The key side (whose hash splits) is the first side of the first file: the TSV's first column,
the first key of the first JSON line; every row must hold it. Files are read line by line with a
cap per line and per file, and a malformed line is a DataError naming ``file:line``.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from sharedspace.data.datasets import ParallelSplits, dataset
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, open_regular

VALIDATION_PERCENT = 5
TEST_PERCENT = 5
PAIRS_LIMIT = 1024 * MiB  # the most bytes one pairs file may hold
LINE_LIMIT = 1 * MiB  # the most bytes one line may hold (a sentence pair is far shorter)
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")  # en, de, pt-BR, zh_Hant


def normalised(text: str) -> str:
    """Lower case, letters and digits only: what a sentence and its near twins share."""
    return "".join(c for c in text.lower() if c.isalnum())


def source_hash(text: str) -> int:
    """A 64-bit hash of ``normalised(text)``, the same on every machine and Python run."""
    digest = hashlib.blake2b(normalised(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def split_of(text: str) -> str:
    """The split of a row keyed on ``text``: test, validation or train (5 / 5 / 90 %)."""
    bucket = source_hash(text) % 100
    if bucket < TEST_PERCENT:
        return "test"
    return "validation" if bucket < TEST_PERCENT + VALIDATION_PERCENT else "train"


def split_rows(rows: Iterable[dict[str, str]], key: str, sides: tuple[str, ...]) -> ParallelSplits:
    """Rows (each holding side ``key``) into the three splits by ``split_of(row[key])``, each
    split ordered by the hash (then the key text, so the order is total)."""
    splits: dict[str, list[dict[str, str]]] = {"train": [], "validation": [], "test": []}
    for row in rows:
        splits[split_of(row[key])].append(row)
    ordered = {name: by_hash(found, key) for name, found in splits.items()}
    return ParallelSplits(**ordered, sides=sides)


def by_hash(rows: list[dict[str, str]], key: str) -> list[dict[str, str]]:
    """``rows`` ordered by the hash of their side ``key`` (then its text, so the order is total):
    a fixed pseudo-random order, so the first n rows are a fair sample on every machine."""
    return sorted(rows, key=lambda row: (source_hash(row[key]), row[key]))


def pairs_checksum(splits: ParallelSplits) -> str:
    """sha256 of every row of every split in order (canonical JSON): equal checksums, equal data."""
    digest = hashlib.sha256()
    for split in ("train", "validation", "test"):
        for row in getattr(splits, split):
            digest.update(json.dumps([split, row], sort_keys=True, ensure_ascii=False).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end) of a UTF-8 file, blank lines skipped; a line
    over ``LINE_LIMIT`` bytes or bytes that are not UTF-8 are a DataError naming ``path:line``."""
    with open_regular(path, PAIRS_LIMIT, DataError) as raw:
        for number, line in enumerate(iter(lambda: raw.readline(LINE_LIMIT + 1), b""), 1):
            if len(line) > LINE_LIMIT:
                raise DataError(f"{path}:{number}: a line of over {LINE_LIMIT:,} bytes")
            try:
                text = line.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{number}: not UTF-8 text (byte {e.start})") from None
            if text.strip():
                yield number, text


Rows = Iterator[tuple[int, dict[str, str]]]  # (line number, side → text)


def _tsv_rows(path: Path) -> tuple[tuple[str, str], Rows]:
    """The file's two sides and its rows, read lazily."""
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise DataError(f"{path}: holds no pairs (expected source<TAB>target lines)")
    fields = first[1].split("\t")
    header = len(fields) == 2 and fields[0] != fields[1]
    header = header and all(LANGUAGE_TAG.fullmatch(f) for f in fields)
    sides = (fields[0], fields[1]) if header else ("source", "target")

    def rows() -> Rows:
        for number, text in lines if header else _chain(first, lines):
            fields = text.split("\t")
            if len(fields) != 2 or not all(f.strip() for f in fields):
                raise DataError(
                    f"{path}:{number}: expected two non-empty fields, "
                    f"{sides[0]}<TAB>{sides[1]}; got {len(fields)} field(s)"
                )
            yield number, {side: " ".join(f.split()) for side, f in zip(sides, fields, strict=True)}

    return sides, rows()


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def _jsonl_rows(path: Path) -> Rows:
    """One object of side → text per line."""
    for number, text in _lines(path):
        try:
            row = json.loads(text)
        except (ValueError, RecursionError):
            row = None
        if not (
            isinstance(row, dict)
            and len(row) >= 2
            and all(isinstance(v, str) and v.strip() for v in row.values())
        ):
            raise DataError(
                f'{path}:{number}: expected a JSON object of two or more sides, {{"en": "…", '
                f'"de": "…"}}, each a non-empty text'
            )
        yield number, {side: " ".join(v.split()) for side, v in row.items()}


def _pairs_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted([*path.glob("*.tsv"), *path.glob("*.jsonl")])
        if not files:
            raise DataError(f"{path}: holds no *.tsv or *.jsonl file of translation pairs")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.suffix not in (".tsv", ".jsonl"):
        raise DataError(f"{path}: expected a .tsv or .jsonl file of translation pairs")
    return [path]


@dataset("translation_pairs", kind="text", splits=ParallelSplits)
def load_translation_pairs(data_dir: Path | None = None) -> ParallelSplits:
    """Your own aligned texts: ``data_dir`` is a .tsv or .jsonl file, or a folder of them (read
    in name order); split 90/5/5 by a hash of the normalised first side (see the module)."""
    if data_dir is None:
        raise DataError("translation_pairs: give data_dir, a .tsv or .jsonl file or a folder")
    sides: list[str] = []
    rows: list[dict[str, str]] = []
    for path in _pairs_files(Path(data_dir)):
        if path.suffix == ".tsv":
            file_sides, found = _tsv_rows(path)
            sides += [s for s in file_sides if s not in sides]
        else:
            found = _jsonl_rows(path)
        for number, row in found:
            sides += [s for s in row if s not in sides]
            if sides[0] not in row:
                raise DataError(
                    f"{path}:{number}: lacks {sides[0]!r}, the side the splits are keyed on "
                    f"(the first side of the first file); it has {', '.join(row)}"
                )
            rows.append(row)
    if not rows:
        raise DataError(f"{data_dir}: holds no translation pairs")
    return split_rows(rows, sides[0], tuple(sides))
