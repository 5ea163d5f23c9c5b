"""Noto Color Emoji (Debian ``fonts-noto-color-emoji``) captioned by their Unicode names
(``emoji-test.txt`` from Debian ``unicode-data``): 3,655 fully-qualified emoji in 9 groups,
English captions only.

Each emoji is drawn with Pillow at the font's bitmap size (109 pt → 136×128 pixels, colour from
the font's embedded bitmaps; sequences joined by ZWJ need Pillow's raqm layout, which its wheels
bundle). One the font cannot draw as a single glyph (a sequence newer than the font) is counted
in ``skipped``, not kept as several glyphs side by side.

Skin-tone variants are near twins ("thumbs up" and "thumbs up: light skin tone"), so the split key
is the name without its skin tones: all five tones share the split of the plain emoji.
"""

import io
import re
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sharedspace.data.captions import (
    Captioned,
    CaptionedImages,
    by_hash,
    caption_key,
    cutout,
    gather,
    square_image,
)
from sharedspace.data.datasets import dataset
from sharedspace.data.locate import find_dataset
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, read_bytes

FONT = "NotoColorEmoji.ttf"
FONT_SIZE = 109  # the one size of the font's colour bitmaps
FONT_LIMIT = 64 * MiB  # Debian's font is 10 MB
TEST_FILE = "emoji/emoji-test.txt"
TEST_FILE_LIMIT = 16 * MiB  # Unicode 15's is 0.6 MB
# ``1F44D 1F3FB ; fully-qualified # 👍🏻 E1.0 thumbs up: light skin tone``
EMOJI_LINE = re.compile(
    r"(?P<points>[0-9A-F]{4,6}(?: [0-9A-F]{4,6})*)\s*;\s*(?P<status>[a-z-]+)\s*"
    r"#\s*\S+\s+E\d+\.\d+\s+(?P<name>\S.*)"
)
GROUP_LINE = re.compile(r"#\s*group:\s*(?P<group>\S.*)")
SKIN_TONE = re.compile(r"(?:medium-light|medium-dark|light|medium|dark) skin tone")


def emoji_items(data_dir: Path | None, rgba: bool = False) -> tuple[list[Captioned], Counter]:
    """Every fully-qualified emoji the font draws as one glyph, and the count of the others; the
    pictures are ``square_image``'s, or with ``rgba`` ``cutout``'s (alpha kept, for scenes)."""
    font_folder = find_dataset(
        "noto",
        (FONT,),
        data_dir,
        debian_root=Path("/usr/share/fonts/truetype"),
        how_to_get="get it with `apt-get install -y fonts-noto-color-emoji`",
    )
    names_folder = find_dataset(
        "unicode",
        (TEST_FILE,),
        data_dir,
        debian_root=Path("/usr/share"),
        how_to_get="get it with `apt-get install -y unicode-data`",
    )
    font_path = font_folder / FONT
    try:
        font = ImageFont.truetype(
            io.BytesIO(read_bytes(font_path, FONT_LIMIT, DataError)), FONT_SIZE
        )
    except OSError as e:
        raise DataError(
            f"{font_path}: not a font Pillow can read at size {FONT_SIZE} ({e})"
        ) from None
    width = font.getbbox("\N{GRINNING FACE}")[2]  # one glyph's advance
    shape = cutout if rgba else square_image
    items, skipped = [], Counter()
    for points, name, group in read_emoji_test(names_folder / TEST_FILE):
        text = "".join(chr(int(p, 16)) for p in points.split())
        canvas = Image.new("RGBA", (2 * width, 2 * width), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((0, 0), text, font=font, embedded_color=True)
        box = canvas.getbbox()
        if box is None or box[2] > width:
            skipped["emoji the font does not draw as one glyph"] += 1
            continue
        key = caption_key(SKIN_TONE.sub("", name))
        items.append(
            Captioned(f"U+{points.replace(' ', ' U+')}", shape(canvas), {"en": name}, group, key)
        )
    return items, skipped


def read_emoji_test(path: Path) -> list[tuple[str, str, str]]:
    """``(code points, name, group)`` of each fully-qualified emoji in an ``emoji-test.txt``; a
    line that is neither a comment nor an emoji is a DataError naming ``file:line``."""
    try:
        lines = read_bytes(path, TEST_FILE_LIMIT, DataError).decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    found, group = [], ""
    for number, line in enumerate(lines, 1):
        if heading := GROUP_LINE.fullmatch(line.strip()):
            group = heading["group"].strip()
        elif line.strip() and not line.startswith("#"):
            emoji = EMOJI_LINE.fullmatch(line.strip())
            if emoji is None:
                raise DataError(
                    f"{path}:{number}: expected `CODE POINTS ; status # emoji E1.0 name`"
                )
            if emoji["status"] == "fully-qualified":
                found.append((emoji["points"], emoji["name"].strip(), group))
    if not found:
        raise DataError(f"{path}: holds no fully-qualified emoji")
    return found


@dataset("noto_emoji", kind="image", splits=CaptionedImages)
def load_noto_emoji(data_dir: Path | None = None) -> CaptionedImages:
    """Noto Color Emoji captioned by their Unicode names (English), split by a hash of the name
    without skin tones; groups are Unicode's (Smileys & Emotion, Animals & Nature, …)."""
    items, skipped = emoji_items(data_dir)
    return gather(by_hash(items), skipped)
