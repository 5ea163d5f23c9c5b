"""Captioned images: the shared tools (squaring, NAME.txt, split keys) and a user's own folder in
its three formats, with the malformed files each must refuse by ``file:line``."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sharedspace.data import DATASETS
from sharedspace.data.captions import (
    IMAGE_SIZE,
    caption_key,
    read_caption_file,
    square_image,
)
from sharedspace.data.parallel import split_of
from sharedspace.errors import DataError

load = DATASETS.get("captioned_images").load


def write_png(path: Path, colour=(255, 0, 0, 255), size=(40, 20)) -> Path:
    """A transparent ``size`` image with a 10×10 block of ``colour`` in its middle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    left, top = size[0] // 2 - 5, size[1] // 2 - 5
    image.paste(Image.new("RGBA", (10, 10), colour), (left, top))
    image.save(path)
    return path


def test_square_image_composites_on_white_crops_to_the_drawing_and_pads_to_a_square():
    block = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    block.paste(Image.new("RGBA", (80, 40), (0, 0, 255, 255)), (50, 30))
    pixels = square_image(block)  # the 80×40 drawing, padded to 80×80, then 32×32
    assert pixels.shape == (3, IMAGE_SIZE, IMAGE_SIZE) and pixels.dtype == np.uint8
    assert (pixels[:, :7] >= 250).all() and (pixels[:, -7:] >= 250).all()  # white bands
    assert tuple(pixels[:, 16, 16]) == (0, 0, 255)
    half_clear = Image.new("RGBA", (8, 8), (0, 0, 0, 128))  # black at half alpha on white: grey
    assert abs(int(square_image(half_clear)[0, 4, 4]) - 127) <= 1


def test_caption_file_reads_the_english_line_and_each_locale(tmp_path):
    path = tmp_path / "yak.txt"
    path.write_text(
        "A  yak.\nde.utf8=Ein Yak.\n\nfr.utf8=Un yack.\npt_BR.utf8=Um iaque.\n"
        "ca@valencia.utf8=Un iac.\nes.utf8=\n",
        encoding="utf-8",
    )
    assert read_caption_file(path) == {
        "en": "A yak.",
        "de": "Ein Yak.",
        "fr": "Un yack.",
        "pt_BR": "Um iaque.",
        "ca@valencia": "Un iac.",
    }
    path.write_text("A yak.\nde.utf8=Ein Yak.\nthis is not a locale line\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"yak\.txt:3: expected <locale>\.utf8=<caption>"):
        read_caption_file(path)
    path.write_bytes(b"A yak\xff.\n")
    with pytest.raises(DataError, match=r"yak\.txt: not UTF-8"):
        read_caption_file(path)


def test_a_caption_and_its_near_twins_share_one_split_and_splits_are_deterministic():
    assert caption_key("A yak.") == caption_key("the  YAK") == caption_key("yak") == "yak"
    assert caption_key("An apple, red") == "apple red"
    keys = [f"caption number {i}" for i in range(4000)]
    splits = [split_of(k) for k in keys]
    assert splits == [split_of(k) for k in keys]
    for name, share in (("train", 0.9), ("validation", 0.05), ("test", 0.05)):
        assert abs(splits.count(name) / len(keys) - share) < 0.02


def check_folder(data) -> None:
    """The three-image folder the format tests write: a.png (English and German), b.png
    (English only), sub/c.jpg — wherever the hash puts each."""
    every = {
        name: (split, i) for split, names in data.names.items() for i, name in enumerate(names)
    }
    assert set(every) == {"a.png", "b.png", "sub/c.jpg"}
    split, i = every["b.png"]
    assert data.captions[split]["en"][i] == "A blue cat."
    assert data.captions[split]["de"][i] is None  # missing: None, aligned with the images
    split, i = every["a.png"]
    assert data.captions[split]["de"][i] == "Ein roter Hund."
    assert tuple(data.images[split][i, :, 16, 16].tolist()) == (255, 0, 0)
    assert sum(len(v) for v in data.images.values()) == 3
    for split in data.images:
        assert data.images[split].shape[1:] == (3, IMAGE_SIZE, IMAGE_SIZE)
        assert split_of(caption_key("x")) in data.images  # names the three splits


def user_images(folder: Path) -> None:
    write_png(folder / "a.png")
    write_png(folder / "b.png", (0, 0, 255, 255))
    (folder / "sub").mkdir()
    Image.new("RGB", (30, 30), (0, 200, 0)).save(folder / "sub" / "c.jpg")


def test_user_folder_with_a_tsv(tmp_path):
    user_images(tmp_path)
    (tmp_path / "captions.tsv").write_text(
        "image\ten\tde\na.png\tA red dog.\tEin roter Hund.\nb.png\tA blue cat.\t\n"
        "sub/c.jpg\tA green field.\tEin grünes Feld.\n",
        encoding="utf-8",
    )
    data = load(tmp_path)
    check_folder(data)
    assert data.languages == ("de", "en")
    groups = {n: g for s in data.names for n, g in zip(data.names[s], data.groups[s], strict=True)}
    assert groups == {"a.png": "", "b.png": "", "sub/c.jpg": "sub"}  # the top-level folder
    (tmp_path / "captions.tsv").write_text("a.png\tA red dog.\n", encoding="utf-8")  # no header
    assert load(tmp_path).languages == ("en",)


def test_user_folder_with_a_jsonl(tmp_path):
    user_images(tmp_path)
    rows = [
        {"image": "a.png", "en": "A red dog.", "de": "Ein roter Hund.", "group": "dogs"},
        {"image": "b.png", "en": "A blue cat."},
        {"image": "sub/c.jpg", "en": "A green field."},
    ]
    (tmp_path / "captions.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n\n")
    data = load(tmp_path)
    check_folder(data)
    assert "dogs" in {g for split in data.groups.values() for g in split}


def test_user_folder_with_a_caption_file_beside_each_image(tmp_path):
    user_images(tmp_path)
    write_png(tmp_path / "uncaptioned.png")
    (tmp_path / "a.txt").write_text("A red dog.\nde.utf8=Ein roter Hund.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("A blue cat.\n", encoding="utf-8")
    (tmp_path / "sub" / "c.txt").write_text("A green field.\n", encoding="utf-8")
    data = load(tmp_path)
    check_folder(data)
    assert data.skipped == {"images without a NAME.txt": 1}  # counted, not silently lost


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("captions.tsv", "a.png\tA dog.\nb.png\tA cat.\textra\n", r"captions\.tsv:2: 3 tab-sep"),
        ("captions.tsv", "a.png\tA dog.\nno.png\tA cat.\n", r"tsv:2: image 'no\.png' not found"),
        ("captions.tsv", "a.png\tA.\na.png\tB.\n", r"tsv:2: 'a\.png' is listed twice \(.*tsv:1"),
        ("captions.tsv", "a.png\t \n", r"tsv:1: no caption for 'a\.png'"),
        ("captions.tsv", "image\ten\ten\na.png\tx\ty\n", r"tsv:1: header languages"),
        ("captions.tsv", "../a.png\tA dog.\n", r"tsv:1: image '\.\./a\.png' is not inside"),
        ("captions.tsv", "/etc/passwd\tA dog.\n", r"tsv:1: image '/etc/passwd' is not inside"),
        ("captions.tsv", "notes.txt\tA dog.\n", r"tsv:1: image 'notes\.txt' is not a \.png"),
        ("captions.tsv", "fake.png\tA dog.\n", r"fake\.png: not a readable PNG or JPEG image"),
        ("captions.jsonl", '{"image": "a.png"}\n{"image": \n', r"jsonl:2: not valid"),
        ("captions.jsonl", '{"image": "a.png", "en": 3}\n', r"jsonl:1: keys \['en'\]"),
        ("captions.jsonl", '["a.png", "A dog."]\n', r"jsonl:1: expected an object"),
    ],
)  # fmt: skip
def test_malformed_user_folders_name_the_file_and_line(tmp_path, name, text, error):
    write_png(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "fake.png").write_text("not an image")
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=error):
        load(tmp_path)


def test_untrusted_folders_are_bounded_and_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match="give data_dir"):
        load(None)
    with pytest.raises(DataError, match="no captions"):
        load(tmp_path)
    Image.new("1", (9000, 9000)).save(tmp_path / "huge.png")  # 81 Mpx in a few kB
    (tmp_path / "captions.tsv").write_text("huge.png\tA bomb.\n")
    with pytest.raises(DataError, match=r"huge\.png: 9000×9000 pixels, more than"):
        load(tmp_path)
    (tmp_path / "captions.jsonl").write_text("")
    with pytest.raises(DataError, match=r"both captions\.tsv and captions\.jsonl"):
        load(tmp_path)
    folder = tmp_path / "lonely"
    (folder / "a.txt").parent.mkdir()
    (folder / "a.txt").write_text("A caption with no image.\n")
    with pytest.raises(DataError, match=r"a\.txt: no image beside it"):
        load(folder)
