"""Openclipart: titles read from the real metadata format, the clean-English-title rules, a fake
tree rendered, the missing packages, and the real collection's counts."""

import shutil
from pathlib import Path

import pytest

from sharedspace.data import DATASETS
from sharedspace.data.openclipart import read_words, title_fault, titled_drawings, work_title
from sharedspace.errors import DataError
from tests.data.data_formats import NEEDS_RSVG

load = DATASETS.get("openclipart").load
REAL = Path("/usr/share/openclipart/svg")
WORDS = Path("/usr/share/dict/words")
# openclipart's metadata as Inkscape wrote it: the work's title, then its authors as cc:Agents
SVG = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:cc="http://web.resource.org/cc/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 width="20" height="10"><metadata><rdf:RDF><cc:Work rdf:about="">{work}<dc:format>image/svg+xml\
</dc:format><dc:type rdf:resource="http://purl.org/dc/dcmitype/StillImage"/></cc:Work>
</rdf:RDF></metadata><rect width="20" height="10" fill="{fill}"/></svg>
"""
AUTHOR = "<dc:creator><cc:Agent><dc:title>Jane Doe</dc:title></cc:Agent></dc:creator>"  # a name
DICTIONARY = "a\nbone\nblue\ncup\ndog's\nhat\nstar\nyak\nyaks\n"


def drawing(path: Path, title: str | None, fill: str = "#ff0000", author_first=False) -> None:
    """An SVG in openclipart's format; ``title`` None leaves the work untitled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    own = "" if title is None else f"<dc:title>{title}</dc:title>"
    work = AUTHOR + own if author_first else own + AUTHOR
    path.write_text(SVG.format(work=work, fill=fill), encoding="utf-8")


def fake_clipart(root: Path) -> Path:
    """openclipart/svg/… with 3 clean titles, one of each fault, a link, and dict/words."""
    svg = root / "openclipart" / "svg"
    drawing(svg / "animals" / "yak_01.svg", "Yak")
    drawing(svg / "animals" / "dog_bone.svg", "Dog&apos;s  Bone", "#00ff00")
    drawing(svg / "people" / "hat" / "blue_hat.svg", "Blue Hat", "#0000ff", author_first=True)
    (svg / "animals" / "mammals").mkdir()
    (svg / "animals" / "mammals" / "yak_01.svg").symlink_to(svg / "animals" / "yak_01.svg")
    drawing(svg / "food" / "pesca_01.svg", "Pesca")  # Italian
    drawing(svg / "computer" / "icon.svg", "Part of the Flat Icon Collection (Wed Aug 25 2004)")
    drawing(svg / "unsorted" / "untitled.svg", None)
    for k in range(4):  # a collection's name
        drawing(svg / "shapes" / f"star_{k}.svg", "Star")
    truncated = SVG.format(work="<dc:title>Cup</dc:title>", fill="#000000")[:-8]
    (svg / "food" / "cup.svg").write_text(truncated)  # not well-formed XML
    (root / "dict").mkdir()
    (root / "dict" / "words").write_text(DICTIONARY)
    return root


def test_the_title_is_the_works_own_not_its_authors(tmp_path):
    drawing(tmp_path / "a.svg", "Blue &amp; Hat", author_first=True)
    assert work_title((tmp_path / "a.svg").read_bytes()) == "Blue & Hat"
    drawing(tmp_path / "b.svg", None, author_first=True)
    assert work_title((tmp_path / "b.svg").read_bytes()) == ""
    assert work_title(b"<svg><title>no metadata</title></svg>") == ""


def test_each_rule_of_a_clean_english_title(tmp_path):
    english = frozenset([*DICTIONARY.split(), "t", "shirt", "on", "the", "big", "red"])
    assert title_fault("Yak", english, 1) == "" and title_fault("T-shirt", english, 3) == ""
    assert title_fault("Dog's Bone", english, 2) == ""
    assert title_fault("", english, 1) == "no title"
    for title in ("boat2", "AIGA_Symbol_Signs", "Violin (Colour)", "Yak  Hat", "été"):
        assert title_fault(title, english, 1) == "titles not plain words", title
    assert title_fault("big red hat on the yak", english, 1) == ""  # six words
    assert title_fault("a big red hat on the yak", english, 1) == "titles of more than 6 words"
    assert "dictionary" in title_fault("Pesca", english, 1)
    assert "dictionary" in title_fault("LeafRake", english, 1)  # run together
    assert "collection" in title_fault("Star", english, 4)
    path = tmp_path / "words"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="words: holds no words"):
        read_words(path)


def test_titled_drawings_keep_clean_titles_and_count_the_rest_by_rule(tmp_path):
    root = fake_clipart(tmp_path) / "openclipart" / "svg"
    kept, skipped = titled_drawings(root, read_words(tmp_path / "dict" / "words"))
    titles = {path.relative_to(root).as_posix(): title for path, title in kept}
    assert titles == {
        "animals/dog_bone.svg": "Dog's Bone",
        "animals/yak_01.svg": "Yak",
        "food/cup.svg": "Cup",
        "people/hat/blue_hat.svg": "Blue Hat",
    }
    assert skipped == {
        "links to a drawing filed elsewhere": 1,
        "no title": 1,
        "titles not plain words": 1,
        "titles with words not in the English dictionary": 1,
        "titles shared by more than 3 drawings (a collection's name)": 4,
    }


@NEEDS_RSVG
def test_drawings_render_with_their_titles_and_categories(tmp_path):
    data = load(fake_clipart(tmp_path))
    where = {n: (s, i) for s, names in data.names.items() for i, n in enumerate(names)}
    assert set(where) == {"animals/dog_bone.svg", "animals/yak_01.svg", "people/hat/blue_hat.svg"}
    split, i = where["people/hat/blue_hat.svg"]
    assert tuple(data.images[split][i, :, 16, 16].tolist()) == (0, 0, 255)
    assert data.captions[split]["en"][i] == "Blue Hat" and data.groups[split][i] == "people"
    split, i = where["animals/dog_bone.svg"]
    assert tuple(data.images[split][i, :, 16, 16].tolist()) == (0, 255, 0)
    assert data.skipped["drawings rsvg-convert cannot render"] == 1  # the truncated cup
    assert data.languages == ("en",)


def test_without_the_renderer_the_error_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"4 titled drawings are SVG .*apt-get install -y librsvg2"):
        load(fake_clipart(tmp_path))


def test_missing_drawings_or_dictionary_say_how_to_get_them(tmp_path):
    with pytest.raises(DataError, match="apt-get install -y openclipart-svg wamerican"):
        load(tmp_path)
    fake_clipart(tmp_path)
    shutil.rmtree(tmp_path / "dict")
    with pytest.raises(DataError, match=r"(?s)dict: no folder holding words.*wamerican"):
        load(tmp_path)


@pytest.mark.skipif(
    not (REAL.is_dir() and WORDS.exists()),
    reason="needs `apt-get install -y openclipart-svg wamerican`",
)
def test_real_openclipart_titles():
    kept, skipped = titled_drawings(REAL, read_words(WORDS))
    assert len(kept) == 1463 and len({title.casefold() for _, title in kept}) == 1224
    assert skipped["links to a drawing filed elsewhere"] == 663
    assert sum(skipped.values()) + len(kept) == 8121
    assert len({path.relative_to(REAL).parts[0] for path, _ in kept}) == 22
