"""The gettext reader on .mo catalogs written byte for byte, the fetch from real .deb files, and
(where downloaded) the real catalogs."""

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from sharedspace.data import DATASETS, download
from sharedspace.data.debian import GETTEXT_PACKAGES
from sharedspace.data.gettext import (
    HELD_OUT,
    SIDES,
    clean_pair,
    load_gettext,
    load_gettext_heldout,
    pair_counts,
)
from sharedspace.data.parallel import normalised, pairs_checksum, split_of
from sharedspace.errors import DataError
from tests.data.mo_files import build_deb, mo_bytes, write_catalog

REAL = Path.home() / ".cache" / "sharedspace" / "data" / "gettext"


@pytest.mark.parametrize(
    ("msgid", "msgstr", "expected"),
    [
        ("_Open", "Ö_ffnen", ("Open", "Öffnen")),  # GTK mnemonics, both sides
        ("&Save As…", "&Speichern unter …", ("Save As…", "Speichern unter …")),  # KDE
        ("Tom && Jerry", "Tom && Jerry (dt.)", ("Tom & Jerry", "Tom & Jerry (dt.)")),
        ("seek failed in check_blocks", "Suche in check_blocks fehlgeschlagen",
         ("seek failed in check_blocks", "Suche in check_blocks fehlgeschlagen")),  # identifier
        ("E_xit", "_Beenden", ("Exit", "Beenden")),  # mid-word mnemonic, not copied: removed
        ("  Name:\n", "Nom :", ("Name", "Nom")),  # whitespace, trailing colon (French spacing)
        ("File", "File", None),  # untranslated
        ("File", "", None),
        ("1024", "1 024", None),  # no letter
        ("<b>Bold</b>", "<b>Fett</b>", None),  # markup
        ("Fish &amp; chips", "Fisch &amp; Pommes", None),  # an entity is markup
        ("Open %s", "%s öffnen", None),  # printf
        ("%1$s of %2$d", "%2$d von %1$s", None),
        ("Hello %(name)s", "Hallo %(name)s", None),
        ("%1 files", "%1 Dateien", None),  # Qt
        ("{0} files", "{0} Dateien", None),  # .NET / Python format
        ("Set $HOME first", "Zuerst $HOME setzen", None),
        ("invalid %<asm%>", "ungültiges %<asm%>", None),  # GCC's quotes
        ("menu\x04Quit", "Beenden", None),  # a context id
        ("Action|Open", "Öffnen", None),  # glib Q_()
        ("French month lexeme|Prairial", "Prairial (frz.)", None),  # Gramps' context form
        ("a | b", "a | b (x)", ("a | b", "a | b (x)")),  # a bar in both sides is text
        (" ".join(["word"] * 41), " ".join(["Wort"] * 41), None),  # over 40 words
        (" ".join(["word"] * 40), " ".join(["Wort"] * 40),
         (" ".join(["word"] * 40), " ".join(["Wort"] * 40))),
    ],
)  # fmt: skip
def test_clean_pair_applies_each_rule(msgid, msgstr, expected):
    assert clean_pair(msgid, msgstr) == expected


def _catalogs(root: Path) -> None:
    """Two packages in German and French: plurals, contexts, an accelerator, duplicates across
    catalogs (most frequent wins), and one German catalog mislabelled (Latin-1 bytes, UTF-8
    header)."""
    write_catalog(root, "pkg-a", "de", "a", {
        "_Open": "Ö_ffnen", "file\0files": "Datei\0Dateien", "menu\x04Quit": "Beenden",
        "Close": "Schließen", "Open %s": "%s öffnen",
    })  # fmt: skip
    write_catalog(root, "pkg-a", "de", "b", {"Close": "Zumachen", "Print": "Drucken"})
    write_catalog(root, "pkg-b", "de", "c", {"Close": "Schließen", "Print": "Ausdrucken"})
    write_catalog(root, "pkg-b", "de", "bad", {"Save": "Späichern"}, encoding="latin-1")
    write_catalog(root, "pkg-a", "fr", "a", {
        "&Open": "&Ouvrir", "file\0files": "fichier\0fichiers", "Exit": "Quitter",
    })  # fmt: skip


def test_load_gettext_reads_plurals_skips_contexts_and_a_mislabelled_catalog(tmp_path):
    _catalogs(tmp_path / "gettext")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = load_gettext(tmp_path)
    (warning,) = caught
    message = str(warning.message)
    assert "pkg-b/de/bad.mo: skipped" in message and "\n" not in message
    assert splits.sides == SIDES == ("en", "de", "fr")
    rows = sorted(
        tuple(sorted(r.items())) for r in [*splits.train, *splits.validation, *splits.test]
    )
    assert rows == sorted(
        tuple(sorted(r.items()))
        for r in [
            {"en": "Open", "de": "Öffnen", "fr": "Ouvrir"},  # both languages in one row
            {"en": "file", "de": "Datei", "fr": "fichier"},  # plural: form 0
            {"en": "Close", "de": "Schließen"},  # 2 of 3 catalogs say so
            {"en": "Print", "de": "Drucken"},  # a tie: the first catalog's
            {"en": "Exit", "fr": "Quitter"},
        ]
    )
    for split in ("train", "validation", "test"):
        assert all(split_of(r["en"]) == split for r in getattr(splits, split))


def test_splits_are_keyed_on_the_normalised_english_for_every_language(tmp_path):
    words = [f"message number {i}" for i in range(400)]
    twins = {w: w.upper() + " !" for w in words[:100]}  # near twins of the first 100
    for language in ("de", "fr"):
        write_catalog(tmp_path, "pkg", language, "m", {w: f"{language} {w}" for w in words})
        write_catalog(
            tmp_path, "pkg2", language, "m", {t: f"{language} {t}" for t in twins.values()}
        )
    splits = load_gettext(tmp_path)
    again = load_gettext(tmp_path)
    assert pairs_checksum(splits) == pairs_checksum(again)  # deterministic, order included
    where = {}
    for split in ("train", "validation", "test"):
        rows = getattr(splits, split)
        assert rows, f"empty {split}"
        assert all({"de", "fr"} <= set(r) for r in rows)  # one row, both languages, one split
        for row in rows:
            assert where.setdefault(normalised(row["en"]), split) == split
    assert len(where) == 400  # the twins collapse onto their originals' normalised form
    counts = pair_counts(splits)
    assert counts["de"] == counts["fr"] and sum(counts["de"].values()) == 500
    assert 400 < counts["de"]["train"] < 490  # about 90 %


def test_heldout_test_is_the_held_out_packages_unseen_pairs(tmp_path):
    ours = {f"in domain {i}": f"im Bereich {i}" for i in range(60)}
    theirs = {"in domain 3": "anders", "In Domain 4!": "anders", "out of domain": "außerhalb"}
    write_catalog(tmp_path, "pkg", "de", "m", ours)
    write_catalog(tmp_path, HELD_OUT[0], "de", "m", theirs)
    write_catalog(tmp_path, HELD_OUT[1], "fr", "m", {"a brand new one": "une nouvelle"})
    splits = load_gettext_heldout(tmp_path)
    # "in domain 3" and its twin "In Domain 4!"'s normalised form appear in pkg: not out of domain
    assert sorted(r["en"] for r in splits.test) == ["a brand new one", "out of domain"]
    assert {r["en"] for r in splits.train + splits.validation} <= set(ours)
    # the in-domain rows whose hash says test are left out: gettext's test stays unseen too
    assert len(splits.train) + len(splits.validation) == sum(split_of(e) != "test" for e in ours)
    (tmp_path / HELD_OUT[1] / "fr" / "m.mo").unlink()
    with pytest.raises(DataError, match=rf"no catalogs of {HELD_OUT[1]} .* data download gettext"):
        load_gettext_heldout(tmp_path)


def test_missing_data_names_the_command(isolated_home):
    with pytest.raises(DataError, match=r"sharedspace data download gettext --data-dir DIR"):
        load_gettext()


def test_a_bad_catalog_is_one_warning_never_a_traceback(tmp_path):
    write_catalog(tmp_path, "pkg", "de", "good", {"Open": "Öffnen"})
    (tmp_path / "pkg" / "de" / "junk.mo").write_bytes(b"\xde\x12\x04\x95 not a catalog")
    (tmp_path / "pkg" / "de" / "cut.mo").write_bytes(mo_bytes({"Open": "Öffnen"})[:40])
    with pytest.warns(UserWarning, match="skipped, not a readable catalog") as caught:
        splits = load_gettext(tmp_path)
    assert len(caught) == 2
    assert [r["en"] for r in splits.train + splits.validation + splits.test] == ["Open"]


needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None, reason="dpkg-deb absent (apt-get install dpkg)"
)


@needs_dpkg
def test_download_extracts_only_german_and_french_catalogs_atomically(tmp_path, monkeypatch):
    """A fake apt-get copies real .debs built here; dpkg-deb and tarfile extract them."""
    debs = tmp_path / "debs"
    debs.mkdir()
    de, fr = mo_bytes({"Open": "Öffnen"}), mo_bytes({"Open": "Ouvrir"})
    for package, version in (("alpha-l10n", "1:2.0-1"), ("beta-l10n", "3.1")):
        build_deb(debs, package, version, {
            "usr/share/locale/de/LC_MESSAGES/app.mo": de,
            "usr/share/locale/fr/LC_MESSAGES/app.mo": fr,
            "usr/share/locale/it/LC_MESSAGES/app.mo": de,  # another language: not extracted
            "usr/share/locale/de/LC_MESSAGES/link.mo": "app.mo",  # a link: not extracted
            "usr/share/doc/readme.mo": de,  # not a catalog path
        })  # fmt: skip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text(f'#!/bin/sh\n[ "$1" = download ] && cp {debs}/*.deb .\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    data_dir = tmp_path / "data"
    (data_dir / "gettext" / "stale").mkdir(parents=True)  # a previous copy is replaced whole
    folder = download("gettext", data_dir)
    assert folder == data_dir / "gettext"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        "alpha-l10n/de/app.mo", "alpha-l10n/fr/app.mo",
        "beta-l10n/de/app.mo", "beta-l10n/fr/app.mo", "manifest.json",
    ]  # fmt: skip
    assert [p.name for p in data_dir.iterdir()] == ["gettext"]  # no temp folder left
    manifest = json.loads((folder / "manifest.json").read_text())
    alpha = manifest["packages"][0]
    assert (alpha["package"], alpha["version"]) == ("alpha-l10n", "1:2.0-1")
    assert len(alpha["deb_sha256"]) == 64 and set(alpha["catalogs"]) == {"de/app.mo", "fr/app.mo"}
    assert manifest["pairs"]["gettext"]["sha256"] == pairs_checksum(load_gettext(data_dir))
    assert manifest["pairs"]["gettext"]["pairs"] == pair_counts(load_gettext(data_dir))
    assert "gettext_heldout" not in manifest["pairs"]  # its held-out packages are not here


def test_download_without_apt_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither apt-get nor dpkg-deb
    with pytest.raises(DataError, match=r"^gettext: apt-get not found; .* apt installed$"):
        download("gettext", tmp_path / "data")


def test_the_pinned_list_is_the_data_notes_twelve_with_the_held_out_packages():
    assert len(GETTEXT_PACKAGES) == len(set(GETTEXT_PACKAGES)) == 12
    assert set(HELD_OUT) <= set(GETTEXT_PACKAGES)
    assert DATASETS.get("gettext").splits is DATASETS.get("gettext_heldout").splits


@pytest.mark.skipif(not REAL.is_dir(), reason="run `sharedspace data download gettext --data-dir "
                    "~/.cache/sharedspace/data` first")  # fmt: skip
def test_real_catalogs_split_cleanly_and_match_their_manifest():
    splits = load_gettext(REAL.parent)
    counts = pair_counts(splits)
    for language in ("de", "fr"):  # measured 37,945 (de) and 39,330 (fr) in bookworm
        assert 35_000 < sum(counts[language].values()) < 45_000
        assert 0.85 < counts[language]["train"] / sum(counts[language].values()) < 0.95
    where: dict[str, str] = {}
    for split in ("train", "validation", "test"):
        for row in getattr(splits, split):
            assert where.setdefault(normalised(row["en"]), split) == split
    manifest = json.loads((REAL / "manifest.json").read_text())
    assert {p["package"] for p in manifest["packages"]} == set(GETTEXT_PACKAGES)
    assert manifest["pairs"]["gettext"]["sha256"] == pairs_checksum(splits), (
        "the reader's output changed since the download: run it again to record the new checksum"
    )
    heldout = load_gettext_heldout(REAL.parent)
    seen = {normalised(r["en"]) for r in heldout.train + heldout.validation}
    assert heldout.test and not any(normalised(r["en"]) in seen for r in heldout.test)
