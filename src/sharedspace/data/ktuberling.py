"""KTuberling's objects (Debian ``ktuberling-data``): the stickers of its ten playgrounds (a potato
head, Egypt, the moon, a pizzeria, a train valley, …), each captioned by the word the game says
when a child picks it up.

``pics/NAME.theme`` is XML: ``<playground gameboard="NAME.svg[z]">`` holding
``<object name="ID" sound="SOUND"/>`` elements, where ID is an element id in the board's SVG and
SOUND names the spoken word (``sounds/<lang>.soundtheme`` maps it to a recording per language).
The words exist as text only in those sound names: the translation catalogs
(``ktuberling.mo``) hold the game's menus, not the words, so captions are English only.
Measured on ``ktuberling-data`` 4:22.12.3: 10 themes, **495 objects, 190 sound names**, which
become **176 distinct captions** (``tv_ball``, ``xmas_ball`` and ``ball`` all say "ball").

A caption is the sound name without its theme's prefix (the longest prefix ending in ``_`` or
``-`` that at least half of the theme's sound names share: ``tv_``, ``xmas_``, ``tux-``,
``robot_workshop_``), its ``_``/``-`` read as spaces, and the nine misspelt or run-together words
of ``WORD_FIXES`` corrected (every other word is in ``/usr/share/dict/words``).

Each object is drawn alone by rendering the whole board with a stylesheet that hides every
element but the object's (``rsvg-convert -s``), then cropping to what it draws. ``rsvg-convert
--export-id`` would be simpler, but librsvg 2.54 places about half of these objects (mirrored
ones, those under transformed groups) outside its canvas. The board is rendered with its longer
side ``BOARD_SIZE`` pixels, so the smallest objects (a goblet, a note) are 8–16 pixels before
the resize to 32; an object that draws nothing (an id the board lacks) is a DataError.
"""

import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np

from sharedspace.data.captions import Captioned, CaptionedImages, by_hash, gather, square_image
from sharedspace.data.datasets import dataset
from sharedspace.data.locate import find_dataset
from sharedspace.data.svg import SvgJob, render_all, render_svg, require_rsvg
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, inside, read_bytes

BOARD_SIZE = 1024  # pixels of a board's longer side (0.2 s an object on one core)
BOARD_LIMIT = 64 * MiB  # the largest board is 1.4 MB
THEME_LIMIT = 1 * MiB  # the largest theme is 5 kB
ELEMENT_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # what a stylesheet may name unescaped
# Sound names of ktuberling-data 22.12.3 whose words are misspelt or run together
WORD_FIXES = {
    "brocolli": "broccoli",
    "dowe": "dove",
    "fallingstar": "falling star",
    "fireengine": "fire engine",
    "frier": "friar",
    "palmtree": "palm tree",
    "sherif": "sheriff",
    "sphynx": "sphinx",
    "whitch": "witch",
}
# Everything hidden but one element and what it draws through (gradients, clips, masks, …)
ONLY = (
    "* {{ visibility: hidden !important; }}\n"
    "#{id}, #{id} *, defs *, clipPath *, mask *, pattern *, marker *, symbol * "
    "{{ visibility: visible !important; }}\n"
)


def object_items(data_dir: Path | None) -> tuple[list[Captioned], Counter]:
    """Every object of every theme, drawn alone and captioned by its word."""
    folder = find_dataset(
        "ktuberling",
        ("pics/*.theme",),
        data_dir,
        debian_root=Path("/usr/share"),
        how_to_get="get it with `apt-get install -y ktuberling-data librsvg2-bin`",
    )
    themes = {path.stem: read_theme(path) for path in sorted((folder / "pics").glob("*.theme"))}
    require_rsvg(folder, sum(len(objects) for _, objects in themes.values()), "objects")
    boards = {board: read_bytes(board, BOARD_LIMIT, DataError) for board, _ in themes.values()}
    with tempfile.TemporaryDirectory() as styles:
        jobs, items = [], []
        for theme, (board, objects) in themes.items():
            prefix = theme_prefix([sound for _, sound in objects])
            for element, sound in objects:
                style = Path(styles) / f"{len(jobs)}.css"
                style.write_text(ONLY.format(id=element))
                jobs.append(SvgJob(boards[board], f"{board}#{element}", BOARD_SIZE, style))
                items.append((f"{theme}/{element}", caption(sound, prefix), theme))
        pictures = render_all(jobs, _alone, "ktuberling_objects")
    captioned = []
    for (name, text, group), picture, job in zip(items, pictures, jobs, strict=True):
        if isinstance(picture, str):
            raise DataError(f"{job.where}: {picture} (no element with that id?)")
        captioned.append(Captioned(name, picture, {"en": text}, group))
    return captioned, Counter()


def _alone(job: SvgJob) -> np.ndarray | str:
    """(3, S, S) uint8 of the object the job's stylesheet leaves visible, or why there is none;
    squared at once, so the board-sized pictures (3 MB each) are not all kept."""
    picture = render_svg(job)
    return square_image(picture) if picture.getchannel("A").getbbox() else "draws nothing"


def read_theme(path: Path) -> tuple[Path, list[tuple[str, str]]]:
    """A ``.theme`` file → its board's path and its ``(element id, sound name)`` objects."""
    try:
        root = ET.fromstring(read_bytes(path, THEME_LIMIT, DataError))
    except ET.ParseError as e:
        raise DataError(f"{path}: not XML ({e})") from None
    board = root.get("gameboard", "")
    if root.tag != "playground" or not board:
        raise DataError(f'{path}: expected <playground gameboard="BOARD.svg"> as the root')
    objects = [(o.get("name", ""), o.get("sound", "")) for o in root.iter("object")]
    bad = [name for name, sound in objects if not (ELEMENT_ID.fullmatch(name) and sound)]
    if bad or not objects:
        raise DataError(
            f'{path}: expected <object name="ID" sound="SOUND"/> elements with plain ids '
            f"(letters, digits, _ and -), got {bad[:3] or 'none'}"
        )
    board_path = path.parent / board
    if not inside(board_path, path.parent) or not board_path.is_file():
        raise DataError(f"{path}: its gameboard {board!r} is not a file beside it")
    return board_path, objects


def theme_prefix(sounds: list[str]) -> str:
    """The longest prefix ending in ``_`` or ``-`` that at least half of the distinct sound
    names share (``tv_`` of ``tv_car``, ``tv_lorry_tractor``, …), or "" when none does."""
    names = set(sounds)
    shared = Counter(name[: m.end()] for name in names for m in re.finditer(r"[_-]", name))
    return max((p for p, n in shared.items() if 2 * n >= len(names)), key=len, default="")


def caption(sound: str, prefix: str) -> str:
    """``tv_lorry_tractor`` (prefix ``tv_``) → ``lorry tractor``; ``WORD_FIXES`` applied."""
    words = re.split(r"[_-]", sound.removeprefix(prefix))
    return " ".join(WORD_FIXES.get(word, word) for word in words if word)


@dataset("ktuberling_objects", kind="image", splits=CaptionedImages)
def load_ktuberling_objects(data_dir: Path | None = None) -> CaptionedImages:
    """KTuberling's 495 objects captioned by their words (English), split by a hash of the word;
    groups are the themes. About a minute on 2 cores (each object renders its whole board)."""
    items, skipped = object_items(data_dir)
    return gather(by_hash(items), skipped)
