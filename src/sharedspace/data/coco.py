"""Object detection data in COCO's JSON format (cocodataset.org/#format-data; Lin et al. 2014,
"Microsoft COCO: Common Objects in Context"): a user's own folder of images with boxes.

The folder is found as ``coco`` under ``data_dir`` (or ``data_dir`` itself, ``find_dataset``)::

    coco/annotations/instances_train.json    images of train/
    coco/annotations/instances_val.json      images of val/
    coco/annotations/instances_test.json     images of test/ (optional)

COCO's own names are read too: ``instances_<split><year>.json`` with its images in
``<split><year>/`` (``instances_train2017.json`` and ``train2017/``), so COCO's unpacked zips are
such a folder as they are. An image's ``file_name`` may hold subfolders but must stay inside its
split's image folder (that folder may itself be a link, to a shared copy of COCO).

- **Splits**: train from the train file, validation from the val file, test from the test file.
  Without a test file (COCO's test images have no public annotations) the val file's images are
  halved by a hash of their id (``parallel.source_hash``): odd to test, even to validation, the
  same on every machine, so model selection never sees the test half.
- **Classes**: the train file's ``categories``, ordered by id and numbered 0..C−1 (COCO's ids are
  arbitrary and have gaps: 1..90 for 80 classes). A val or test category must be one of them,
  under the same name.
- **Boxes**: ``bbox`` is x, y, width, height in the image's pixels; kept as x0, y0, x1, y1 (x1,
  y1 exclusive). Crowd boxes (``iscrowd`` 1) are dropped and counted in ``skipped``: COCO's
  evaluation treats them as regions where a detection is neither right nor wrong, which this
  loader does not model, and as targets they would teach one box around a crowd.
- **Letterbox**: each image is resized keeping its aspect ratio so its longer side is
  ``IMAGE_SIDE`` (an antialiased bilinear filter, which does not ring) and centred on a square of
  ``PAD_COLOUR``; its boxes are clipped to the image, then scaled and shifted exactly as its
  pixels were. A box under 1 pixel wide or high after that is dropped and counted. Grey, palette
  and CMYK images become RGB; transparent pixels are composited on ``PAD_COLOUR``. An image's
  ``width`` and ``height`` must be its file's: boxes are measured in them.
- **Objects per image**: all are kept; G is the most any image of any split holds (at least 1),
  so one G serves every split and nothing is lost; a task may keep fewer. COCO's busiest images
  hold dozens of objects, so labels and boxes take 24 × G bytes an image (under 10 % of its
  pixels' 27 kB for G < 115). An image without objects is kept, with G empty slots.
- **Time**: decoding and letterboxing take about 6 ms per 640×480 JPEG on one core (measured
  beside a training run), so COCO 2017's training split loads in about 12 minutes.

Only the keys read are required: ``images`` [{id, file_name, width, height}], ``annotations``
[{image_id, category_id, bbox, iscrowd (0 when absent)}] and ``categories`` [{id, name}]; the
rest (``info``, ``segmentation``, ``area``, …) is ignored. The folder is untrusted: a malformed
file, a wrong type, an unknown id, a twice-listed image id, a missing or non-PNG/JPEG image or
a file name leaving its folder is a one-line DataError naming the file and the entry
(``…/instances_train.json: annotations[3].bbox: …``); file sizes and pixel counts are bounded
before decoding, and only the PNG and JPEG decoders run (``captions.decode_image``).
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sharedspace.data.captions import IMAGE_FILE_LIMIT, IMAGE_SUFFIXES, MAX_PIXELS, decode_image
from sharedspace.data.datasets import dataset
from sharedspace.data.locate import find_dataset
from sharedspace.data.parallel import source_hash
from sharedspace.errors import DataError, short
from sharedspace.untrusted import MiB, inside, loads_json, read_bytes, regular_file

# 96: the largest side the composed detection scenes (``scenes``) are timed at on 2 CPU cores. A
# 640×480 COCO photo shrinks 6.7×: COCO's "small" objects (under 32² pixels) end up a few pixels
# across, and those under ~7 pixels wide or high under one (dropped, counted in ``skipped``). An
# image takes 27 kB in memory: COCO 2017's 118k training images 3.3 GB.
IMAGE_SIDE = 96
PAD_COLOUR = (114, 114, 114)  # YOLOv5's letterbox grey: mid-range, so its edge is a weak one
FOLDER = "coco"
JSON_FILE_LIMIT = 512 * MiB  # one annotations file; COCO 2017's instances_train2017.json: 448 MB
MAX_COORDINATE = float(MAX_PIXELS)  # no side of an image we may decode is longer
ANNOTATION_NAME = "instances_{split}{year}.json"
YEAR = "[0-9][0-9][0-9][0-9]"  # the glob of COCO's years: instances_train2017.json
SPLIT_FILES = {"train": "train", "validation": "val", "test": "test"}  # split → the files' name
MARKERS = tuple(f"annotations/{ANNOTATION_NAME.format(split='train', year=y)}" for y in ("", YEAR))
HOW_TO_GET = (
    "put your data there in COCO's format: coco/annotations/instances_train.json and "
    "instances_val.json (and optionally instances_test.json), the images under coco/train/ and "
    "coco/val/; COCO 2017's annotations_trainval2017.zip, train2017.zip and val2017.zip unpack "
    "into such a folder as they are"
)
CROWD = "crowd boxes (iscrowd 1)"
EMPTIED = "boxes under 1 pixel wide or high after letterboxing"
REQUIRED = object()  # ``_get``'s default: the key must be there


@dataclass
class DetectionImages:
    """Letterboxed images and their objects per split (train, validation, test), aligned by
    index. Image i of a split holds ``(labels[split][i] >= 0).sum()`` objects in its first slots;
    the other slots of its G hold label −1 and a zero box. ``names[split][i]`` is its
    ``file_name``; ``skipped`` counts the boxes dropped, by reason."""

    images: dict[str, torch.Tensor]  # split → (N, 3, S, S) uint8
    boxes: dict[str, torch.Tensor]  # split → (N, G, 4) float32: x0, y0, x1, y1 pixels, exclusive
    labels: dict[str, torch.Tensor]  # split → (N, G) int64 class ids, −1 where no object
    names: dict[str, list[str]]
    classes: tuple[str, ...]  # class id → its category's name, ordered by category id
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Letterbox:
    """Where an image of ``source`` (width, height) pixels lands in a square: resized to ``size``
    (its longer side the square's), its top left corner at ``offset``; the rest is padding."""

    source: tuple[int, int]
    size: tuple[int, int]
    offset: tuple[int, int]

    @classmethod
    def fit(cls, width: int, height: int, side: int = IMAGE_SIDE) -> "Letterbox":
        """The placement of a ``width`` × ``height`` image in a ``side`` × ``side`` square."""
        scale = side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cls((width, height), size, ((side - size[0]) // 2, (side - size[1]) // 2))

    def boxes(self, xywh: np.ndarray) -> np.ndarray:
        """(K, 4) COCO boxes (x, y, width, height in source pixels) → (K, 4) float32 x0, y0, x1, y1
        in the square: clipped to the source image, then scaled per axis to ``size`` and shifted
        by ``offset``, as the resize maps the image's edges to the resized one's."""
        source = np.array(self.source * 2, dtype=np.float64)
        corners = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        scale = np.array(self.size * 2, dtype=np.float64) / source
        placed = np.clip(corners, 0, source) * scale + np.array(self.offset * 2, dtype=np.float64)
        return placed.astype(np.float32)


def letterbox(image: Image.Image, side: int = IMAGE_SIDE) -> np.ndarray:
    """Any Pillow image → (3, side, side) uint8 RGB, placed by ``Letterbox.fit``: transparent
    pixels composited on PAD_COLOUR, resized with an antialiased bilinear filter, centred on a
    PAD_COLOUR square."""
    placed = Letterbox.fit(image.width, image.height, side)
    if image.has_transparency_data:
        canvas = Image.new("RGBA", image.size, (*PAD_COLOUR, 255))
        canvas.alpha_composite(image.convert("RGBA"))
        image = canvas
    small = image.convert("RGB").resize(placed.size, Image.Resampling.BILINEAR)
    square = Image.new("RGB", (side, side), PAD_COLOUR)
    square.paste(small, placed.offset)
    return np.asarray(square, dtype=np.uint8).transpose(2, 0, 1).copy()


@dataset("coco_detection", kind="image", splits=DetectionImages)
def load_coco_detection(data_dir: Path | None = None, side: int = IMAGE_SIDE) -> DetectionImages:
    """Your own detection data in COCO's JSON format, letterboxed to ``side`` pixels: the folder
    ``coco`` under ``data_dir`` (module docstring); test from instances_test.json, else from half
    of the val images (by a hash of their id)."""
    folder = find_dataset(FOLDER, MARKERS, data_dir, how_to_get=HOW_TO_GET)
    files = {split: _annotation_file(folder, name) for split, name in SPLIT_FILES.items()}
    skipped: Counter = Counter()
    categories, train = _read(_required(files, "train", folder), None, skipped)
    _, val = _read(_required(files, "validation", folder), categories, skipped)
    if files["test"] is None:
        to_test = [source_hash(str(entry.id)) % 2 == 1 for entry in val]
        validation = [e for e, t in zip(val, to_test, strict=True) if not t]
        test = [e for e, t in zip(val, to_test, strict=True) if t]
    else:
        validation, test = val, _read(files["test"], categories, skipped)[1]
    splits = {"train": train, "validation": validation, "test": test}
    class_of = {category: i for i, category in enumerate(sorted(categories))}
    loaded = {
        split: _decoded(entries, class_of, side, skipped) for split, entries in splits.items()
    }
    g = max([1, *(len(labels) for _, _, found in loaded.values() for labels in found)])
    boxes, labels = {}, {}
    for split, (_, found_boxes, found_labels) in loaded.items():
        boxes[split] = torch.zeros((len(found_labels), g, 4), dtype=torch.float32)
        labels[split] = torch.full((len(found_labels), g), -1, dtype=torch.int64)
        for i, (b, c) in enumerate(zip(found_boxes, found_labels, strict=True)):
            boxes[split][i, : len(c)] = torch.from_numpy(b)
            labels[split][i, : len(c)] = torch.from_numpy(c)
    return DetectionImages(
        images={split: images for split, (images, _, _) in loaded.items()},
        boxes=boxes,
        labels=labels,
        names={split: [entry.file_name for entry in entries] for split, entries in splits.items()},
        classes=tuple(categories[c] for c in sorted(categories)),
        skipped=dict(skipped),
    )


# ---------------------------------------------------------------------------- reading the files


@dataclass
class _Entry:
    """One image an annotations file lists, with its non-crowd boxes in COCO's form."""

    where: str  # "<file>: images[i]"
    id: int
    file_name: str
    file: Path
    width: int
    height: int
    boxes: list[list[float]] = field(default_factory=list)  # x, y, width, height
    categories: list[int] = field(default_factory=list)  # COCO category ids, one per box


def _annotation_file(folder: Path, split: str) -> Path | None:
    """``annotations/instances_<split>.json`` or ``…<split><year>.json``; None if neither."""
    found = sorted(
        path
        for year in ("", YEAR)
        for path in (folder / "annotations").glob(ANNOTATION_NAME.format(split=split, year=year))
    )
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(f"{folder / 'annotations'}: holds {names}; keep one of them")
    return found[0] if found else None


def _required(files: dict[str, Path | None], split: str, folder: Path) -> Path:
    path = files[split]
    if path is None:
        name = ANNOTATION_NAME.format(split=SPLIT_FILES[split], year="")
        raise DataError(f"{folder / 'annotations'}: no {name} (or the same with a year)")
    return path


def _read(
    path: Path, known: dict[int, str] | None, skipped: Counter
) -> tuple[dict[int, str], list[_Entry]]:
    """One annotations file → its categories (id → name) and its images with their non-crowd
    boxes, in the file's order. ``known``: the train file's categories, which this file's must
    be among (None: this is the train file). Images are looked for in the folder named as the
    file without ``instances_`` (train/, train2017/)."""
    record = loads_json(read_bytes(path, JSON_FILE_LIMIT, DataError), path, DataError)
    if not isinstance(record, dict):
        raise DataError(f"{path}: expected an object with images, annotations and categories")
    lists = {}
    for key in ("images", "annotations", "categories"):
        if key not in record:
            raise DataError(f"{path}: no {key!r} list")
        if not isinstance(record[key], list):
            raise DataError(f"{path}: {key}: expected a list, got {short(record[key])}")
        lists[key] = record[key]
    categories = _categories(lists["categories"], path, known)
    images_folder = path.parent.parent / path.stem.removeprefix("instances_")
    entries: dict[int, _Entry] = {}
    for i, item in enumerate(lists["images"]):
        entry = _image(item, f"{path}: images[{i}]", images_folder)
        if entry.id in entries:
            raise DataError(f"{entry.where}.id: {entry.id} is also {entries[entry.id].where}")
        entries[entry.id] = entry
    for i, item in enumerate(lists["annotations"]):
        where = f"{path}: annotations[{i}]"
        item = _object(item, where)
        image_id = _get(item, "image_id", _is_int, "an integer", where)
        if image_id not in entries:
            raise DataError(f"{where}.image_id: {image_id} is no image's id in images")
        category = _get(item, "category_id", _is_int, "an integer", where)
        if category not in categories:
            raise DataError(f"{where}.category_id: {category} is no category's id in categories")
        bbox = _get(
            item, "bbox", _is_bbox, f"4 numbers from 0 to {MAX_PIXELS:,} (x, y, w, h)", where
        )
        if _get(item, "iscrowd", lambda v: v in (0, 1), "0 or 1", where, default=0):
            skipped[CROWD] += 1
            continue
        entries[image_id].boxes.append([float(v) for v in bbox])
        entries[image_id].categories.append(category)
    return categories, list(entries.values())


def _categories(items: list, path: Path, known: dict[int, str] | None) -> dict[int, str]:
    """id → name of each category, every id once; each among ``known`` (same id, same name)."""
    found: dict[int, str] = {}
    for i, item in enumerate(items):
        where = f"{path}: categories[{i}]"
        item = _object(item, where)
        category = _get(item, "id", _is_int, "an integer", where)
        name = _get(item, "name", _is_text, "a text", where)
        if category in found:
            raise DataError(f"{where}.id: {category} is listed twice")
        if known is not None and known.get(category) != name:
            raise DataError(
                f"{where}: category {category} {short(name)} is not among the train file's "
                f"categories (every split uses the train file's classes)"
            )
        found[category] = name
    if known is None and not found:
        raise DataError(f"{path}: categories: no category, so no class to detect")
    return found


def _image(item: Any, where: str, folder: Path) -> _Entry:
    """One ``images`` entry, its file checked: inside ``folder``, PNG or JPEG, present."""
    item = _object(item, where)
    image_id = _get(item, "id", _is_int, "an integer", where)
    name = _get(item, "file_name", _is_file_name, "a file name", where)
    width = _get(item, "width", _is_side, "a whole number ≥ 1", where)
    height = _get(item, "height", _is_side, "a whole number ≥ 1", where)
    file = folder / name
    if Path(name).is_absolute() or not inside(file, folder):
        raise DataError(f"{where}.file_name: {short(name)} is not inside {folder}")
    if file.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{where}.file_name: {short(name)} is not a .png, .jpg or .jpeg file")
    if not regular_file(file):
        raise DataError(f"{where}.file_name: {short(name)} not found in {folder}")
    return _Entry(where, image_id, name, file, width, height)


def _object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected an object, got {short(item)}")
    return item


def _get(
    item: dict[str, Any],
    key: str,
    ok: Callable[[Any], bool],
    expected: str,
    where: str,
    default: Any = REQUIRED,
) -> Any:
    """``item[key]`` if ``ok`` says it is ``expected``; a missing key is ``default`` where one is
    given, else an error."""
    if key not in item and default is not REQUIRED:
        return default
    if key not in item:
        raise DataError(f"{where}: no {key!r}")
    if not ok(item[key]):
        raise DataError(f"{where}.{key}: expected {expected}, got {short(item[key])}")
    return item[key]


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_side(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_COORDINATE


def _is_text(value: Any) -> bool:
    """A str that UTF-8 can encode (JSON's ``"\\ud800"`` decodes to one it cannot)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_file_name(value: Any) -> bool:
    return _is_text(value) and value.strip() != "" and "\0" not in value


def _is_bbox(value: Any) -> bool:
    """4 numbers, none negative, none past any image's side (NaN, ∞ and huge ints fail too)."""
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(type(v) in (int, float) and 0 <= v <= MAX_COORDINATE for v in value)
    )


# ---------------------------------------------------------------------------- images and boxes


def _decoded(
    entries: list[_Entry], class_of: dict[int, int], side: int, skipped: Counter
) -> tuple[torch.Tensor, list[np.ndarray], list[np.ndarray]]:
    """One split's images letterboxed, (N, 3, side, side) uint8, with per image its kept boxes
    (K, 4) float32 and class ids (K,) int64."""
    images = torch.empty((len(entries), 3, side, side), dtype=torch.uint8)
    boxes, labels = [], []
    for i, entry in enumerate(entries):
        placed = Letterbox.fit(entry.width, entry.height, side)
        data = read_bytes(entry.file, IMAGE_FILE_LIMIT, DataError)
        shape = partial(_letterboxed, entry=entry, side=side)
        images[i] = torch.from_numpy(decode_image(data, str(entry.file), shape=shape))
        found = placed.boxes(np.asarray(entry.boxes, dtype=np.float64).reshape(-1, 4))
        kept = (found[:, 2] - found[:, 0] >= 1) & (found[:, 3] - found[:, 1] >= 1)
        if not kept.all():
            skipped[EMPTIED] += int((~kept).sum())
        boxes.append(found[kept])
        labels.append(np.array([class_of[c] for c in entry.categories], dtype=np.int64)[kept])
    return images, boxes, labels


def _letterboxed(image: Image.Image, entry: _Entry, side: int) -> np.ndarray:
    """``letterbox``, once the file's size is the one its boxes are measured in."""
    if image.size != (entry.width, entry.height):
        raise DataError(
            f"{entry.where}: width × height {entry.width}×{entry.height}, but {entry.file} is "
            f"{image.width}×{image.height}"
        )
    return letterbox(image, side)
