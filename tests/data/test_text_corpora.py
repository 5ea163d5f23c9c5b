import zipfile

import pytest

from sharedspace.data import DATASETS, text
from sharedspace.data.datasets import split_by_index
from sharedspace.errors import DataError
from tests.data.data_formats import write_fortunes, write_wikitext


@pytest.mark.parametrize(
    ("name", "folder"), [("wikitext2", "wikitext-2"), ("wikitext103", "wikitext-103")]
)
def test_wikitext_official_splits_one_document_per_line(tmp_path, name, folder):
    write_wikitext(tmp_path / folder)
    splits = DATASETS.get(name).load(tmp_path)
    assert splits.train == [
        "= Valkyria Chronicles =",
        "The game 's <unk> began in 2010 .",
        "It met with positive sales in Japan , and was praised .",
    ]
    assert splits.validation == ["= Tower Building =", "The tower is 1 @,@ 000 feet tall ."]
    assert splits.test[0] == "= Robert Boulter ="


def test_wikitext_zip_archive_is_unpacked(tmp_path):
    source = write_wikitext(tmp_path / "src" / "wikitext-2")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with zipfile.ZipFile(data_dir / "wikitext-2-v1.zip", "w") as zf:
        for path in source.iterdir():
            zf.write(path, f"wikitext-2/{path.name}")
    assert len(DATASETS.get("wikitext2").load(data_dir).test) == 2


def test_wikitext_missing_split_names_the_file(tmp_path):
    folder = write_wikitext(tmp_path / "wikitext-2")
    (folder / "wiki.valid.tokens").unlink()
    with pytest.raises(DataError, match=r"wiki\.valid\.tokens"):
        DATASETS.get("wikitext2").load(tmp_path)


def test_wikitext_empty_split_is_an_error(tmp_path):
    folder = write_wikitext(tmp_path / "wikitext-2")
    (folder / "wiki.test.tokens").write_text(" \n \n")
    with pytest.raises(DataError, match=r"wiki\.test\.tokens: holds no text"):
        DATASETS.get("wikitext2").load(tmp_path)


def test_invalid_utf8_names_the_file(tmp_path):
    folder = write_wikitext(tmp_path / "wikitext-2")
    (folder / "wiki.train.tokens").write_bytes("caf\u00e9 =".encode()[:4])  # cut inside é
    with pytest.raises(DataError, match=r"wiki\.train\.tokens: not UTF-8"):
        DATASETS.get("wikitext2").load(tmp_path)


def test_fortunes_skip_offensive_indexes_and_links(tmp_path):
    write_fortunes(tmp_path / "fortunes")
    splits = DATASETS.get("fortunes").load(tmp_path)
    docs = splits.train + splits.validation + splits.test
    assert len(docs) == 30  # 15 in alpha + 15 in beta; not off/rude, not *.u8 copies
    assert not any("offensive" in d or "binary" in d for d in docs)
    assert splits.train[0] == "alpha fortune 0\n\t\t-- Someone"  # files sorted by name
    assert splits.validation == ["beta fortune 3\n\t\t-- Someone"]  # document 18
    assert splits.test == ["beta fortune 4\n\t\t-- Someone"]  # document 19


def test_fortunes_category_is_the_file_name(tmp_path):
    write_fortunes(tmp_path / "fortunes")
    splits = DATASETS.get("fortunes").load(tmp_path)
    assert splits.categories["validation"] == ["beta"]  # document 18: "beta fortune 3"
    for split in ("train", "validation", "test"):
        docs, categories = getattr(splits, split), splits.categories[split]
        assert len(categories) == len(docs)
        for doc, category in zip(docs, categories, strict=True):
            assert doc.startswith(f"{category} fortune ")  # each file's fortunes name the file
    assert set(splits.categories["train"]) == {"alpha", "beta"}


def test_fortunes_entry_separator_is_a_whole_line(tmp_path):
    folder = tmp_path / "fortunes"
    folder.mkdir()
    (folder / "fortunes").write_text("  indented art\n100% sure\n%\nsecond\n%\n\n%\nthird")
    splits = DATASETS.get("fortunes").load(folder)
    assert splits.train == ["  indented art\n100% sure", "second", "third"]


def test_split_by_index_rule():
    docs = [str(i) for i in range(45)]
    splits = split_by_index(docs)
    assert splits.test == ["19", "39"]
    assert splits.validation == ["18", "38"]
    assert len(splits.train) == 41 and "17" in splits.train and "40" in splits.train


def test_split_by_index_splits_categories_alongside():
    docs = [str(i) for i in range(45)]
    splits = split_by_index(docs, [f"c{i}" for i in range(45)])
    for split in ("train", "validation", "test"):
        assert splits.categories[split] == [f"c{d}" for d in getattr(splits, split)]
    assert split_by_index(docs).categories == {}
    with pytest.raises(ValueError, match="44 categories for 45 documents"):
        split_by_index(docs, ["c"] * 44)


def test_fortunes_not_found_says_apt_get(tmp_path, isolated_home, monkeypatch):
    monkeypatch.setattr(text, "FORTUNES_DEBIAN_ROOT", tmp_path / "games")
    with pytest.raises(DataError, match=r"apt-get install -y fortunes") as info:
        DATASETS.get("fortunes").load(None)
    assert str(tmp_path / "games" / "fortunes") in str(info.value)


def test_text_files_paragraphs_from_a_file_or_a_folder(tmp_path):
    (tmp_path / "b.txt").write_text("Second file.\n\n\n   \nLast one.\n")
    (tmp_path / "a.txt").write_text("First para\nstill first.\n\nSecond para.\r\n\r\nThird.")
    (tmp_path / "notes.md").write_text("ignored")
    splits = DATASETS.get("text_files").load(tmp_path)
    assert splits.train == [
        "First para\nstill first.",
        "Second para.",
        "Third.",
        "Second file.",
        "Last one.",
    ]
    assert DATASETS.get("text_files").load(tmp_path / "b.txt").train == [
        "Second file.",
        "Last one.",
    ]


def test_text_files_category_is_the_file_stem(tmp_path):
    for topic in ("cats", "dogs"):
        paragraphs = [f"{topic} paragraph {i}." for i in range(12)]
        (tmp_path / f"{topic}.txt").write_text("\n\n".join(paragraphs))
    splits = DATASETS.get("text_files").load(tmp_path)
    assert splits.categories["validation"] == ["dogs"]  # document 18 is dogs paragraph 6
    assert splits.categories["test"] == ["dogs"]
    for split in ("train", "validation", "test"):
        docs, categories = getattr(splits, split), splits.categories[split]
        assert len(categories) == len(docs)
        for doc, category in zip(docs, categories, strict=True):
            assert doc.startswith(f"{category} paragraph ")
    assert DATASETS.get("text_files").load(tmp_path / "cats.txt").categories == {}


def test_wikitext_has_no_categories(tmp_path):
    write_wikitext(tmp_path / "wikitext-2")
    assert DATASETS.get("wikitext2").load(tmp_path).categories == {}


@pytest.mark.parametrize("where", ["missing.txt", None])
def test_text_files_needs_an_existing_path(tmp_path, where):
    with pytest.raises(DataError, match=r"missing\.txt|give data_dir"):
        DATASETS.get("text_files").load(tmp_path / where if where else None)


def test_text_files_empty_folder(tmp_path):
    with pytest.raises(DataError, match=r"holds no text"):
        DATASETS.get("text_files").load(tmp_path)
