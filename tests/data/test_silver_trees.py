"""SILVER English trees: link-parser's lines read into words and bracketed trees, the builder
driven through a fake ``link-parser`` on PATH that answers in the real program's format (so CI
needs no link-grammar), gettext's split kept, and the reader's errors; plus a real-data check."""

import json
import shutil
import stat
import sys
from pathlib import Path

import pytest

from sharedspace.cli import main
from sharedspace.data import DATASETS, download
from sharedspace.data import silver_trees as st
from sharedspace.data.locate import default_roots
from sharedspace.data.text_scorer import BRACKETS
from sharedspace.errors import DataError
from tests.data.mo_files import write_catalog

# real link-parser 5.12 answers (-constituents=3), copied from its output on these sentences
REAL = {
    "The quick brown fox jumped over the lazy dog.": (
        "(S (NP the quick.a brown.a fox.n) (VP jumped.v-d (PP over (NP the lazy.a dog.n))) .)",
        "the quick brown fox jumped over the lazy dog .",
        "(S (NP XX XX XX XX ) (VP XX (PP XX (NP XX XX XX ) ) ) XX )",
    ),
    "Could not open the file": (
        "(S (ADVP could.v (VP not.e open.v (NP the file.n))))",
        "could not open the file",
        "(S (ADVP XX (VP XX XX (NP XX XX ) ) ) )",
    ),
    "The file (which is big) was saved.": (
        "(S (NP (NP the file.n) (SBAR (WHNP {) which (S (VP is.v (ADJP big.a))) })) "
        "(VP was.v-d (ADJP saved.v-d)) .)",
        "the file { which is big } was saved .",
        "(S (NP (NP XX XX ) (SBAR (WHNP XX ) XX (S (VP XX (ADJP XX ) ) ) XX ) ) "
        "(VP XX (ADJP XX ) ) XX )",
    ),
    "3.5 items were moved to file.txt.": (
        "(S (NP 3.5{!} items.n) (VP were.v-d (VP moved.v-d (S (VP to.r (VP file.txt{?}.v))))) .)",
        "3.5 items were moved to file.txt .",
        "(S (NP XX XX ) (VP XX (VP XX (S (VP XX (VP XX ) ) ) ) ) XX )",
    ),
    "Print the name of header files as they are used.": (
        "(S print.v (NP the name.n of (NP header.n files.n)) (SBAR as.#while (S (NP they) "
        "(VP are.v (ADJP used.v-d)))) .)",
        "print the name of header files as they are used .",
        "(S XX (NP XX XX XX (NP XX XX ) ) (SBAR XX (S (NP XX ) (VP XX (ADJP XX ) ) ) ) XX )",
    ),
}
CLAUSE = ("column: Units", "(S (VP column.n))")  # a parse of the first clause only: dropped
UNPARSED = "file file the of of"  # no parse with no null link: link-parser answers nothing
COMMAND = "!help"  # a link-parser command: never sent


@pytest.mark.parametrize("sentence", REAL)
def test_a_real_line_reads_into_words_and_an_xx_tree(sentence):
    line, words, tree = REAL[sentence]
    assert st.linearised(line) == (words, tree)
    written = st.with_words(words, tree).split()
    assert [t for t in written if not t.startswith("(") and t != ")"] == words.split()
    assert [t if t.startswith("(") or t == ")" else "XX" for t in written] == tree.split()


def test_with_words_puts_each_word_back_in_order():
    assert st.with_words("open the file", "(S (VP XX (NP XX XX ) ) )") == (
        "(S (VP open (NP the file ) ) )"
    )


@pytest.mark.parametrize(
    "line",
    ["(S (NP a) b", "(S a)) b", "(S a) (S b)", "a (S b)", "(S a(b) c)", "", "(S )", "(s a)"],
)
def test_a_line_that_is_not_one_tree_is_refused(line):
    assert st.linearised(line) is None


FAKE = """\
#!{python}
import sys
trees = {trees!r}
with open({log!r}, "a") as log:
    log.write("run\\n")
    print("verbosity set to 0")
    print('Debug: Dictionary "en/4.0.dict": Locale "en_US.UTF-8" unknown')
    for arg in sys.argv[2:]:
        name, value = arg.lstrip("-").split("=")
        print(f"{{name}} set to {{value}}")
    for line in sys.stdin:
        line = line.rstrip("\\n")
        log.write(line + "\\n")
        if line.startswith("!"):
            name, _, value = line[1:].partition("=")
            print(f"{{name}} set to {{value}}")
        elif line in trees:
            print(trees[line])
            print()
    print("Bye.")
"""


def open_lines(count: int) -> dict[str, str]:
    """``count`` generated messages and link-parser's answer to each, as it parses them."""
    return {
        f"Open the report{k} file": f"(S (VP open.v (NP the report{k}{{?}}.n file.n)))"
        for k in range(count)
    }


@pytest.fixture
def fake_parser(tmp_path, monkeypatch):
    """A ``link-parser`` on PATH answering REAL, CLAUSE and 100 generated messages as the real
    one does; it logs each run and every line it reads to ``log``."""
    folder, log = tmp_path / "bin", tmp_path / "parser.log"
    folder.mkdir()
    trees = {s: line for s, (line, _, _) in REAL.items()} | dict([CLAUSE]) | open_lines(100)
    script = folder / "link-parser"
    script.write_text(FAKE.format(python=sys.executable, trees=trees, log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return log


@pytest.fixture
def gettext_dir(tmp_path):
    """A data folder holding gettext catalogs of every message above, translated into German."""
    english = [*REAL, CLAUSE[0], UNPARSED, COMMAND, *open_lines(100)]
    messages = {en: f"Deutsch {i}" for i, en in enumerate(english)}
    write_catalog(tmp_path / "data" / "gettext", "tests-l10n", "de", "tests", messages)
    return tmp_path / "data"


def test_the_builder_keeps_whole_parses_in_gettexts_split(gettext_dir, fake_parser, monkeypatch):
    monkeypatch.setattr(st, "CHUNK", 40)  # 107 sentences sent: three processes
    folder = download("english_silver_trees", gettext_dir)
    assert folder == gettext_dir / st.FOLDER and [p.name for p in folder.iterdir()] == [st.FILE]
    log = fake_parser.read_text().splitlines()
    assert log.count("run") == 3 and COMMAND not in log and log.count(st.SENTINEL) == 107 + 3

    splits = DATASETS.get("english_silver_trees").load(gettext_dir)
    assert splits.sides == ("words", "tree") and splits.scorers == {"tree": BRACKETS}
    rows = {r["words"]: (name, r["tree"]) for name in ("train", "validation", "test")
            for r in getattr(splits, name)}  # fmt: skip
    expected = {words: tree for _, words, tree in REAL.values()}
    expected |= {f"open the report{k} file": "(S (VP XX (NP XX XX XX ) ) )" for k in range(100)}
    assert {words: tree for words, (_, tree) in rows.items()} == expected  # no CLAUSE, UNPARSED

    english = DATASETS.get("gettext").load(gettext_dir)
    split_of = {st.normalised(r["en"]): name for name in ("train", "validation", "test")
                for r in getattr(english, name)}  # fmt: skip
    assert all(split_of[st.normalised(words)] == name for words, (name, _) in rows.items())
    assert {name for name, _ in rows.values()} == {"train", "validation", "test"}

    main(["data", "download", "english_silver_trees", "--data-dir", str(gettext_dir)])
    assert fake_parser.read_text().splitlines().count("run") == 3  # the file is kept


def test_silver_rows_counts_sentences_parses_and_rows(fake_parser):
    sentences = [*REAL, CLAUSE[0], UNPARSED, COMMAND, next(iter(REAL))]
    rows, counts = st.silver_rows(sentences)
    assert counts == st.Parsed(sentences=9, parsed=7, kept=5)  # the fox twice: one row
    assert len(rows) == 5


def test_without_gettext_the_builder_says_to_download_it_first(tmp_path, fake_parser):
    with pytest.raises(DataError, match=r"run `sharedspace data download gettext --data-dir") as e:
        download("english_silver_trees", tmp_path / "empty")
    assert "\n" not in str(e.value)


def test_without_link_parser_the_builder_says_what_to_install(gettext_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(DataError, match="link-parser: not found on PATH; install it: apt-get"):
        download("english_silver_trees", gettext_dir)
    assert not (gettext_dir / st.FOLDER).exists()


@pytest.mark.parametrize(
    "body, message",
    [
        ("print('bad dictionary', file=sys.stderr); sys.exit(2)", "exit 2.*bad dictionary"),
        ("sys.stdin.read(); print('echo set to 0'); print('Bye.')", "answered 0 of 2 sentences"),
    ],
)
def test_a_failing_parser_is_a_data_error(tmp_path, monkeypatch, body, message):
    script = tmp_path / "link-parser"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(DataError, match=f"link-parser.*{message}"):
        st.parse(["Open the file", "Close it"])


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / st.FOLDER / st.FILE
    path.parent.mkdir(parents=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


GOOD = json.dumps({"words": "open the file", "tree": "(S (VP XX (NP XX XX ) ) )"})


@pytest.mark.parametrize(
    "lines, message",
    [
        ([GOOD, "{not json"], r"trees\.jsonl:2: expected a JSON object"),
        ([json.dumps({"words": "open it", "tree": "(S XX )"})], "a tree without one XX per word"),
        ([json.dumps({"en": "Open", "tree": "(S XX )"})], "expected the sides words, tree"),
    ],
)
def test_a_malformed_file_is_a_one_line_data_error(tmp_path, lines, message):
    _write(tmp_path, lines)
    with pytest.raises(DataError, match=message) as e:
        DATASETS.get("english_silver_trees").load(tmp_path)
    assert "\n" not in str(e.value)


def test_a_missing_file_names_the_command_that_builds_it(isolated_home, tmp_path):
    with pytest.raises(DataError, match="sharedspace data download english_silver_trees"):
        DATASETS.get("english_silver_trees").load(tmp_path)


def test_it_is_listed_as_silver(capsys):
    main(["list", "datasets"])
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "english_silver_trees" in x]
    assert "SILVER" in line and "not gold" in line


GETTEXT = [root / "gettext" for root in default_roots()]
NEEDS = (
    "apt-get install link-grammar link-grammar-dictionaries-en; sharedspace data download gettext"
)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("link-parser") is None or not any(p.is_dir() for p in GETTEXT),
    reason=f"needs `{NEEDS}`",
)
def test_real_link_parser_on_real_messages():
    """1,000 of gettext's real messages through the real link-parser: 60–80 % parse with no
    null link (70 % over all 40,252), and every kept row is one well-formed tree."""
    english = DATASETS.get("gettext").load(next(p for p in GETTEXT if p.is_dir()).parent)
    sentences = [row["en"] for row in english.train[:1000]]
    rows, counts = st.silver_rows(sentences)
    assert 0.6 <= counts.parsed / counts.sentences <= 0.8, counts
    assert counts.kept >= 0.95 * counts.parsed
    for row in rows:
        assert row["tree"].split().count(st.WORD) == len(row["words"].split())
        assert row["tree"].count("(") == row["tree"].count(")")
