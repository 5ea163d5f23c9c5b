"""Text corpora as lists of documents: WikiText, Debian's fortunes, and any folder of .txt files.

WikiText keeps its official train/valid/test files; corpora without an official split are split
by ``split_by_index`` in a fixed file order, so every machine sees the same split. Where a corpus
is filed by topic, each file is a category (a fortunes file such as ``science``, a .txt file's
stem) and ``TextSplits.categories`` names each document's file; WikiText has no categories.
"""

import re
from pathlib import Path

from sharedspace.data.datasets import TextSplits, dataset, split_by_index
from sharedspace.data.locate import find_dataset
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, read_bytes

FORTUNES_DEBIAN_ROOT = Path("/usr/share/games")
FORTUNE_SEPARATOR = re.compile(r"^%$", re.MULTILINE)  # a line that is exactly "%"
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
WIKITEXT_FILES = {
    "train": "wiki.train.tokens",
    "validation": "wiki.valid.tokens",
    "test": "wiki.test.tokens",
}
# The most bytes one file may hold; more is refused before reading. WikiText's train files are
# 11 MB (WikiText-2) and 540 MB (WikiText-103); Debian's largest fortunes file is under 1 MB.
TEXT_LIMIT = 1024 * MiB  # a .txt file of your own
WIKITEXT2_LIMIT = 32 * MiB
FORTUNES_LIMIT = 64 * MiB


def read_text(path: Path, limit: int) -> str:
    """A UTF-8 text file with \\n line ends; a file that is not regular (a FIFO, a device or a link
    to one), holds more than ``limit`` bytes, or is not UTF-8 is a DataError."""
    try:
        return read_bytes(path, limit, DataError).decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from e


def _documents(pieces: list[str]) -> list[str]:
    """Non-blank pieces without their surrounding blank lines (a first line's indent is kept)."""
    return [piece.strip("\n").rstrip() for piece in pieces if piece.strip()]


def _documents_by_file(
    files: list[Path], separator: re.Pattern[str], limit: int
) -> tuple[list[str], list[str]]:
    """The documents of ``files`` (each of at most ``limit`` bytes) in order, and beside each its
    file's stem as its category."""
    docs, categories = [], []
    for path in files:
        found = _documents(separator.split(read_text(path, limit)))
        docs += found
        categories += [path.stem] * len(found)
    return docs, categories


def _wikitext(
    folder_name: str, archive: str, name: str, data_dir: Path | None, limit: int
) -> TextSplits:
    """One document per non-blank line (an article heading or paragraph), official splits."""
    folder = find_dataset(
        folder_name,
        (WIKITEXT_FILES["train"],),
        data_dir,
        archive=archive,
        how_to_get=f"get it with `sharedspace data download {name} --data-dir DIR`",
    )
    splits = {}
    for split, file_name in WIKITEXT_FILES.items():
        lines = read_text(folder / file_name, limit).split("\n")
        splits[split] = [line.strip() for line in lines if line.strip()]
        if not splits[split]:
            raise DataError(f"{folder / file_name}: holds no text")
    return TextSplits(**splits)


@dataset("wikitext2", kind="text", splits=TextSplits)
def load_wikitext2(data_dir: Path | None = None) -> TextSplits:
    """WikiText-2 (Merity et al. 2016), the word-level version with ``<unk>`` tokens."""
    return _wikitext("wikitext-2", "wikitext-2-v1.zip", "wikitext2", data_dir, WIKITEXT2_LIMIT)


@dataset("wikitext103", kind="text", splits=TextSplits)
def load_wikitext103(data_dir: Path | None = None) -> TextSplits:
    """WikiText-103, same format as WikiText-2 with a 50x larger train file."""
    return _wikitext("wikitext-103", "wikitext-103-v1.zip", "wikitext103", data_dir, TEXT_LIMIT)


@dataset("fortunes", kind="text", splits=TextSplits)
def load_fortunes(data_dir: Path | None = None) -> TextSplits:
    """Debian's fortune cookies, one document per fortune, without the offensive set.

    The corpora are the files without an extension, and a fortune's category is its file's name
    (``art``, ``computers``, ``science``, ...); ``*.dat`` indexes, ``*.u8`` links and the ``off/``
    folder (the offensive set) are skipped.
    """
    folder = find_dataset(
        "fortunes",
        ("*.dat", "fortunes"),
        data_dir,
        debian_root=FORTUNES_DEBIAN_ROOT,
        how_to_get="get it with `apt-get install -y fortunes`",
    )
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and not p.suffix and not p.name.startswith(".")
    )
    docs, categories = _documents_by_file(files, FORTUNE_SEPARATOR, FORTUNES_LIMIT)  # stem = name
    if not docs:
        raise DataError(f"{folder}: holds no fortunes (files without an extension)")
    return split_by_index(docs, categories)


@dataset("text_files", kind="text", splits=TextSplits)
def load_text_files(data_dir: Path | None = None) -> TextSplits:
    """Your own text: ``data_dir`` is a .txt file or a folder of them; a paragraph is a document.

    In a folder, each file is a category named by its stem (``poems.txt`` is ``poems``), so a
    folder per topic is a classification corpus; a single file has no categories.
    """
    if data_dir is None:
        raise DataError("text_files: give data_dir, a .txt file or a folder of .txt files")
    path = Path(data_dir)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))  # a FIFO or device among them is refused, not read
    elif path.exists():
        files = [path]
    else:
        raise DataError(f"{path}: no such file or folder")
    docs, categories = _documents_by_file(files, PARAGRAPH_BREAK, TEXT_LIMIT)
    if not docs:
        raise DataError(f"{path}: holds no text (looked for paragraphs in *.txt files)")
    return split_by_index(docs, categories if path.is_dir() else None)
