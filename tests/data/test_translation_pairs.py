"""translation_pairs: your own TSV or JSONL of aligned texts, split by the normalised first side."""

import json

import pytest

from sharedspace.data import DATASETS
from sharedspace.data import parallel as parallel_module
from sharedspace.data.parallel import load_translation_pairs, normalised, split_of
from sharedspace.errors import DataError


def _all(splits):
    return [*splits.train, *splits.validation, *splits.test]


def test_tsv_with_a_header_names_its_sides(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("en\tde\nOpen file\tDatei öffnen\n\n  Close\t Schließen \r\n")
    splits = load_translation_pairs(path)
    assert splits.sides == ("en", "de")
    assert sorted(map(tuple, (r.items() for r in _all(splits)))) == sorted(
        [(("en", "Open file"), ("de", "Datei öffnen")), (("en", "Close"), ("de", "Schließen"))]
    )  # blank lines skipped, whitespace collapsed, CRLF read


def test_tsv_without_a_header_is_source_and_target(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hello there\tHallo\nGood day\tGuten Tag\n")
    splits = load_translation_pairs(path)
    assert splits.sides == ("source", "target") and len(_all(splits)) == 2


def test_jsonl_rows_may_lack_sides_other_than_the_key(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"en": "Open", "de": "Öffnen", "fr": "Ouvrir"}, {"en": "Close", "fr": "Fermer"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    splits = load_translation_pairs(path)
    assert splits.sides == ("en", "de", "fr")
    assert sorted(_all(splits), key=lambda r: r["en"]) == sorted(rows, key=lambda r: r["en"])


def test_rows_split_by_the_hash_of_the_normalised_key_side(tmp_path):
    sentences = [f"Sentence number {i}." for i in range(300)]
    lines = [f"{s}\tSatz {i}" for i, s in enumerate(sentences)]
    lines += [f"{s.upper()}!!\tSATZ {i}" for i, s in enumerate(sentences[:50])]  # near twins
    (tmp_path / "a.tsv").write_text("en\tde\n" + "\n".join(lines) + "\n")
    splits = load_translation_pairs(tmp_path)  # a folder of files
    for split in ("train", "validation", "test"):
        rows = getattr(splits, split)
        assert rows and all(split_of(r["en"]) == split for r in rows)
    by_norm = {}
    for split in ("train", "validation", "test"):
        for r in getattr(splits, split):
            assert by_norm.setdefault(normalised(r["en"]), split) == split  # twins together
    assert load_translation_pairs(tmp_path) == splits  # same order every time


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.tsv", "en\tde\nOpen\tÖffnen\nClose\n", r"p\.tsv:3: expected two non-empty fields, "
         r"en<TAB>de; got 1 field\(s\)"),
        ("p.tsv", "a\tb\tc\n", r"p\.tsv:1: expected two non-empty fields, source<TAB>target"),
        ("p.tsv", "Open\t \n", r"p\.tsv:1: expected two non-empty fields"),
        ("p.jsonl", '{"en": "Open", "de": "Öffnen"}\n[1, 2]\n', r"p\.jsonl:2: expected a JSON "
         r"object of two or more sides"),
        ("p.jsonl", '{"en": "Open", "de": 3}\n', r"p\.jsonl:1: expected a JSON object"),
        ("p.jsonl", '{"en": "Open"}\n', r"p\.jsonl:1: expected a JSON object"),
        ("p.jsonl", '{"en": "Open", "de": "Ö"}\n{"de": "x", "fr": "y"}\n',
         r"p\.jsonl:2: lacks 'en', the side the splits are keyed on"),
        ("p.jsonl", "{" * 100_000 + "\n", r"p\.jsonl:1: expected a JSON object"),
        ("p.txt", "a\tb\n", r"p\.txt: expected a \.tsv or \.jsonl file"),
        ("p.tsv", "", r"p\.tsv: holds no pairs"),
    ],
)  # fmt: skip
def test_a_malformed_file_names_its_line_and_what_was_expected(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_translation_pairs(path)


def test_bytes_that_are_not_utf8_and_overlong_lines_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "p.tsv"
    path.write_bytes("Open\tÖffnen\n".encode() + "Close\tSchließen\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"p\.tsv:2: not UTF-8 text"):
        load_translation_pairs(path)
    monkeypatch.setattr(parallel_module, "LINE_LIMIT", 20)
    path.write_text("Open\tÖffnen\n" + "x" * 30 + "\ty\n")
    with pytest.raises(DataError, match=r"p\.tsv:2: a line of over 20 bytes"):
        load_translation_pairs(path)


def test_missing_input_is_one_line(tmp_path):
    with pytest.raises(DataError, match="give data_dir"):
        DATASETS.get("translation_pairs").load(None)
    with pytest.raises(DataError, match="no such file or folder"):
        load_translation_pairs(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match=r"holds no \*\.tsv or \*\.jsonl"):
        load_translation_pairs(tmp_path)
