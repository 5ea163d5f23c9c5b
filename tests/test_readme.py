"""The README as a new user copies it: every fenced block is run or checked.

A ``bash`` block's commands run in order in a fresh folder of their own (where ``configs/`` and
``examples/`` are what a clone has), on tiny generated datasets in the real formats: ``sharedspace``
and ``torchrun`` commands as written plus a smoke budget (a few steps on a few examples), ``make``
with ``-n``, benchmarks with ``--help``; a download only parses, and so does a ``reproduce E``
with no options, whose smoke study ``tests/experiments/test_E.py`` runs on data like this. A
``yaml`` block names its file on its first line: an excerpt of a file in the repository must
agree with it, any other is a file the user writes, put in each block's folder. The ``python``
snippet runs as written. The layout block must list every module and config folder, and nothing
that is not there.
"""

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from sharedspace.cli import main, parser
from sharedspace.config import load_yaml
from sharedspace.data import silver_trees, treebank
from sharedspace.data.download import DOWNLOADS, FETCHERS
from sharedspace.experiments import EXPERIMENTS
from sharedspace.experiments.discovery import PLANS
from sharedspace.experiments.self_supervised import STUDIES
from sharedspace.experiments.sus import BUDGETS
from sharedspace.resolve import load_config
from sharedspace.tasks.data import source_kind
from tests.data.data_formats import write_cifar10
from tests.data.mo_files import write_catalog
from tests.data.test_treebank import conllu, write_wheel
from tests.tiny import (
    WORDS,
    write_categories,
    write_fortunes,
    write_learnable_images,
    write_silver_trees,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "sharedspace"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
SMOKE = BUDGETS["smoke"]
# views that compose scenes (``scenes``): the self-supervised study's smoke counts, at the
# config's own size (the image sizes above only cap what a task reads of the 10,000 composed)
SCENES_SMOKE = {k: v for k, v in STUDIES["smoke"].budget.data["image"].items() if k != "size"}
# validation and test examples a README train command scores: its smoke numbers are never read,
# and scoring 256 examples of each of MultiModel's 8 problems with decoding took a minute
README_EVAL = 32
SYNTHESISED = ("synthetic_speech", "spoken_words_en")  # data a test cannot make in seconds
# drawn from the emoji font on every load: 42,000 pictures, half a minute, twice in their block
EMOJI_PAIRS = ("emoji_skin_tones", "emoji_genders")
STUDY_TESTS = {"multimodel_speech": "multimodel"}  # a study tested in another's test file


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    lang: str
    text: str


def readme_blocks() -> list[Block]:
    text = (ROOT / "README.md").read_text()
    return [
        Block(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in FENCE.finditer(text)
    ]


BLOCKS = readme_blocks()


def by_lang(lang: str) -> list[Block]:
    return [b for b in BLOCKS if b.lang == lang]


def block_ids(blocks: list[Block]) -> list[str]:
    return [f"README.md:{b.line}" for b in blocks]


def commands(text: str) -> list[list[str]]:
    """The shell commands of a block as argv lists: continuation lines joined, comments dropped,
    quotes removed and ``~`` expanded as bash does."""
    argvs = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            argvs.append([os.path.expanduser(w) if w.startswith("~") else w for w in words])
    return argvs


def written_files() -> dict[str, str]:
    """The YAML blocks that are files the user writes (not excerpts of the repository's)."""
    files = {}
    for block in by_lang("yaml"):
        name = block.text.split("\n", 1)[0].removeprefix("# ").split()[0]
        if not (ROOT / name).exists():
            files[name] = block.text
    return files


def write_catalogs(folder: Path, rng: np.random.Generator) -> None:
    """Two packages' German and French catalogs as ``data download gettext`` lays them out:
    300 messages of random words, translated word by word."""
    messages = {" ".join(rng.choice(WORDS, 3)) + f" {i}": i for i in range(300)}
    for language in ("de", "fr"):
        for package in ("pkg-a", "pkg-b"):
            part = {
                m: f"{language}-{m}" for m, i in messages.items() if i % 2 == (package == "pkg-b")
            }
            write_catalog(folder, package, language, "messages", part)


def pictures_installed() -> bool:
    """The Debian packages of the captioning data (``make data-multimodel``): too large to make
    tiny ones of (a colour emoji font cannot be generated)."""
    return all(
        Path(p).exists()
        for p in (
            "/usr/share/tuxpaint/stamps",
            "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
            "/usr/share/unicode/emoji/emoji-test.txt",
            "/usr/bin/rsvg-convert",
        )
    )


def write_wikitext(folder: Path, rng: np.random.Generator) -> None:
    """WikiText-2's three token files: headings and paragraphs of random words."""
    folder.mkdir(parents=True)
    for split, n in (("train", 300), ("valid", 60), ("test", 60)):
        lines = [" = Heading = "] + [" ".join(rng.choice(WORDS, 12)) + " ." for _ in range(n)]
        (folder / f"wiki.{split}.tokens").write_text("".join(f" {t} \n \n" for t in lines))


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory):
    """A machine as the README assumes: the datasets found by the default search (here through
    $SHAREDSPACE_DATA_DIR), CIFAR-10 and WikiText-2 in ~/data, and a folder per block."""
    root = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    data = root / "data"  # 25,000 training images: the Python snippet trains on 20,000 + 5,000
    write_learnable_images(data / "fashion-mnist", 26000, 300, rng)
    write_fortunes(data / "fortunes" / "fortunes", 400, rng)
    write_categories(data / "fortunes", rng)
    write_catalogs(data / "gettext", rng)
    write_wheel(data / treebank.FOLDER / treebank.WHEEL, conllu(0, 60), conllu(100, 30))
    sentences = [" ".join(rng.choice(WORDS, 5)) + f" {i}" for i in range(300)]
    write_silver_trees(data / silver_trees.FOLDER / silver_trees.FILE, sentences)
    home = root / "home"
    write_cifar10(home / "data" / "cifar-10-batches-py", per_batch=160)
    write_wikitext(home / "data" / "wikitext-2", rng)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHAREDSPACE_DATA_DIR", str(data))
        mp.setenv("HOME", str(home))
        yield root


@pytest.fixture
def folder(user: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The block's own working folder: a clone's configs/ and examples/, and the user's files.
    A tmp_path, so that a passing block's runs are deleted (the suite's studies and checkpoints
    would otherwise fill gigabytes of the disk)."""
    work = tmp_path
    for name in ("configs", "examples"):
        (work / name).symlink_to(ROOT / name)
    for name, text in written_files().items():
        (work / name).write_text(text)
    monkeypatch.chdir(work)
    return work


def with_smoke(argv: list[str], config: str) -> list[str]:
    """``argv`` (a train command of ``config``) plus the smoke budget as overrides, less the keys
    the command sets itself."""
    overrides = [a for a in argv[argv.index(config) + 1 :] if "=" in a]
    cfg = load_config(config, overrides)
    smoke = [f"train.{k}={v}" for k, v in SMOKE.train.items()]
    for name, task in cfg.tasks.items():
        known = {f.name for f in dataclasses.fields(task.data.config)}  # what its view reads
        fields = (
            SCENES_SMOKE if "scenes" in known else SMOKE.data.get(source_kind(task.data.name), {})
        )
        fields = {k: min(v, README_EVAL) if k in ("val_size", "eval_size") else v
                  for k, v in fields.items()}  # fmt: skip
        smoke += [f"tasks.{name}.data.{k}={v}" for k, v in fields.items() if k in known]
    given = {o.split("=")[0].lstrip("+~") for o in overrides}
    return argv + [o for o in smoke if o.split("=")[0] not in given]


def sharedspace(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    """Run one ``sharedspace`` command in this process (a failure shows its stderr)."""
    args = parser().parse_known_args(argv)[0]
    if args.command == "data":  # needs the internet: parse only
        assert args.name in DOWNLOADS or args.name in FETCHERS
        return
    if args.command == "train":
        sections = json.dumps(load_yaml(Path(args.config)))  # its base's too
        if any(f'"{source}"' in sections for source in SYNTHESISED):
            pytest.skip(f"{args.config} reads synthesised speech (minutes to make, engines)")
        if '"captions"' in sections and not pictures_installed():
            pytest.skip(f"{args.config} reads the captioning pictures: make data-multimodel")
        if '"scene_objects"' in sections and not pictures_installed():
            pytest.skip(f"{args.config} reads the stamps and emoji: make data-multimodel")
        if any(f'"{source}"' in sections for source in EMOJI_PAIRS):
            pytest.skip(f"{args.config} draws every emoji pair's pictures (a minute a block)")
        argv = with_smoke(argv, str(args.config))
    if args.command == "discover":  # the study's smoke search: seconds
        argv = [*argv, *PLANS["smoke"].search]
    if args.command == "reproduce":
        assert args.experiment in EXPERIMENTS, f"reproduce {args.experiment}: no such experiment"
        if not (args.data_dir or args.overrides or args.resume or args.overwrite):
            # as written, its smoke study is the one its own test runs on data like this: once
            own = STUDY_TESTS.get(args.experiment, args.experiment)
            test = ROOT / "tests" / "experiments" / f"test_{own}.py"
            assert '"smoke"' in test.read_text(), f"{test} should run the smoke study"
            return
        budget = [i for i, a in enumerate(argv) if a == "--budget"]  # --budget NAME
        argv = [a for i, a in enumerate(argv) if i not in budget and i - 1 not in budget]
        argv = [a for a in argv if not a.startswith("--budget=")] + ["--budget", "smoke"]
    try:
        main(argv)
    except SystemExit as e:
        err = capsys.readouterr().err
        assert e.code == 0, f"sharedspace {shlex.join(argv)}: status {e.code}\n{err[-3000:]}"


def run(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    program, *args = argv
    if program == "sharedspace":
        return sharedspace(args, capsys)
    if program == "make":
        command = ["make", "-n", "-C", str(ROOT), *args]
    elif program == "torchrun":
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        command = [torchrun, *with_smoke(args, args[args.index("train") + 1])]
    elif program == "python" and args[0].startswith("benchmarks/"):  # minutes: parse only
        command = [sys.executable, str(ROOT / args[0]), *args[1:], "--help"]
    else:
        pytest.fail(f"README command {shlex.join(argv)}: the README test cannot run {program!r}")
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"{shlex.join(argv)}: status {done.returncode}\n{done.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("block", by_lang("bash"), ids=block_ids(by_lang("bash")))
def test_every_command_runs_as_written(block: Block, folder: Path, capsys) -> None:
    for argv in commands(block.text):
        run(argv, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("block", by_lang("python"), ids=block_ids(by_lang("python")))
def test_the_python_snippet_runs_as_written(block: Block, folder: Path, capsys) -> None:
    exec(compile(block.text, f"README.md:{block.line}", "exec"), {"__name__": "__main__"})
    accuracy = capsys.readouterr().out.strip().splitlines()[-1]
    assert accuracy.startswith("tensor(")


@pytest.mark.parametrize("block", by_lang("yaml"), ids=block_ids(by_lang("yaml")))
def test_a_yaml_block_names_its_file_and_agrees_with_it(block: Block, tmp_path: Path) -> None:
    first = block.text.split("\n", 1)[0]
    assert first.startswith("# "), f"README.md:{block.line}: first line should be '# FILE'"
    name = first.removeprefix("# ").split()[0]
    shown = yaml.safe_load(block.text)
    if (ROOT / name).exists():
        assert_within(shown, yaml.safe_load((ROOT / name).read_text()), name)
    else:  # a file the user writes: valid as it stands, beside the others (its base among them)
        for other, text in written_files().items():
            (tmp_path / other).write_text(text)
        load_config(tmp_path / name)


def assert_within(shown, actual, key: str) -> None:
    """Every key of an excerpt is in the file, with the same value."""
    if isinstance(shown, dict):
        assert isinstance(actual, dict), f"{key}: the README shows a mapping"
        for k, v in shown.items():
            assert k in actual, f"{key}.{k}: in the README, not in the file"
            assert_within(v, actual[k], f"{key}.{k}")
    else:
        assert shown == actual, f"{key}: README {shown!r}, file {actual!r}"


def layout_entries() -> list[Path]:
    """The paths the Layout block lists: ``name`` at two spaces per level under its parent."""
    (block,) = [b for b in BLOCKS if b.text.startswith("src/sharedspace/\n")]
    parents, paths = [], []
    for line in block.text.splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        if depth > 2:  # a description's second line
            continue
        parents[depth:] = [line.split()[0]]
        paths.append(Path(*parents))
    return paths


def test_the_layout_lists_what_is_there() -> None:
    listed = layout_entries()
    for path in listed:
        assert (ROOT / path).exists(), f"README layout lists {path}, which is not there"
    package = {p.name for p in PACKAGE.iterdir() if p.name not in ("__init__.py", "__pycache__")}
    configs = {p.name for p in (PACKAGE / "configs").iterdir()}
    src = Path("src/sharedspace")
    assert package <= {p.name for p in listed if p.parent == src}
    assert configs <= {p.name for p in listed if p.parent == src / "configs"}
