"""SILVER English constituency trees: link-grammar's parses of gettext's English messages.

No gold English treebank exists offline (none in Debian or PyPI), so ``sharedspace data download
english_silver_trees`` runs link-grammar's ``link-parser`` (Debian ``link-grammar`` and
``link-grammar-dictionaries-en``) over the English side of the ``gettext`` dataset, which must be
downloaded first, and writes ``<data_dir>/english-silver-trees/trees.jsonl``. The trees are a
parser's output, not annotated by people: a model learning them learns link-grammar, errors and
all, and its scores say how well it imitates that parser — SILVER, never gold.

One ``link-parser`` process reads a few thousand sentences on stdin (``-constituents=3``: a
bracketed tree per line, without preterminals), 2.2 ms a sentence on one core (87 s for all); a
``!echo=0`` command after each sentence (it changes nothing and answers ``echo set to 0``) ends
that sentence's answer, which is empty when it has no parse. Only sentences that parse with no
null link are kept (``-null=0``: 70 % of gettext's 40,252 messages); messages starting with
``!`` or ``%`` (link-parser commands and comments) are never sent.

A row is ``{"words": …, "tree": …}``:
- words: link-parser's tokens of the message (its leaves, in order), separated by spaces,
  without the dictionary subscripts (``fox.n``, ``jumped.v-d``) and the marks of guessed words
  (``asdf{?}.v``, ``3.5{!}``); it lower-cases a capitalised first word it knows and writes bracket
  punctuation as ``{`` ``}``. A row is kept only when its words hold the message's letters and
  digits in order (``parallel.normalised``), which also makes its split the message's: 1 % of
  the parses cover only a first clause (``column: Units`` parses as ``column``) and are dropped.
- tree: the tree linearised as in Vinyals et al. (2015), "Grammar as a Foreign Language": an
  opening bracket with its label, ``XX`` for each word, a bare closing bracket, as
  ``(S (NP XX XX XX XX ) (VP XX (PP XX (NP XX XX XX ) ) ) XX )``. Words are written ``XX``, as
  Vinyals et al. wrote every tag, so the target is the structure alone: per-token accuracy and
  exact match score the bracketing, not words copied from the input, and the words read back
  into the tree one to one (``with_words``). Length, measured over the 27,527 rows with the
  pairs view's 8k BPE: trees are 17.4 tokens on average (median 10, 95th percentile 49, longest
  179) and 96 % fit its default max_len of 56; words kept instead would cost only 6 % more
  (18.4), as a word is one BPE token like ``XX``.

The split is gettext's (``parallel.split_rows`` keyed on the words, whose normalised text is the
message's), so no sentence is in two splits across the translation and parsing tasks.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from sharedspace.data.datasets import DATASETS, ParallelSplits, dataset
from sharedspace.data.download import FETCHERS
from sharedspace.data.locate import find_dataset
from sharedspace.data.parallel import load_translation_pairs, normalised
from sharedspace.data.text_scorer import BRACKETS
from sharedspace.errors import DataError, clip
from sharedspace.files import fsync_directory, fsync_file

FOLDER = "english-silver-trees"
FILE = "trees.jsonl"
SIDES = ("words", "tree")
WORD = "XX"  # what the tree writes for each word
DEBS = "link-grammar link-grammar-dictionaries-en"
COMMAND = (
    "link-parser", "en", "-constituents=3", "-graphics=0", "-verbosity=0",
    "-null=0", "-spell=0", "-panic=0", "-timeout=10",
)  # fmt: skip
SENTINEL = "!echo=0"  # sent after each sentence: changes nothing, answers ANSWER
ANSWER = "echo set to 0"
SPECIAL = ("!", "%")  # a line link-parser reads as a command or a comment, not a sentence
CHUNK = 2000  # sentences a process: one dictionary load (0.4 s) per 9 s of parsing
CHUNK_TIMEOUT_S = 1200  # generous: each sentence stops at -timeout=10 s, most take 5 ms
HOW_TO_GET = "build it with `sharedspace data download english_silver_trees --data-dir DIR`"

OPEN = re.compile(r"\(([A-Z]+)")  # "(NP": a constituent opens
# a leaf: the word, an optional guess mark ({?} {!} [?] …), an optional subscript (.n .v-d
# .#nor-j-n)
LEAF = re.compile(r"(?P<word>.+?)(?:\{[^{}\s]*\}|\[[^\[\]\s]*\])?(?:\.[a-z#][a-z0-9#_\-]*)?")


@dataclass(frozen=True)
class Parsed:
    """How many sentences went in, got a parse with no null link, and were kept."""

    sentences: int
    parsed: int
    kept: int


def linearised(line: str) -> tuple[str, str] | None:
    """link-parser's ``-constituents=3`` line → (words, linearised tree), or None when the line
    is not one well-formed tree (unbalanced brackets, a leaf outside the root, a bracket inside a
    word, no word)."""
    words: list[str] = []
    tree: list[str] = []
    depth = 0
    for token in line.split():
        if tree and depth == 0:
            return None  # something after the root closed
        if opened := OPEN.fullmatch(token):
            tree.append(f"({opened[1]}")
            depth += 1
            continue
        leaf = token.rstrip(")")
        if depth == 0 or "(" in leaf or ")" in leaf:
            return None  # a leaf outside the root, or a bracket inside a word
        if leaf:
            words.append(LEAF.fullmatch(leaf)["word"])  # type: ignore[index]  # .+? matches all
            tree.append(WORD)
        closes = len(token) - len(leaf)
        tree += [")"] * closes
        depth -= closes
        if depth < 0:
            return None
    return (" ".join(words), " ".join(tree)) if words and depth == 0 else None


def with_words(words: str, tree: str) -> str:
    """The tree with each ``XX`` replaced by its word, in order (a tree to read or to draw)."""
    leaves = iter(words.split())
    return " ".join(next(leaves) if token == WORD else token for token in tree.split())


def parse(sentences: list[str]) -> list[str | None]:
    """link-parser's constituent line of each sentence, or None where it found no parse with no
    null link (or the sentence starts with a link-parser command character)."""
    if shutil.which(COMMAND[0]) is None:
        raise DataError(f"{COMMAND[0]}: not found on PATH; install it: apt-get install {DEBS}")
    sent = [i for i, s in enumerate(sentences) if s.strip() and not s.lstrip().startswith(SPECIAL)]
    lines: list[str | None] = [None] * len(sentences)
    chunks = range(0, len(sent), CHUNK)
    for start in tqdm(chunks, desc="link-parser", unit="chunk", disable=len(chunks) < 2):
        chunk = sent[start : start + CHUNK]
        for i, line in zip(chunk, _run([sentences[i] for i in chunk]), strict=True):
            lines[i] = line
    return lines


def _run(sentences: list[str]) -> list[str | None]:
    """One link-parser process over ``sentences`` (none empty, none a command)."""
    text = "".join(f"{' '.join(s.split())}\n{SENTINEL}\n" for s in sentences)
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}  # no locale warnings
    try:
        done = subprocess.run(
            COMMAND, input=f"{SENTINEL}\n{text}", capture_output=True, text=True,
            encoding="utf-8", errors="replace", timeout=CHUNK_TIMEOUT_S, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise DataError(f"link-parser: no answer in {CHUNK_TIMEOUT_S} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or "no output").splitlines()[-1]
        raise DataError(f"link-parser failed (exit {done.returncode}): {clip(said)}")
    # the header, then one answer per sentence, then what follows the last sentinel ("Bye.")
    answers = done.stdout.split(f"{ANSWER}\n")[1:-1]
    if len(answers) != len(sentences):
        raise DataError(f"link-parser answered {len(answers)} of {len(sentences)} sentences")
    return [next((x for x in a.splitlines() if x.startswith("(")), None) for a in answers]


def silver_rows(sentences: list[str]) -> tuple[list[dict[str, str]], Parsed]:
    """The rows of the sentences that parse with no null link and whose words hold the
    sentence's letters and digits (one row per words: the first sentence giving them)."""
    rows: dict[str, dict[str, str]] = {}
    parsed = 0
    for sentence, line in zip(sentences, parse(sentences), strict=True):
        found = linearised(line) if line is not None else None
        parsed += line is not None
        if found is not None and normalised(found[0]) == normalised(sentence):
            rows.setdefault(found[0], dict(zip(SIDES, found, strict=True)))
    return list(rows.values()), Parsed(len(sentences), parsed, len(rows))


def fetch_english_silver_trees(data_dir: Path) -> Path:
    """Parse the English side of ``gettext`` (downloaded into ``data_dir`` first) and write the
    kept rows to ``data_dir/english-silver-trees/trees.jsonl``; return that folder. A file
    already there is kept (delete it to parse again)."""
    folder = Path(data_dir) / FOLDER
    if (folder / FILE).is_file():
        return folder
    try:
        english = DATASETS.get("gettext").load(data_dir)
    except DataError as e:
        said = clip(str(e).splitlines()[0])
        raise DataError(
            f"english_silver_trees parses gettext's English, which it cannot read ({said}); "
            f"run `sharedspace data download gettext --data-dir {data_dir}` first"
        ) from None
    sentences = [row["en"] for split in (english.train, english.validation, english.test)
                 for row in split]  # fmt: skip
    rows, counts = silver_rows(sentences)
    tqdm.write(
        f"english_silver_trees: {counts.parsed:,} of {counts.sentences:,} messages parsed with "
        f"no null link; {counts.kept:,} rows kept"
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot make this folder ({e.strerror})") from None
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".part", delete=False) as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    fsync_file(Path(out.name))
    os.replace(out.name, folder / FILE)
    fsync_directory(folder)
    return folder


@dataset("english_silver_trees", kind="text", splits=ParallelSplits)
def load_english_silver_trees(data_dir: Path | None = None) -> ParallelSplits:
    """SILVER English constituency trees (link-grammar's parses of gettext's English, not gold):
    rows {"words", "tree"}, the tree bracketed with XX for each word; gettext's split."""
    path = find_dataset(FOLDER, (FILE,), data_dir, how_to_get=HOW_TO_GET) / FILE
    splits = load_translation_pairs(path)  # split by its first side, the words
    if splits.sides != SIDES:
        raise DataError(f"{path}: expected the sides {', '.join(SIDES)}; found {splits.sides}")
    for split in (splits.train, splits.validation, splits.test):
        for row in split:
            if row["tree"].split().count(WORD) != len(row["words"].split()):
                raise DataError(f"{path}: a tree without one {WORD} per word: {clip(str(row))}")
    return replace(splits, scorers={"tree": BRACKETS})


FETCHERS["english_silver_trees"] = fetch_english_silver_trees
