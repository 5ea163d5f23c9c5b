"""Captioned images: the splits type every captioning source returns, the tools they share, and a
user's own folder of images with captions (``captioned_images``).

Every image is composited on white from its alpha channel, cropped to what it draws, padded to a
square with white and resized to ``IMAGE_SIZE`` (uint8 (3, S, S)), so stamps, emoji and photos of
any size and mode reach the image cap alike. Captions are kept per language; an image lacking a
caption in some language holds ``None`` there (so every language's list stays aligned with the
images), and a view reading one language uses the images that have it.

None of these sources has an official split: an image's split is a hash of its *split key* — its
English caption (else its first caption) as lower-case words without articles — by the rule the
translation pairs use (``parallel.split_of``: 90 / 5 / 5 %), so two images with one caption
("A yak." and "the yak") always share a split and a caption never straddles two.

A user's folder (untrusted) holds PNG or JPEG images and its captions in one of three forms:
``captions.tsv`` (``image<TAB>caption``; a first line ``image<TAB>en<TAB>de`` names a language per
column, without it the one caption column is English), ``captions.jsonl`` (one
``{"image": "a.png", "en": "...", "de": "...", "group": "..."}`` per line; every key but
``image`` and ``group`` is a language), or a ``NAME.txt`` beside each ``NAME.png`` in Tux Paint's
format (line 1 the English caption, then ``<locale>.utf8=<caption>`` lines). A malformed line or
a missing image is a DataError naming ``file:line``; file sizes and pixel counts are bounded
before decoding, only the PNG and JPEG decoders are allowed, and Pillow's decompression-bomb guard
stays on.
"""

import glob
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from sharedspace.data.datasets import dataset
from sharedspace.data.parallel import split_of
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, inside, loads_json, read_bytes, regular_file

# 32×32 is CIFAR's size, the one the image caps (and the MultiModel's entry flow) are sized and
# timed for on 2 CPU cores; an object a caption names (one stamp, one emoji) stays recognisable at
# 32, and the ~4.6k images of ``captions`` take 14 MB in memory.
IMAGE_SIZE = 32
# A cutout's longer side (``cutout``): objects pasted into scenes of 64–96 pixels at up to 60 % of
# the scene are only ever downsampled; the ~4.5k objects of ``scene_objects`` take 75 MB.
OBJECT_SIZE = 64
SPLIT_NAMES = ("train", "validation", "test")
IMAGE_FILE_LIMIT = 64 * MiB  # one image file; a 48-megapixel JPEG is about 20 MB
MAX_PIXELS = 64_000_000  # refused from the header, before decoding (Pillow's own guard: 89M)
CAPTION_FILE_LIMIT = 1 * MiB  # one NAME.txt (Tux Paint's largest: 9 kB, in 65 languages)
CAPTIONS_LIMIT = 256 * MiB  # one captions.tsv or captions.jsonl
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DECODERS = ("PNG", "JPEG")  # what Pillow may try on a user's file: no other format's decoder
ARTICLES = frozenset({"a", "an", "the"})
LANGUAGE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2})?(?:@[a-z]+)?")  # en, pt_BR, ca@valencia
# Tux Paint's translated captions: ``de.utf8=Ein Yak.`` (the locale, then its encoding)
LOCALE_LINE = re.compile(rf"(?P<language>{LANGUAGE.pattern})\.(?i:utf-?8)=(?P<caption>.*)")


@dataclass
class CaptionedImages:
    """Images and their captions per split (train, validation, test), aligned by index.

    ``captions[split][language][i]`` is image i's caption in that language, or None where it has
    none. ``groups[split][i]`` is the image's category in its source (a Tux Paint folder such as
    ``animals``, an emoji group such as ``Food & Drink``); empty when the source has none.
    ``names[split][i]`` says where image i came from (a path, or an emoji's code points).
    ``skipped`` counts what a source held but could not give, by reason, so nothing is lost
    without a number.
    """

    images: dict[str, torch.Tensor]  # split → (N, 3, S, S) uint8
    captions: dict[str, dict[str, list[str | None]]]
    names: dict[str, list[str]]
    groups: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language some image has a caption in, sorted."""
        return tuple(sorted({lang for split in self.captions.values() for lang in split}))


@dataclass
class Captioned:
    """One image and its captions, before splitting."""

    name: str  # where it came from; images are ordered by it within a split
    image: np.ndarray  # (3, S, S) uint8; a cutout's (4, S, S) RGBA
    captions: dict[str, str]  # language → caption
    group: str = ""
    key: str = ""  # what ``split_of`` hashes; default: the caption's ``caption_key``

    def __post_init__(self) -> None:
        if not self.key:
            self.key = caption_key(self.captions.get("en") or next(iter(self.captions.values())))


def caption_key(text: str) -> str:
    """``"A yak."`` → ``"yak"``: lower-case words (letters and digits) without articles."""
    return " ".join(w for w in re.findall(r"[^\W_]+", text.casefold()) if w not in ARTICLES)


def gather(
    assigned: Iterable[tuple[str, Captioned]], skipped: Counter | None = None
) -> CaptionedImages:
    """``(split, item)`` pairs → CaptionedImages, each split ordered by the items' names."""
    by_split: dict[str, list[Captioned]] = {split: [] for split in SPLIT_NAMES}
    for split, item in assigned:
        by_split[split].append(item)
    languages = sorted({lang for items in by_split.values() for c in items for lang in c.captions})
    images, captions, names, groups = {}, {}, {}, {}
    for split, items in by_split.items():
        items.sort(key=lambda c: c.name)
        shape = (0, 3, IMAGE_SIZE, IMAGE_SIZE)
        stacked = np.stack([c.image for c in items]) if items else np.zeros(shape, np.uint8)
        images[split] = torch.from_numpy(stacked)
        captions[split] = {lang: [c.captions.get(lang) for c in items] for lang in languages}
        names[split] = [c.name for c in items]
        groups[split] = [c.group for c in items]
    if not any(g for split in groups.values() for g in split):
        groups = {}
    return CaptionedImages(images, captions, names, groups, dict(skipped or {}))


def by_hash(items: Iterable[Captioned]) -> Iterable[tuple[str, Captioned]]:
    """Each item with the split its key hashes to (``parallel.split_of``)."""
    return ((split_of(item.key), item) for item in items)


def crop_to_alpha(image: Image.Image) -> Image.Image:
    """Any Pillow image → RGBA cropped to the box its alpha draws in (alpha > 0); one that draws
    nothing is returned whole."""
    rgba = image.convert("RGBA")
    box = rgba.getchannel("A").getbbox()
    return rgba if box is None else rgba.crop(box)


def square_image(image: Image.Image, size: int = IMAGE_SIZE) -> np.ndarray:
    """Any Pillow image → (3, size, size) uint8: composited on white, cropped to the box its alpha
    draws in, padded to a centred square with white, resized with a Lanczos filter."""
    rgba = crop_to_alpha(image)
    side = max(rgba.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    small = canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8).transpose(2, 0, 1).copy()


def cutout(image: Image.Image, size: int = OBJECT_SIZE) -> np.ndarray:
    """Any Pillow image → (4, size, size) uint8 RGBA with its alpha kept (for pasting into
    scenes): cropped to the box its alpha draws in, resized so its longer side is ``size`` with a
    triangle filter (no ringing, so a transparent pixel stays transparent), cropped again to what
    stays visible and put at the top left of a transparent square. All zero when it draws
    nothing."""
    rgba = crop_to_alpha(image)
    scale = size / max(rgba.size)
    shape = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
    rgba = crop_to_alpha(rgba.resize(shape, Image.Resampling.BILINEAR))
    canvas = np.zeros((4, size, size), np.uint8)
    if rgba.getchannel("A").getbbox() is not None:
        canvas[:, : rgba.height, : rgba.width] = np.asarray(rgba, dtype=np.uint8).transpose(2, 0, 1)
    return canvas


def decode_image(
    data: bytes,
    where: str,
    formats: tuple[str, ...] = DECODERS,
    shape: Callable[[Image.Image], np.ndarray] = square_image,
) -> np.ndarray:
    """Image file bytes → ``shape`` of the image (``square_image``, or ``cutout``); a file that
    is not one of ``formats``, is corrupt or declares more than MAX_PIXELS pixels is a DataError
    naming ``where``."""
    try:
        with Image.open(io.BytesIO(data), formats=list(formats)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataError(
                    f"{where}: {image.width}×{image.height} pixels, more than {MAX_PIXELS:,}"
                )
            image.load()
            return shape(image)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise DataError(f"{where}: not a readable {' or '.join(formats)} image ({e})") from None


def clean(caption: str) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(caption.split())


def read_caption_file(path: Path) -> dict[str, str]:
    """Tux Paint's NAME.txt: line 1 the English caption, then ``<locale>.utf8=<caption>`` lines
    (``de.utf8=Ein Yak.``, ``pt_BR.utf8=…``), keyed by the locale without its encoding. Blank
    lines and blank captions are skipped; any other line is a DataError naming ``file:line``."""
    try:
        lines = read_bytes(path, CAPTION_FILE_LIMIT, DataError).decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    captions = {"en": clean(lines[0])} if lines and lines[0].strip() else {}
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        found = LOCALE_LINE.fullmatch(line.strip())
        if found is None:
            raise DataError(f"{path}:{number}: expected <locale>.utf8=<caption>, got {line[:60]!r}")
        if clean(found["caption"]):
            captions.setdefault(found["language"], clean(found["caption"]))
    return captions


# ---------------------------------------------------------------------------- a user's own folder


@dataclass
class _Row:
    """One image a captions file lists, with where it was listed (``file:line``)."""

    where: str
    image: str
    captions: dict[str, str]
    group: str | None = None


@dataset("captioned_images", kind="image", splits=CaptionedImages)
def load_captioned_images(data_dir: Path | None = None) -> CaptionedImages:
    """Your own images with captions: ``data_dir`` is a folder of PNG/JPEG images with
    ``captions.tsv``, ``captions.jsonl`` or a ``NAME.txt`` beside each image (module docstring);
    split by a hash of each image's caption (``split_of``)."""
    if data_dir is None:
        raise DataError("captioned_images: give data_dir, a folder of images with captions")
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    tables = [
        folder / name for name in ("captions.tsv", "captions.jsonl") if (folder / name).exists()
    ]
    if len(tables) > 1:
        raise DataError(f"{folder}: holds both captions.tsv and captions.jsonl; keep one")
    skipped: Counter = Counter()
    if not tables:
        rows = _caption_files(folder, skipped)
    elif tables[0].suffix == ".tsv":
        rows = _tsv_rows(tables[0])
    else:
        rows = _jsonl_rows(tables[0])
    if not rows:
        raise DataError(
            f"{folder}: no captions (expected captions.tsv, captions.jsonl or NAME.txt beside "
            f"NAME.png)"
        )
    return gather(by_hash(_item(folder, row) for row in rows), skipped)


def _item(folder: Path, row: _Row) -> Captioned:
    """The row's image, read from inside ``folder`` only."""
    path = folder / row.image
    if Path(row.image).is_absolute() or not inside(path, folder):
        raise DataError(f"{row.where}: image {row.image!r} is not inside {folder}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{row.where}: image {row.image!r} is not a .png, .jpg or .jpeg file")
    if not regular_file(path):
        raise DataError(f"{row.where}: image {row.image!r} not found in {folder}")
    image = decode_image(read_bytes(path, IMAGE_FILE_LIMIT, DataError), str(path))
    parts = Path(row.image).parts
    group = row.group if row.group is not None else parts[0] if len(parts) > 1 else ""
    return Captioned(row.image, image, row.captions, group)


def _lines(path: Path) -> Iterable[tuple[str, str]]:
    """``(file:line, text)`` of each non-blank line of a UTF-8 file."""
    try:
        text = read_bytes(path, CAPTIONS_LIMIT, DataError).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield f"{path}:{number}", line


def _tsv_rows(path: Path) -> list[_Row]:
    """``image<TAB>caption`` lines; a first line starting ``image<TAB>`` names the languages."""
    lines = list(_lines(path))
    languages = ["en"]
    if lines and lines[0][1].split("\t")[0].strip().lower() == "image":
        where, header = lines.pop(0)
        languages = [name.strip() for name in header.split("\t")[1:]]
        bad = [name for name in languages if not LANGUAGE.fullmatch(name)]
        if bad or not languages or len(set(languages)) != len(languages):
            raise DataError(
                f"{where}: header languages {languages} — expected distinct codes such as en, de"
            )
    rows = []
    for where, line in lines:
        fields = line.split("\t")
        if len(fields) != 1 + len(languages):
            raise DataError(
                f"{where}: {len(fields)} tab-separated fields, expected {1 + len(languages)} "
                f"(image, {', '.join(languages)})"
            )
        captions = {lang: clean(c) for lang, c in zip(languages, fields[1:], strict=True)}
        rows.append(_Row(where, fields[0].strip(), {k: v for k, v in captions.items() if v}))
    return _checked(rows)


def _jsonl_rows(path: Path) -> list[_Row]:
    """One JSON object per line: ``image``, optional ``group``, and captions by language."""
    rows = []
    for where, line in _lines(path):
        record = loads_json(line, where, DataError)
        if not isinstance(record, dict) or not isinstance(record.get("image"), str):
            raise DataError(f'{where}: expected an object with an "image" file name')
        group = record.pop("group", None)
        image = record.pop("image")
        bad = [k for k, v in record.items() if not (LANGUAGE.fullmatch(k) and isinstance(v, str))]
        if bad or not (group is None or isinstance(group, str)):
            raise DataError(
                f"{where}: keys {bad or ['group']} — expected language codes (en, de, …) with "
                f'text, and an optional text "group"'
            )
        captions = {lang: clean(c) for lang, c in record.items() if clean(c)}
        rows.append(_Row(where, image.strip(), captions, group))
    return _checked(rows)


def _checked(rows: list[_Row]) -> list[_Row]:
    """Each image listed once and with a caption."""
    first: dict[str, str] = {}
    for row in rows:
        if not row.captions:
            raise DataError(f"{row.where}: no caption for {row.image!r}")
        if row.image in first:
            raise DataError(
                f"{row.where}: {row.image!r} is listed twice (first at {first[row.image]})"
            )
        first[row.image] = row.where
    return rows


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _caption_files(folder: Path, skipped: Counter) -> list[_Row]:
    """A NAME.txt beside each NAME.png / .jpg / .jpeg, in any subfolder; an image without one is
    counted in ``skipped``, a NAME.txt without an image is a DataError."""
    rows, captioned = [], set()
    for text in sorted(folder.rglob("*.txt")):
        if not regular_file(text, folder):
            continue
        images = sorted(p for p in text.parent.glob(f"{glob.escape(text.stem)}.*") if _is_image(p))
        if not images:
            raise DataError(f"{text}: no image beside it ({', '.join(IMAGE_SUFFIXES)})")
        captions = read_caption_file(text)
        if not captions:
            raise DataError(f"{text}:1: no caption")
        captioned.add(images[0])
        rows.append(_Row(str(text), images[0].relative_to(folder).as_posix(), captions))
    uncaptioned = [p for p in folder.rglob("*") if _is_image(p) and p not in captioned]
    if uncaptioned:
        skipped["images without a NAME.txt"] = len(uncaptioned)
    return rows
