"""Openclipart's drawings (Debian ``openclipart-svg``, 2005–2008 public-domain clip art) captioned
by the titles their authors gave them, where a title is a clean English caption.

The tree is ``openclipart/svg/<category>/…/NAME.svg``; each drawing's title is the ``<dc:title>``
of its ``<cc:Work>`` metadata (the ``<dc:title>`` of an author's ``<cc:Agent>`` is a name, not a
title). Measured on ``openclipart-svg`` 1:0.18+dfsg-19: 8,121 SVG paths, of which 663 are links
filing a drawing under a second category (each drawing is read once, at its real file), so 7,458
drawings. **A clean English title** is, in this order of the rules:

- not empty: rejects 62;
- plain words: ASCII letters only, words joined by single spaces, hyphens or apostrophes
  ("Dog On Leash", "T-shirt"); rejects 2,537 titles with digits, brackets or underscores, most of
  them collection or file names ("Part of the Flat Icon Collection (Wed Aug 25 …)", "boat2",
  "AIGA_Symbol_Signs");
- at most ``MAX_WORDS`` (6) words: rejects 3;
- every word in the English dictionary ``/usr/share/dict/words`` (Debian ``wamerican``, compared
  case-insensitively): rejects 2,615 titles in Italian ("Albero", "Camicia in seta"), French,
  misspelt ("Sallite") or run together ("LeafRake");
- held by at most ``MAX_SHARED`` (3) drawings: a title many drawings share names their
  collection, not the picture ("gramastar" × 1,375, "card" × 226, "Lemon SVG theme"); rejects 778.

That keeps **1,463** titles. ``rsvg-convert`` cannot read 2 of those drawings (malformed XML)
and 4 draw nothing; both are counted in ``skipped``, not fatal, in a collection this size. So
**1,457 drawings** with 1,253 distinct titles (1,224 ignoring case; a title held by two or three
drawings, "lighthouse", is kept: they are different lighthouses), split 1,321 / 67 / 69 by
``by_hash``. A title is kept as written, spaces collapsed. Groups are the top-level categories
(animals, food, …; 22). Loading takes about 20 s on 2 cores, nearly all of it rendering.
"""

import html
import re
from collections import Counter
from pathlib import Path

import numpy as np

from sharedspace.data.captions import (
    IMAGE_FILE_LIMIT,
    Captioned,
    CaptionedImages,
    by_hash,
    clean,
    gather,
    square_image,
)
from sharedspace.data.datasets import dataset
from sharedspace.data.locate import find_dataset
from sharedspace.data.svg import SvgJob, render_all, render_svg, require_rsvg
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, read_bytes, regular_file

INSTALL = "`apt-get install -y openclipart-svg wamerican librsvg2-bin`"
MAX_WORDS = 6
MAX_SHARED = 3
WORDS_LIMIT = 64 * MiB  # wamerican's is 1 MB
WORK = re.compile(rb"<cc:Work\b.*?</cc:Work>", re.DOTALL)
AGENT = re.compile(rb"<cc:Agent\b.*?</cc:Agent>", re.DOTALL)
TITLE = re.compile(rb"<dc:title>(.*?)</dc:title>", re.DOTALL)
PLAIN_WORDS = re.compile(r"[A-Za-z]+(?:[ '-][A-Za-z]+)*")


def clipart_items(data_dir: Path | None) -> tuple[list[Captioned], Counter]:
    """Every drawing with a clean English title (module docstring), and counts of the others."""
    folder = find_dataset(
        "openclipart",
        ("svg/*/*.svg", "svg/*/*/*.svg"),
        data_dir,
        debian_root=Path("/usr/share"),
        how_to_get=f"get it with {INSTALL}",
    )
    words_folder = find_dataset(
        "dict",
        ("words",),
        data_dir,
        debian_root=Path("/usr/share"),
        how_to_get=f"get it with {INSTALL}",
    )
    root = folder / "svg"
    kept, skipped = titled_drawings(root, read_words(words_folder / "words"))
    require_rsvg(folder, len(kept), "titled drawings")
    jobs = (SvgJob(read_bytes(path, IMAGE_FILE_LIMIT, DataError), str(path)) for path, _ in kept)
    items = []
    for (path, title), picture in zip(kept, render_all(jobs, _drawing, "openclipart"), strict=True):
        if isinstance(picture, str):
            skipped[picture] += 1
        else:
            name = path.relative_to(root).as_posix()
            items.append(Captioned(name, picture, {"en": title}, name.split("/")[0]))
    return items, skipped


def titled_drawings(root: Path, english: frozenset[str]) -> tuple[list[tuple[Path, str]], Counter]:
    """``(path, title)`` of every drawing under ``root`` with a clean English title, and the
    count of the others by the rule they break (module docstring)."""
    skipped: Counter = Counter()
    titled = []
    for path in sorted(root.rglob("*.svg")):
        if regular_file(path, root, follow_links=False):
            titled.append((path, work_title(read_bytes(path, IMAGE_FILE_LIMIT, DataError))))
        else:
            skipped["links to a drawing filed elsewhere"] += 1
    shared = Counter(title.casefold() for _, title in titled)
    kept = []
    for path, title in titled:
        reason = title_fault(title, english, shared[title.casefold()])
        if reason:
            skipped[reason] += 1
        else:
            kept.append((path, title))
    return kept, skipped


def _drawing(job: SvgJob) -> np.ndarray | str:
    """(3, S, S) uint8 of the rendered drawing, or why there is none (a malformed SVG, nothing
    drawn): a collection of 7,458 files holds a few broken ones, counted rather than fatal."""
    try:
        picture = render_svg(job)
    except DataError:
        return "drawings rsvg-convert cannot render"
    if picture.getchannel("A").getbbox() is None:
        return "drawings that draw nothing"
    return square_image(picture)


def work_title(svg: bytes) -> str:
    """The ``<dc:title>`` of the drawing's ``<cc:Work>`` (not of its authors), spaces collapsed;
    empty when it has none."""
    work = WORK.search(svg)
    title = TITLE.search(AGENT.sub(b"", work.group())) if work else None
    return clean(html.unescape(title.group(1).decode("utf-8", "replace"))) if title else ""


def title_fault(title: str, english: frozenset[str], shared: int) -> str:
    """Why ``title`` is not a clean English title (module docstring), or "" when it is."""
    if not title:
        return "no title"
    if not PLAIN_WORDS.fullmatch(title):
        return "titles not plain words"
    words = re.split(r"[ -]", title.casefold())
    if len(words) > MAX_WORDS:
        return f"titles of more than {MAX_WORDS} words"
    if not all(word in english for word in words):
        return "titles with words not in the English dictionary"
    if shared > MAX_SHARED:
        return f"titles shared by more than {MAX_SHARED} drawings (a collection's name)"
    return ""


def read_words(path: Path) -> frozenset[str]:
    """A word list (one word a line, as Debian's ``/usr/share/dict/words``), case-folded."""
    try:
        text = read_bytes(path, WORDS_LIMIT, DataError).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    words = frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())
    if not words:
        raise DataError(f"{path}: holds no words")
    return words


@dataset("openclipart", kind="image", splits=CaptionedImages)
def load_openclipart(data_dir: Path | None = None) -> CaptionedImages:
    """Openclipart drawings with clean English titles (module docstring), split by a hash of the
    title; groups are the top-level categories. About 30 s (1,463 drawings to render)."""
    items, skipped = clipart_items(data_dir)
    return gather(by_hash(items), skipped)
