"""Tux Paint's stamps: a fake tree in the real layout, the SVG renderer's absence, the real set."""

import shutil
from pathlib import Path

import pytest

from sharedspace.data import DATASETS
from sharedspace.errors import DataError
from tests.data.data_formats import NEEDS_RSVG
from tests.data.test_captions import write_png

load = DATASETS.get("tuxpaint_stamps").load
REAL = Path("/usr/share/tuxpaint/stamps")
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10" fill="#0000ff"/></svg>'  # noqa: E501


def fake_stamps(root: Path, svg: bool = True) -> Path:
    """stamps/animals/mammals/yak.{png,txt}, stamps/symbols/heart.{svg,png,txt}, a lone gift.txt."""
    yak = root / "stamps" / "animals" / "mammals" / "yak.txt"
    write_png(yak.with_suffix(".png"))
    yak.write_text("A yak.\nde.utf8=Ein Yak.\nfr.utf8=Un yack.\nes.utf8=Un yak.\n")
    heart = root / "stamps" / "symbols" / "heart.txt"
    write_png(heart.with_suffix(".png"), (0, 255, 0, 255))
    if svg:
        heart.with_suffix(".svg").write_text(SVG)
    heart.write_text("A heart.\nfr.utf8=Un cœur.\n")
    (root / "stamps" / "seasonal").mkdir()
    (root / "stamps" / "seasonal" / "gift.txt").write_text("A gift.\n")
    return root


@NEEDS_RSVG
def test_stamps_read_png_and_svg_with_their_captions_and_categories(tmp_path):
    data = load(fake_stamps(tmp_path))
    where = {n: (s, i) for s, names in data.names.items() for i, n in enumerate(names)}
    assert set(where) == {"animals/mammals/yak.png", "symbols/heart.svg"}  # the SVG wins
    split, i = where["symbols/heart.svg"]
    assert tuple(data.images[split][i, :, 16, 16].tolist()) == (0, 0, 255)  # rendered blue
    assert data.captions[split]["fr"][i] == "Un cœur." and data.captions[split]["de"][i] is None
    assert data.groups[split][i] == "symbols"
    split, i = where["animals/mammals/yak.png"]
    assert data.captions[split]["de"][i] == "Ein Yak." and data.groups[split][i] == "animals"
    assert data.skipped == {"captions without a picture": 1}


def test_svg_stamps_without_the_renderer_are_one_line_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"1 stamps are SVG .*apt-get install -y librsvg2-bin"):
        load(fake_stamps(tmp_path))
    shutil.rmtree(tmp_path / "stamps")
    assert sum(len(n) for n in load(fake_stamps(tmp_path, svg=False)).names.values()) == 2


def test_a_missing_tree_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="apt-get install -y tuxpaint-stamps-default"):
        load(tmp_path)


@pytest.mark.skipif(not REAL.is_dir(), reason="needs `apt-get install -y tuxpaint-stamps-default`")
@NEEDS_RSVG
def test_real_tuxpaint_stamps(isolated_home):
    data = load(None)
    assert sum(len(v) for v in data.names.values()) == 950
    counts = {lang: sum(c is not None for s in data.captions.values() for c in s[lang])
              for lang in ("en", "de", "fr")}  # fmt: skip
    assert counts["en"] == 950 and counts["de"] >= 949 and counts["fr"] >= 949
    assert len({g for s in data.groups.values() for g in s}) == 16
    assert data.skipped == {"captions without a picture": 2}
