"""COCO-format detection data (``coco_detection``): letterboxed pixels and boxes that still match,
classes by category id, what is skipped and why, the split rules, and one DataError naming the
file for each kind of bad input."""

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sharedspace.data import DATASETS, coco
from sharedspace.data.coco import (
    CROWD,
    EMPTIED,
    IMAGE_SIDE,
    PAD_COLOUR,
    DetectionImages,
    Letterbox,
    letterbox,
)
from sharedspace.data.parallel import source_hash
from sharedspace.errors import DataError
from tests.data.coco_files import (
    CATEGORIES,
    CLASSES,
    COLOURS,
    GREY,
    PICTURES,
    Picture,
    write_coco,
)
from tests.data.registry_checks import check_dataset

load = DATASETS.get("coco_detection").load
SPLIT_FILES = {"train": "train", "validation": "val", "test": "test"}
ORDER = sorted(c["id"] for c in CATEGORIES)  # class id → category id


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> DetectionImages:
    return load(write_coco(tmp_path_factory.mktemp("coco")))


def expected_box(picture: Picture, bbox: tuple[int, int, int, int]) -> np.ndarray:
    """An independent letterbox of one COCO box: longer side to IMAGE_SIDE, centred, clipped."""
    width, height = picture.size
    scale = IMAGE_SIDE / max(width, height)
    w, h = round(width * scale), round(height * scale)
    left, top = (IMAGE_SIDE - w) // 2, (IMAGE_SIDE - h) // 2
    x, y, bw, bh = bbox
    return np.array(
        [
            left + min(x, width) * w / width,
            top + min(y, height) * h / height,
            left + min(x + bw, width) * w / width,
            top + min(y + bh, height) * h / height,
        ]
    )


def kept_boxes(picture: Picture):
    """The picture's boxes the loader keeps: not crowd, at least a pixel once letterboxed."""
    for box in picture.boxes:
        x0, y0, x1, y1 = expected_box(picture, box.bbox)
        if not box.crowd and x1 - x0 >= 1 and y1 - y0 >= 1:
            yield box


def test_every_split_is_loaded_with_classes_ordered_by_category_id(data):
    assert data.classes == CLASSES == ("dog", "cat", "bird")  # category ids 3, 7, 12
    assert [c["name"] for c in sorted(CATEGORIES, key=lambda c: c["id"])] == list(CLASSES)
    for split, file_split in SPLIT_FILES.items():
        pictures = PICTURES[file_split]
        n = len(pictures)
        assert data.names[split] == [p.file_name for p in pictures]
        assert data.images[split].shape == (n, 3, IMAGE_SIDE, IMAGE_SIDE)
        assert data.images[split].dtype == torch.uint8
        assert data.boxes[split].shape == (n, 3, 4) and data.boxes[split].dtype == torch.float32
        assert data.labels[split].shape == (n, 3) and data.labels[split].dtype == torch.int64
        for i, picture in enumerate(pictures):
            kept = [ORDER.index(box.category) for box in kept_boxes(picture)]
            assert data.labels[split][i, : len(kept)].tolist() == kept


def test_crowd_and_emptied_boxes_are_skipped_and_counted_and_slots_padded(data):
    assert data.skipped == {CROWD: 1, EMPTIED: 1}
    # wide.png: cat, dog and the clipped bird kept, the crowd box dropped;
    # tall.jpg: its 1-pixel dog (0.8 pixels at 96) dropped; grey/empty.png has none
    assert data.labels["train"].tolist() == [[1, 0, 2], [2, -1, -1], [-1, -1, -1], [0, -1, -1]]
    padding = data.labels["train"] < 0
    assert (data.boxes["train"][padding] == 0).all()
    assert (data.boxes["train"][~padding, 2:] > data.boxes["train"][~padding, :2]).all()


def test_boxes_and_pixels_are_letterboxed_alike(data):
    """Each box is where the independent formula puts it; its pixels are its colour and those
    just outside are not, to within the resize's blur: pixels whose centres lie at least
    ``reach`` pixels inside the box are exactly its colour, and those at least ``reach`` outside
    are far from it, with ``reach`` one pixel of the coarser grid (the bilinear filter's radius:
    1 when shrinking, the scale when enlarging). JPEGs' boxes are checked, not their pixels."""
    checked = 0
    for split, file_split in SPLIT_FILES.items():
        for i, picture in enumerate(PICTURES[file_split]):
            image = data.images[split][i].numpy().astype(int)  # (3, S, S)
            reach = max(1.0, IMAGE_SIDE / max(picture.size))
            for slot, box in enumerate(kept_boxes(picture)):
                want = expected_box(picture, box.bbox)
                np.testing.assert_allclose(data.boxes[split][i, slot].numpy(), want, atol=1e-4)
                if picture.file_name.endswith(".png"):
                    _check_pixels(image, want, COLOURS[box.category], reach)
                    checked += 1
    assert checked == 9


def _check_pixels(image: np.ndarray, box: np.ndarray, colour, reach: float) -> None:
    x0, y0, x1, y1 = box
    centres = np.arange(IMAGE_SIDE) + 0.5
    cols = (centres >= x0 + reach) & (centres <= x1 - reach)
    rows = (centres >= y0 + reach) & (centres <= y1 - reach)
    assert cols.any() and rows.any()
    inner = image[:, rows][:, :, cols]
    assert (inner == np.array(colour)[:, None, None]).all()
    outside = {
        "left": (rows, (centres <= x0 - reach) & (centres > x0 - reach - 2)),
        "right": (rows, (centres >= x1 + reach) & (centres < x1 + reach + 2)),
        "top": ((centres <= y0 - reach) & (centres > y0 - reach - 2), cols),
        "bottom": ((centres >= y1 + reach) & (centres < y1 + reach + 2), cols),
    }
    for side, (r, c) in outside.items():
        ring = image[:, r][:, :, c]
        distance = np.abs(ring - np.array(colour)[:, None, None]).max(axis=0)
        assert (distance >= 60).all(), f"{side} of {box} looks like the box"


def test_letterbox_pads_with_one_colour_and_makes_grey_and_rgba_rgb(data):
    wide = data.images["train"][0]  # 200×100 → 96×48 at rows 24..71
    pad = torch.tensor(PAD_COLOUR, dtype=torch.uint8)[:, None, None]
    assert (wide[:, :24] == pad).all() and (wide[:, 72:] == pad).all()
    assert (wide[:, 24:72] != pad).any(dim=0).all()
    grey = data.images["train"][2]  # 50×50 of one grey value fills the square
    assert (grey == GREY).all()
    clear = data.images["train"][3]  # a transparent 120×100: the clear pixels become padding
    assert (clear[:, 80:] == pad).all() and tuple(clear[:, 30, 30].tolist()) == COLOURS[3]


def test_letterbox_placement_matches_the_image_it_places():
    placed = Letterbox.fit(300, 100, side=96)
    assert placed.size == (96, 32) and placed.offset == (0, 32)
    image = Image.new("RGB", (300, 100), (255, 0, 0))
    pixels = letterbox(image, 96)
    assert (pixels[0, 32:64] == 255).all() and (pixels[:, :32] == PAD_COLOUR[0]).all()
    clipped = placed.boxes(np.array([[-0.0, 90.0, 400.0, 50.0]]))  # past the right and bottom
    np.testing.assert_allclose(clipped, [[0, 32 + 90 * 0.32, 96, 64]], atol=1e-5)


def test_without_a_test_file_the_val_images_are_halved_by_their_id(tmp_path):
    data = load(write_coco(tmp_path, test=False))
    val = PICTURES["val"]
    halves = {p.file_name: "test" if source_hash(str(p.id)) % 2 else "validation" for p in val}
    got = {name: split for split in ("validation", "test") for name in data.names[split]}
    assert got == halves
    assert data.names["validation"] and data.names["test"]  # both halves hold an image here


def test_cocos_own_names_are_read_alike(tmp_path, data):
    own = load(write_coco(tmp_path, year="2017"))
    for split in SPLIT_FILES:
        assert torch.equal(own.images[split], data.images[split])
        assert torch.equal(own.boxes[split], data.boxes[split])
    assert own.names == data.names and own.classes == data.classes


def test_the_dataset_passes_the_registry_checks():
    check_dataset("coco_detection")


def test_no_folder_says_where_it_looked_and_how_to_make_one(tmp_path, isolated_home):
    with pytest.raises(DataError, match=r"coco: no folder holding annotations/instances_train"):
        load(tmp_path)


# ---------------------------------------------------------------------------- bad input


def edit(split: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Rewrites ``instances_<split>.json`` after ``change`` edits its JSON in place."""

    def apply(folder: Path) -> None:
        path = folder / "annotations" / f"instances_{split}.json"
        document = json.loads(path.read_text(encoding="utf-8"))
        change(document)
        path.write_text(json.dumps(document), encoding="utf-8")

    return apply


def write(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(content)


def remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def link_out(folder: Path) -> None:
    """train/linked.png links to an image outside the train folder."""
    outside = folder.parent / "outside.png"
    Image.new("RGB", (200, 100)).save(outside)
    (folder / "train" / "linked.png").symlink_to(outside)
    edit("train", lambda d: d["images"][0].update(file_name="linked.png"))(folder)


def second_train_file(folder: Path) -> None:
    shutil.copy(folder / "annotations/instances_train.json", folder / "annotations/x.json")
    (folder / "annotations/x.json").rename(folder / "annotations/instances_train2017.json")


TRAIN = r"instances_train\.json: "
BAD = [
    ("malformed", write("annotations/instances_train.json", b'{"images": ['), TRAIN + "not valid"),
    ("a list", write("annotations/instances_train.json", b"[]"), TRAIN + "expected an object"),
    ("no images", edit("train", lambda d: d.pop("images")), TRAIN + "no 'images' list"),
    ("missing", edit("train", lambda d: d.pop("annotations")), TRAIN + "no 'annotations'"),
    ("not a list", edit("train", lambda d: d.update(images={})), TRAIN + "images: expected"),
    ("an image", edit("train", lambda d: d["images"].append(5)), TRAIN + r"images\[4\]: exp"),
    (
        "no file_name",
        edit("train", lambda d: d["images"][0].pop("file_name")),
        TRAIN + r"images\[0\]: no 'file_name'",
    ),
    (
        "text width",
        edit("train", lambda d: d["images"][0].update(width="200")),
        TRAIN + r"images\[0\]\.width: expected a whole number ≥ 1, got '200'",
    ),
    (
        "boolean id",
        edit("train", lambda d: d["images"][0].update(id=True)),
        TRAIN + r"images\[0\]\.id: expected an integer, got True",
    ),
    (
        "short bbox",
        edit("train", lambda d: d["annotations"][0].update(bbox=[1, 2])),
        TRAIN + r"annotations\[0\]\.bbox: expected 4 numbers from 0 .*, got \[1, 2\]",
    ),
    (
        "negative bbox",
        edit("train", lambda d: d["annotations"][1].update(bbox=[-1, 0, 5, 5])),
        TRAIN + r"annotations\[1\]\.bbox: expected 4 numbers",
    ),
    (
        "NaN bbox",
        edit("train", lambda d: d["annotations"][0].update(bbox=[math.nan, 0, 5, 5])),
        TRAIN + r"annotations\[0\]\.bbox: expected 4 numbers",
    ),
    (
        "huge bbox",
        edit("train", lambda d: d["annotations"][0].update(bbox=[10**400, 0, 5, 5])),
        TRAIN + r"annotations\[0\]\.bbox: expected 4 numbers",
    ),
    (
        "unknown image",
        edit("train", lambda d: d["annotations"][2].update(image_id=999)),
        TRAIN + r"annotations\[2\]\.image_id: 999 is no image's id",
    ),
    (
        "unknown category",
        edit("train", lambda d: d["annotations"][0].update(category_id=4)),
        TRAIN + r"annotations\[0\]\.category_id: 4 is no category's id",
    ),
    (
        "crowd 2",
        edit("train", lambda d: d["annotations"][0].update(iscrowd=2)),
        TRAIN + r"annotations\[0\]\.iscrowd: expected 0 or 1",
    ),
    (
        "twice an image id",
        edit("train", lambda d: d["images"][1].update(id=1)),
        TRAIN + r"images\[1\]\.id: 1 is also .*instances_train\.json: images\[0\]",
    ),
    (
        "twice a category id",
        edit("train", lambda d: d["categories"].append({"id": 3, "name": "wolf"})),
        TRAIN + r"categories\[3\]\.id: 3 is listed twice",
    ),
    (
        "no categories",
        edit("train", lambda d: d.update(categories=[])),
        TRAIN + "categories: no category",
    ),
    (
        "new val category",
        edit("val", lambda d: d["categories"].append({"id": 99, "name": "yak"})),
        r"instances_val\.json: categories\[3\]: category 99 'yak' is not among the train file's",
    ),
    (
        "renamed val category",
        edit("val", lambda d: d["categories"][0].update(name="kitten")),
        r"instances_val\.json: categories\[0\]: category 7 'kitten' is not among",
    ),
    (
        "up and out",
        edit("train", lambda d: d["images"][0].update(file_name="../../outside.png")),
        TRAIN + r"images\[0\]\.file_name: '\.\./\.\./outside\.png' is not inside .*train",
    ),
    (
        "absolute",
        edit("train", lambda d: d["images"][0].update(file_name="/etc/hostname.png")),
        TRAIN + r"images\[0\]\.file_name: '/etc/hostname\.png' is not inside",
    ),
    ("linked out", link_out, TRAIN + r"images\[0\]\.file_name: 'linked\.png' is not inside"),
    (
        "lone surrogate",
        edit("train", lambda d: d["images"][0].update(file_name="\ud800.png")),
        TRAIN + r"images\[0\]\.file_name: expected a file name",
    ),
    (
        "a gif's name",
        edit("train", lambda d: d["images"][0].update(file_name="wide.gif")),
        TRAIN + r"images\[0\]\.file_name: 'wide\.gif' is not a \.png, \.jpg or \.jpeg file",
    ),
    (
        "missing image",
        remove("train/wide.png"),
        TRAIN + r"images\[0\]\.file_name: 'wide\.png' not found in",
    ),
    (
        "a gif inside",
        write("train/wide.png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
        r"train/wide\.png: not a readable PNG or JPEG image",
    ),
    (
        "wrong size",
        edit("train", lambda d: d["images"][0].update(width=201)),
        TRAIN + r"images\[0\]: width × height 201×100, but .*wide\.png is 200×100",
    ),
    ("no val", remove("annotations/instances_val.json"), r"annotations: no instances_val\.json"),
    (
        "two train files",
        second_train_file,
        r"annotations: holds instances_train\.json, instances_train2017\.json; keep one",
    ),
]


@pytest.mark.parametrize(
    ("damage", "message"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_input_is_one_data_error_naming_the_file(tmp_path, damage, message):
    root = write_coco(tmp_path / "data")
    damage(root / "coco")
    with pytest.raises(DataError, match=message) as caught:
        load(root)
    assert "\n" not in str(caught.value)


def test_an_oversized_annotations_file_is_refused_unread(tmp_path, monkeypatch):
    root = write_coco(tmp_path)
    monkeypatch.setattr(coco, "JSON_FILE_LIMIT", 1000)
    with pytest.raises(
        DataError, match=r"instances_train\.json: [\d,]+ bytes, more than the 1,000"
    ):
        load(root)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
FIELDS = [
    ("images", "id"),
    ("images", "file_name"),
    ("images", "width"),
    ("annotations", "image_id"),
    ("annotations", "category_id"),
    ("annotations", "bbox"),
    ("annotations", "iscrowd"),
    ("categories", "id"),
    ("categories", "name"),
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=st.sampled_from(FIELDS), index=st.integers(0, 2), value=JSON_VALUES)
def test_any_value_in_any_field_gives_data_or_a_data_error(tmp_path, where, index, value):
    """Whatever JSON value a field holds, the loader returns data or one line of DataError: no
    TypeError from an unhashable id, no OverflowError from a huge number."""
    root = tmp_path / "fuzz"
    if not root.exists():
        write_coco(root)
    path = root / "coco" / "annotations" / "instances_train.json"
    original = path.read_bytes()
    document = json.loads(original)
    key, field = where
    document[key][index][field] = value
    path.write_text(json.dumps(document), encoding="utf-8")
    try:
        load(root)
    except DataError as e:
        assert "\n" not in str(e)
    finally:
        path.write_bytes(original)
