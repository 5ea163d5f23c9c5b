"""A tiny detection folder in COCO's exact JSON format (cocodataset.org/#format-data), for the
COCO loader's tests and any test that needs detection data: ``write_coco(root)``.

Its images differ in size, aspect ratio and mode (wide, tall, square; RGB, grey, RGBA; PNG and
JPEG; one in a subfolder; one larger and some smaller than the loader's side). Each box is drawn
as a filled rectangle of its category's colour on a white (or transparent) background, so a test
can find it in the loaded pixels. Category ids are non-contiguous and listed out of order; the
training file holds a crowd box (not drawn), a box reaching past its image's edge, a box 1 pixel
wide (under a pixel once letterboxed) and an image without boxes.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

CATEGORIES = ({"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 12, "name": "bird"})
CLASSES = ("dog", "cat", "bird")  # class ids 0, 1, 2: ordered by category id (3, 7, 12)
COLOURS = {3: (230, 30, 30), 7: (30, 30, 230), 12: (30, 200, 30)}  # category id → RGB
BACKGROUND = (255, 255, 255)
GREY = 200  # the grey image's one value


@dataclass(frozen=True)
class Box:
    """One annotation: COCO's bbox (x, y, width, height in pixels) of a category."""

    category: int
    bbox: tuple[int, int, int, int]
    crowd: bool = False


@dataclass(frozen=True)
class Picture:
    """One image: its COCO id, file name (under its split's folder), size (width, height) and
    Pillow mode; the format follows the file name's suffix."""

    id: int
    file_name: str
    size: tuple[int, int]
    mode: str = "RGB"
    boxes: tuple[Box, ...] = ()


PICTURES = {
    "train": (
        Picture(
            1,
            "wide.png",
            (200, 100),
            boxes=(
                Box(7, (20, 10, 60, 40)),
                Box(3, (120, 40, 70, 45)),
                Box(12, (0, 0, 200, 100), crowd=True),
                Box(12, (90, 70, 20, 50)),  # past the bottom edge: clipped to y 70..100
            ),
        ),
        Picture(
            5,
            "tall.jpg",
            (60, 120),
            boxes=(Box(12, (10, 20, 30, 50)), Box(3, (50, 100, 1, 10))),  # 1 px: 0.8 at 96
        ),
        Picture(9, "grey/empty.png", (50, 50), "L"),
        Picture(2, "clear.png", (120, 100), "RGBA", (Box(3, (10, 10, 50, 40)),)),
    ),
    "val": (
        Picture(
            11,
            "v1.png",
            (100, 150),
            boxes=(
                Box(3, (10, 10, 30, 30)),
                Box(7, (50, 60, 40, 30)),
                Box(12, (10, 100, 80, 40)),
            ),
        ),
        Picture(12, "v2.jpg", (90, 60), boxes=(Box(12, (20, 10, 40, 30)),)),
        Picture(13, "v3.png", (64, 64), boxes=(Box(7, (8, 8, 40, 40)),)),
    ),
    "test": (Picture(21, "t1.png", (130, 70), boxes=(Box(7, (30, 20, 50, 40)),)),),
}


def write_coco(root: Path, *, year: str = "", test: bool = True) -> Path:
    """``root/coco`` with ``annotations/instances_<split><year>.json`` and each split's images
    under ``<split><year>/`` (``year="2017"``: COCO's own names); ``test=False`` leaves out the
    test split. Returns ``root``, the data_dir to load it from."""
    folder = root / "coco"
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    annotation_id = 100
    for split, pictures in PICTURES.items():
        if split == "test" and not test:
            continue
        images, annotations = [], []
        for picture in pictures:
            _draw(picture, folder / f"{split}{year}" / picture.file_name)
            images.append(_image_record(picture))
            for box in picture.boxes:
                annotation_id += 1
                annotations.append(_annotation_record(annotation_id, picture, box))
        document = {
            "info": {"description": "sharedspace test data", "version": "1.0", "year": 2024},
            "licenses": [{"url": "https://example.org/license", "id": 1, "name": "Test"}],
            "images": images,
            "annotations": annotations,
            "categories": [{"supercategory": "animal", **c} for c in CATEGORIES],
        }
        path = folder / "annotations" / f"instances_{split}{year}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
    return root


def _draw(picture: Picture, path: Path) -> None:
    """The picture's non-crowd boxes as filled rectangles on white (transparent for RGBA)."""
    background = {"RGB": BACKGROUND, "L": GREY, "RGBA": (0, 0, 0, 0)}[picture.mode]
    image = Image.new(picture.mode, picture.size, background)
    for box in picture.boxes:
        if not box.crowd:
            x, y, w, h = box.bbox
            image.paste(COLOURS[box.category], (x, y, x + w, y + h))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        image.save(path, quality=95)
    else:
        image.save(path)


def _image_record(picture: Picture) -> dict:
    width, height = picture.size
    return {
        "license": 1,
        "file_name": picture.file_name,
        "coco_url": f"http://images.example.org/{picture.file_name}",
        "height": height,
        "width": width,
        "date_captured": "2024-01-01 00:00:00",
        "flickr_url": "",
        "id": picture.id,
    }


def _annotation_record(annotation_id: int, picture: Picture, box: Box) -> dict:
    x, y, w, h = box.bbox
    if box.crowd:  # uncompressed RLE, column-major: every pixel of the box's image set
        width, height = picture.size
        segmentation: object = {"counts": [0, width * height], "size": [height, width]}
    else:
        segmentation = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    return {
        "segmentation": segmentation,
        "area": float(w * h),
        "iscrowd": int(box.crowd),
        "image_id": picture.id,
        "bbox": [float(v) for v in box.bbox],
        "category_id": box.category,
        "id": annotation_id,
    }
