"""Tux Paint's stamps (Debian ``tuxpaint-stamps-default``): 950 pictures — about a third
photographs with transparent backgrounds, the rest cartoons, drawings and symbols — each captioned
by a person in English and translated into about 65 languages (German and French for 949–950).

The tree is ``stamps/<category>/…/NAME.{png,svg,txt}``; NAME.txt is read by
``read_caption_file``. Where a stamp has both an SVG and a PNG, the SVG is used (as Tux Paint
does); SVGs are rendered by ``rsvg-convert`` (Debian ``librsvg2-bin``). A NAME.txt with no
picture beside it (two Christmas gifts) is counted in ``skipped``. ``NAME.dat`` options
(``noflip``, …) concern painting and are not read.
"""

from collections import Counter
from pathlib import Path

import numpy as np

from sharedspace.data.captions import (
    IMAGE_FILE_LIMIT,
    Captioned,
    CaptionedImages,
    by_hash,
    cutout,
    decode_image,
    gather,
    read_caption_file,
    square_image,
)
from sharedspace.data.datasets import dataset
from sharedspace.data.locate import find_dataset
from sharedspace.data.svg import SvgJob, render_all, render_svg, require_rsvg
from sharedspace.errors import DataError
from sharedspace.untrusted import read_bytes, regular_file

DEBIAN_ROOT = Path("/usr/share/tuxpaint")
FOLDER = "stamps"


def stamp_items(data_dir: Path | None, rgba: bool = False) -> tuple[list[Captioned], Counter]:
    """Every stamp with a picture and a caption, and the count of those without a picture; the
    pictures are ``square_image``'s, or with ``rgba`` ``cutout``'s (alpha kept, for scenes)."""
    folder = find_dataset(
        FOLDER,
        ("*/*.txt", "*/*/*.txt", "*/*/*/*.txt"),
        data_dir,
        debian_root=DEBIAN_ROOT,
        how_to_get="get it with `apt-get install -y tuxpaint-stamps-default librsvg2-bin`",
    )
    pictures, skipped = [], Counter()
    for text in sorted(folder.rglob("*.txt")):
        found = [p for p in (text.with_suffix(".svg"), text.with_suffix(".png")) if regular_file(p)]
        if found:
            pictures.append((text, found[0]))
        else:
            skipped["captions without a picture"] += 1
    require_rsvg(folder, sum(picture.suffix == ".svg" for _, picture in pictures), "stamps")
    svgs = [p for _, p in pictures if p.suffix == ".svg"]
    jobs = (SvgJob(read_bytes(p, IMAGE_FILE_LIMIT, DataError), str(p)) for p in svgs)
    draw, cache = (_cutout, "tuxpaint_stamps_rgba") if rgba else (_drawing, "tuxpaint_stamps")
    drawn = dict(zip(svgs, render_all(jobs, draw, cache), strict=True))
    items = []
    for text, picture in pictures:
        captions = read_caption_file(text)
        if "en" not in captions:
            raise DataError(f"{text}:1: no English caption")
        name = picture.relative_to(folder).as_posix()
        if picture.suffix == ".png":
            data = read_bytes(picture, IMAGE_FILE_LIMIT, DataError)
            image = decode_image(data, str(picture), ("PNG",), cutout if rgba else square_image)
        else:
            image = drawn[picture]
        items.append(Captioned(name, image, captions, name.split("/")[0]))
    return items, skipped


def _drawing(job: SvgJob) -> np.ndarray:
    """(3, S, S) uint8 of an SVG stamp rendered by rsvg-convert."""
    return square_image(render_svg(job))


def _cutout(job: SvgJob) -> np.ndarray:
    """(4, S, S) uint8 RGBA ``cutout`` of an SVG stamp rendered by rsvg-convert."""
    return cutout(render_svg(job))


@dataset("tuxpaint_stamps", kind="image", splits=CaptionedImages)
def load_tuxpaint_stamps(data_dir: Path | None = None) -> CaptionedImages:
    """Tux Paint's stamps with their captions (English, German, French and more), split by a hash
    of the English caption; groups are the top-level folders (animals, food, …)."""
    items, skipped = stamp_items(data_dir)
    return gather(by_hash(items), skipped)
