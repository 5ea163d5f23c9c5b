"""Objects for scenes: cutouts keep their alpha, classes are kept only where every split has
one, identities never straddle splits, the RGBA renders have their own cache; the real set."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sharedspace.data import DATASETS, tuxpaint
from sharedspace.data.captions import (
    OBJECT_SIZE,
    Captioned,
    caption_key,
    cutout,
    read_caption_file,
)
from sharedspace.data.locate import CACHE_ENV_VAR
from sharedspace.data.parallel import split_of
from sharedspace.data.scene_objects import Cutouts, SceneObjects, gather_objects, photographs
from tests.data.data_formats import NEEDS_RSVG
from tests.data.test_captions import write_png
from tests.data.test_tuxpaint import SVG

load = DATASETS.get("scene_objects").load
SPLITS = ("train", "validation", "test")
STAMPS = Path("/usr/share/tuxpaint/stamps")
FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
SKIN_TONES = {f"U+1F3F{c}" for c in "BCDEF"}
REAL_CLASSES = (
    "emoji/Animals & Nature",
    "emoji/Flags",
    "emoji/Food & Drink",
    "emoji/Objects",
    "emoji/People & Body",
    "emoji/Smileys & Emotion",
    "emoji/Symbols",
    "emoji/Travel & Places",
    "stamps/animals",
    "stamps/clothes",
    "stamps/food",
    "stamps/hobbies",
    "stamps/household",
    "stamps/plants",
    "stamps/seasonal",
    "stamps/symbols",
    "stamps/town",
    "stamps/vehicles",
)


CLASS_OF = {
    "emoji/b": "emoji/Animals",
    "emoji/t": "emoji/People",
    "emoji/p": "emoji/People",
    "stamps/y": "stamps/animals",
}


def hashed_to(split: str, stem: str) -> str:
    """The first ``"{stem} N"`` whose split key hashes to ``split``."""
    return next(f"{stem} {i}" for i in range(1000) if split_of(caption_key(f"{stem} {i}")) == split)


def item(name: str, key: str, group: str, alpha: int = 255) -> Captioned:
    """A cutout of a 30×10 red block (of ``alpha``) with the split key ``key``."""
    image = Image.new("RGBA", (30, 10), (255, 0, 0, alpha))
    return Captioned(name, cutout(image), {"en": key}, group, key)


def test_a_cutout_keeps_alpha_crops_to_the_drawing_and_sits_top_left():
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (40, 60), (0, 0, 255, 255)), (50, 10))
    image.paste(Image.new("RGBA", (40, 20), (0, 255, 0, 128)), (50, 70))  # half transparent
    pixels = cutout(image)  # the 40×80 drawing → 32×64
    assert pixels.shape == (4, OBJECT_SIZE, OBJECT_SIZE) and pixels.dtype == np.uint8
    alpha = pixels[3]
    assert alpha[:, :32].min() > 0 and alpha[:, 32:].max() == 0
    assert tuple(pixels[:, 10, 16]) == (0, 0, 255, 255)
    assert abs(int(alpha[58, 16]) - 128) <= 1 and tuple(pixels[:3, 58, 16]) == (0, 255, 0)
    assert not cutout(Image.new("RGBA", (5, 5), (9, 9, 9, 0))).any()  # draws nothing: all zero


def test_classes_are_kept_where_every_split_has_one_and_identities_keep_one_split():
    found = [("emoji", item(f"b{s}", hashed_to(s, "bee"), "Animals")) for s in SPLITS]
    twins = hashed_to("validation", "thumbs")
    found += [("emoji", item(f"t{i}", twins, "People")) for i in range(3)]  # one identity
    found += [("emoji", item(f"p{s}", hashed_to(s, "face"), "People")) for s in ("train", "test")]
    found += [("stamps", item(f"y{s}", hashed_to(s, "yak"), "animals")) for s in SPLITS]
    found += [("stamps", item("lone", hashed_to("train", "lone"), "sports"))]
    found += [("stamps", item("blank", hashed_to("test", "blank"), "animals", alpha=0))]
    objects = gather_objects(found)
    assert objects.classes == ("emoji/Animals", "emoji/People", "stamps/animals")
    assert objects.skipped == {
        "stamps: in a class not in every split (sports)": 1,
        "stamps: draws nothing": 1,
    }
    where = {n: s for s, c in objects.splits.items() for n in c.names}
    assert {where[f"emoji/t{i}"] for i in range(3)} == {"validation"}
    for s in SPLITS:
        cut = objects.splits[s]
        assert where[f"stamps/y{s}"] == s and where[f"emoji/b{s}"] == s
        assert cut.names == sorted(cut.names) and len(cut) == len(cut.names) == len(cut.pictures)
        classes = [CLASS_OF[n[: n.index("/") + 2]] for n in cut.names]  # by the name's letter
        assert [objects.classes[label] for label in cut.labels.tolist()] == classes
        assert cut.sizes.tolist() == [[21, 64]] * len(cut)  # 30×10 → 64×21, measured


def test_the_sizes_are_measured_from_the_alpha():
    pictures = torch.zeros(2, 4, 8, 8, dtype=torch.uint8)
    pictures[0, 3, :5, :8] = 255
    pictures[1, 3, 7, 2] = 1  # one faint pixel sets the extent
    cut = Cutouts.of(pictures, torch.tensor([0, 1]), ["a", "b"])
    assert cut.sizes.tolist() == [[5, 8], [8, 3]]


def write_emoji_test(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """An emoji-test.txt of ``(code points, name, group)`` rows, in the real format."""
    lines, group = ["# emoji-test.txt", "# Version: 15.0"], None
    for points, name, row_group in rows:
        if row_group != group:
            lines += ["", f"# group: {row_group}", ""]
            group = row_group
        glyph = "".join(chr(int(p, 16)) for p in points.split())
        lines.append(f"{points:<13} ; fully-qualified # {glyph} E1.0 {name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def fake_sources(root: Path) -> Path:
    """Stamps: ``animals`` in every split (one an SVG), ``symbols`` in one; emoji: a smiley in
    every split, a thumbs up in all its skin tones (one identity, so one split)."""
    for split, stem in zip(SPLITS, ("cat", "dog", "eel"), strict=True):
        text = root / "stamps" / "animals" / f"{stem}.txt"
        write_png(text.with_suffix(".png"))
        if split == "validation":
            text.with_suffix(".svg").write_text(SVG)
        text.write_text(f"{hashed_to(split, 'A ' + stem)}.\nde.utf8=Ein Tier.\n")
    heart = root / "stamps" / "symbols" / "heart.txt"
    write_png(heart.with_suffix(".png"))
    heart.write_text("A heart.\n")
    smileys = [(p, hashed_to(s, "face"), "Smileys & Emotion")
               for p, s in zip(("1F600", "1F642", "1F643"), SPLITS, strict=True)]  # fmt: skip
    thumbs = [("1F44D", "thumbs up", "People & Body")]
    thumbs += [(f"1F44D {tone}", f"thumbs up: {name} skin tone", "People & Body")
               for tone, name in (("1F3FB", "light"), ("1F3FF", "dark"))]  # fmt: skip
    write_emoji_test(root / "unicode" / "emoji" / "emoji-test.txt", smileys + thumbs)
    (root / "noto").mkdir()
    (root / "noto" / "NotoColorEmoji.ttf").symlink_to(FONT)
    return root


@pytest.mark.skipif(not FONT.exists(), reason="needs `apt-get install -y fonts-noto-color-emoji`")
@NEEDS_RSVG
def test_the_loader_cuts_out_stamps_and_emoji_and_caches_its_renders_apart(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    objects = load(fake_sources(tmp_path / "data"))
    assert isinstance(objects, SceneObjects)
    assert objects.classes == ("emoji/Smileys & Emotion", "stamps/animals")
    assert objects.skipped == {
        "stamps: in a class not in every split (symbols)": 1,
        "emoji: in a class not in every split (People & Body)": 3,
    }
    for split, stem in zip(SPLITS, ("cat", "dog", "eel"), strict=True):
        cut = objects.splits[split]
        assert cut.names[0].startswith("emoji/U+") and cut.labels.tolist() == [0, 1]
        assert cut.names[1] == f"stamps/animals/{stem}.{'svg' if split == 'validation' else 'png'}"
        face = cut.pictures[0]
        assert face[3, 0, 0] == 0 and face[3, 32, 32] == 255  # a round face: corners clear
        block = cut.pictures[1]
        if split == "validation":  # the 20×10 blue SVG, drawn by rsvg-convert
            assert cut.sizes[1].tolist() == [32, 64] and block[:, 16, 32].tolist() == [
                0,
                0,
                255,
                255,
            ]
        else:  # the 10×10 red PNG block
            assert cut.sizes[1].tolist() == [64, 64] and block[:, 32, 32].tolist() == [
                255,
                0,
                0,
                255,
            ]
    cache = tmp_path / "cache" / "svg"
    monkeypatch.setattr(tuxpaint, "render_svg", lambda job: pytest.fail("drawn again"))
    again = load(tmp_path / "data")  # the SVG stamp read from the cache
    assert torch.equal(again.splits["validation"].pictures, objects.splits["validation"].pictures)
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    DATASETS.get("tuxpaint_stamps").load(tmp_path / "data")  # the squared pictures: another file
    assert len(list(cache.glob("tuxpaint_stamps-*.npz"))) == 1
    assert len(list(cache.glob("tuxpaint_stamps_rgba-*.npz"))) == 1


def test_the_photographs_are_scikit_learns_two():
    photos = photographs()
    assert [tuple(p.shape) for p in photos] == [(3, 427, 640)] * 2
    assert all(p.dtype == torch.uint8 and p.float().std() > 20 for p in photos)


@pytest.mark.skipif(
    not (
        STAMPS.is_dir() and FONT.exists() and EMOJI_TEST.exists() and shutil.which("rsvg-convert")
    ),
    reason="needs `apt-get install -y tuxpaint-stamps-default librsvg2-bin "
    "fonts-noto-color-emoji unicode-data`",
)
def test_real_scene_objects(isolated_home):
    objects = load(None)
    assert objects.classes == REAL_CLASSES
    assert sum(len(c) for c in objects.splits.values()) == 4434
    for cut in objects.splits.values():
        assert set(cut.labels.tolist()) == set(range(len(REAL_CLASSES)))  # every class, every split
        assert (
            cut.sizes.amax(1).min() >= 60
            and (cut.pictures[:, 3] == 0).any((1, 2)).float().mean() > 0.9
        )
    split_of_identity: dict[str, set[str]] = {}
    for split, cut in objects.splits.items():
        for name in cut.names:
            source, rest = name.split("/", 1)
            if source == "stamps":
                text = (STAMPS / rest).with_suffix(".txt")
                identity = caption_key(read_caption_file(text)["en"])
            else:  # without skin tones: the twins are one identity
                identity = " ".join(p for p in rest.split() if p not in SKIN_TONES)
            split_of_identity.setdefault(f"{source}:{identity}", set()).add(split)
    assert all(len(splits) == 1 for splits in split_of_identity.values())
    assert len(split_of_identity) < 4434 - 1000  # the skin tones did share identities
