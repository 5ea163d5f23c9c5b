"""KTuberling's objects: a tiny board and themes in the real formats (an .svgz board, a mirrored
object under a transformed group, a gradient from <defs>), the caption rules, malformed themes,
the missing package, and the real themes."""

import gzip
import shutil
from pathlib import Path

import pytest

from sharedspace.data import DATASETS
from sharedspace.data.ktuberling import caption, read_theme, theme_prefix
from sharedspace.errors import DataError
from tests.data.data_formats import NEEDS_RSVG

load = DATASETS.get("ktuberling_objects").load
REAL = Path("/usr/share/ktuberling/pics")
WORDS = Path("/usr/share/dict/words")
# A board as Inkscape saves KTuberling's: a background, then the objects in the palette; the ball
# is mirrored (negative scale) inside a translated layer, the hat painted by a gradient in <defs>
BOARD = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" id="svg2">
  <defs><linearGradient id="green"><stop offset="0" stop-color="#00ff00"/>
    <stop offset="1" stop-color="#00ff00"/></linearGradient></defs>
  <g id="layer1" style="display:inline"><rect id="background" width="100" height="50"
    fill="#808080"/></g>
  <g id="layer2" transform="translate(10,10)">
    <g id="ball" transform="matrix(-1,0,0,1,30,0)">
      <circle cx="10" cy="10" r="8" fill="#ff0000"/></g>
  </g>
  <g id="hat"><rect x="60" y="10" width="20" height="20" style="fill:url(#green)"/></g>
</svg>
"""
THEME = """  <playground gameboard="{board}" desktop="{name}.desktop" bgcolor="#a4c0e4">
{objects}
  </playground>
"""


def theme(pics: Path, name: str, board: str, objects: dict[str, str]) -> Path:
    """pics/NAME.theme naming ``board``, with ``<object name= sound=/>`` per item."""
    pics.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(
        f'    <object name="{o}" scale="2" sound="{s}" />' for o, s in objects.items()
    )
    path = pics / f"{name}.theme"
    path.write_text(THEME.format(board=board, name=name, objects=lines))
    return path


def fake_ktuberling(root: Path) -> Path:
    """ktuberling/pics: a gzipped board with a ball and a hat, and a plain one (its twin)."""
    pics = root / "ktuberling" / "pics"
    pics.mkdir(parents=True)
    (pics / "toys.svgz").write_bytes(gzip.compress(BOARD.encode()))
    theme(pics, "toys", "toys.svgz", {"ball": "toys_ball", "hat": "toys_hat"})
    (pics / "twin.svg").write_text(BOARD)
    theme(pics, "twin", "twin.svg", {"hat": "tux-hat", "ball": "frier-tux", "layer2": "tux-ball"})
    return root


def test_captions_drop_the_themes_prefix_and_fix_misspelt_words():
    assert theme_prefix(["tv_car", "tv_lorry_tractor", "tv_breakdown_lorry"]) == "tv_"
    assert theme_prefix(["robot_workshop_arm", "robot_workshop_ball"]) == "robot_workshop_"
    assert theme_prefix(["tux-vase", "tux-key", "frier-tux", "robin-tux"]) == "tux-"
    assert theme_prefix(["eye", "nose", "ear"]) == ""
    assert caption("tv_lorry_tractor", "tv_") == "lorry tractor"
    assert caption("frier-tux", "tux-") == "friar tux"
    assert caption("egypt_palmtree", "egypt_") == "palm tree"
    assert caption("nose", "") == "nose"


def test_a_theme_lists_its_board_and_objects(tmp_path):
    path = fake_ktuberling(tmp_path) / "ktuberling" / "pics" / "toys.theme"
    board, objects = read_theme(path)
    assert board == path.parent / "toys.svgz"
    assert objects == [("ball", "toys_ball"), ("hat", "toys_hat")]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('<playground gameboard="toys.svgz"><object name="ball"', "not XML"),
        ('<board gameboard="toys.svgz"><object name="a" sound="a"/></board>', "<playground"),
        ('<playground gameboard="toys.svgz"></playground>', "got none"),
        ('<playground gameboard="toys.svgz"><object name="a}*{" sound="a"/></playground>', "a}"),
        ('<playground gameboard="toys.svgz"><object name="a"/></playground>', "with plain ids"),
        (
            '<playground gameboard="../toys.svgz"><object name="a" sound="a"/></playground>',
            "beside",
        ),
    ],
)
def test_a_malformed_theme_is_one_line_naming_the_file(tmp_path, text, error):
    (tmp_path / "toys.svgz").write_bytes(b"")
    (tmp_path / "bad.theme").write_text(text)
    with pytest.raises(DataError, match=r"bad\.theme: ") as caught:
        read_theme(tmp_path / "bad.theme")
    assert error in str(caught.value) and "\n" not in str(caught.value)


@NEEDS_RSVG
def test_each_object_is_drawn_alone_and_captioned_by_its_word(tmp_path):
    data = load(fake_ktuberling(tmp_path))
    where = {n: (s, i) for s, names in data.names.items() for i, n in enumerate(names)}
    assert set(where) == {"toys/ball", "toys/hat", "twin/ball", "twin/hat", "twin/layer2"}
    for name, colour, words in [
        ("toys/ball", (255, 0, 0), "ball"),
        ("toys/hat", (0, 255, 0), "hat"),  # the gradient in <defs> still paints it
        ("twin/ball", (255, 0, 0), "friar tux"),
        ("twin/layer2", (255, 0, 0), "ball"),  # a group draws what it holds
    ]:
        split, i = where[name]
        image = data.images[split][i]  # (3, 32, 32)
        assert tuple(image[:, 16, 16].tolist()) == colour, name
        assert not ((image == 128).all(0)).any(), name  # no background, no other object
        assert data.captions[split]["en"][i] == words and data.groups[split][i] == name[:4]
    split, i = where["toys/ball"]
    assert tuple(data.images[split][i, :, 0, 0].tolist()) == (255, 255, 255)  # round: white corner


@NEEDS_RSVG
def test_an_object_the_board_lacks_is_an_error(tmp_path):
    pics = fake_ktuberling(tmp_path) / "ktuberling" / "pics"
    theme(pics, "toys", "toys.svgz", {"ball": "toys_ball", "kite": "toys_kite"})
    with pytest.raises(DataError, match=r"toys\.svgz#kite: draws nothing"):
        load(tmp_path)


def test_without_the_renderer_or_the_package_the_error_says_what_to_install(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="apt-get install -y ktuberling-data"):
        load(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"5 objects are SVG .*apt-get install -y librsvg2-bin"):
        load(fake_ktuberling(tmp_path))


@pytest.mark.skipif(not REAL.is_dir(), reason="needs `apt-get install -y ktuberling-data`")
def test_real_themes_objects_and_words():
    themes = [read_theme(path) for path in sorted(REAL.glob("*.theme"))]
    sounds = [sound for _, objects in themes for _, sound in objects]
    assert len(themes) == 10 and len(sounds) == 495 and len(set(sounds)) == 190
    captions = {
        caption(sound, theme_prefix([s for _, s in objects]))
        for _, objects in themes
        for _, sound in objects
    }
    assert len(captions) == 176 and {"ball", "palm tree", "friar tux", "lorry tractor"} <= captions
    if WORDS.exists():  # every word is English once WORD_FIXES is applied
        english = {w.strip().casefold() for w in WORDS.read_text().splitlines()}
        assert {w for c in captions for w in c.split()} - english <= {
            "bullseye",
            "moonwalker",
            "zzz",
        }


@pytest.mark.skipif(not REAL.is_dir(), reason="needs `apt-get install -y ktuberling-data`")
@NEEDS_RSVG
def test_real_butterflies_render_every_object(tmp_path):
    pics = tmp_path / "ktuberling" / "pics"
    pics.mkdir(parents=True)
    for name in ("butterflies.theme", "butterflies.svgz"):
        shutil.copy(REAL / name, pics / name)
    data = load(tmp_path)
    assert sum(len(names) for names in data.names.values()) == 23
    where = {n: (s, i) for s, names in data.names.items() for i, n in enumerate(names)}
    for name, channel in (("circleRed", 0), ("circleGreen", 1), ("circleBlue", 2)):
        split, i = where[f"butterflies/{name}"]
        centre = data.images[split][i, :, 16, 16].int()  # the circle alone, not the board
        assert centre.argmax() == channel and centre.max() - centre.min() > 60, (name, centre)
