"""The run folder: one writer at a time (an OS lock naming its holder, free again when the
holder dies), and --overwrite deletes only folders sharedspace made, inside out_dir."""

import os
import subprocess
import sys

import pytest

from sharedspace.errors import SharedSpaceError
from sharedspace.layout import MARKER
from sharedspace.train.checkpoint import save_checkpoint
from sharedspace.train.run_folder import run_folder


def enter(*args, **kwargs) -> None:
    with run_folder(*args, **kwargs):
        pass


def a_run(run_dir):
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("{}\n")


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    with run_folder(tmp_path, "r", resume=False, overwrite=False) as run_dir:
        a_run(run_dir)
        for resume, overwrite in ((True, False), (False, True)):
            with pytest.raises(SharedSpaceError, match=f"in use by process {os.getpid()}"):
                enter(tmp_path, "r", resume, overwrite)
        assert (run_dir / "metrics.jsonl").exists()  # the overwrite deleted nothing
    enter(tmp_path, "r", False, True)  # free again


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    code = (
        "import os, sys\n"
        "from sharedspace.train.run_folder import run_folder\n"
        f"with run_folder({str(tmp_path)!r}, 'r', False, False):\n"
        "    os._exit(0)  # dies holding the lock, as a killed run does\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    stale = (tmp_path / "r" / MARKER).read_text()
    assert stale.strip().isdigit() and int(stale) != os.getpid()
    with run_folder(tmp_path, "r", resume=True, overwrite=False) as run_dir:
        assert (run_dir / MARKER).read_text() == f"{os.getpid()}\n"


def test_overwrite_empties_only_a_folder_sharedspace_made(tmp_path):
    with run_folder(tmp_path, "mine", False, False) as run_dir:
        a_run(run_dir)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "keep.txt").write_text("not the run's")
        (run_dir / "link").symlink_to(elsewhere)
    with run_folder(tmp_path, "mine", False, overwrite=True) as run_dir:
        assert sorted(p.name for p in run_dir.iterdir()) == [MARKER]
    assert (elsewhere / "keep.txt").exists()  # the link went, not what it points at

    theirs = tmp_path / "theirs"
    a_run(theirs)  # looks like a run, but no marker: not ours
    with pytest.raises(SharedSpaceError, match="is not a run folder"):
        enter(tmp_path, "theirs", False, overwrite=True)
    assert (theirs / "metrics.jsonl").exists() and not (theirs / MARKER).exists()


def test_a_folder_of_other_files_is_never_written_into(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("…")
    for resume, overwrite in ((False, False), (True, False), (False, True)):
        with pytest.raises(SharedSpaceError, match="holds files and is not a run folder"):
            enter(tmp_path, "notes", resume, overwrite)
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize("name", ["../elsewhere", "link"])
def test_a_run_folder_stays_inside_out_dir(tmp_path, name):
    out, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere)
    with pytest.raises(SharedSpaceError, match="a run folder must be a folder inside"):
        enter(out, name, False, overwrite=True)
    assert not any(elsewhere.iterdir())


def test_a_run_starts_by_removing_what_killed_saves_left(tmp_path, capsys):
    with run_folder(tmp_path, "r", False, False) as run_dir:
        save_checkpoint({"step": 100}, run_dir / "checkpoints", 100)
    torn = run_dir / "checkpoints" / ".step_00000500.pt.0123456789ab.tmp"
    torn.write_bytes(b"x" * 1000)
    enter(tmp_path, "r", resume=True, overwrite=False)
    assert not torn.exists() and f"removed {torn}" in capsys.readouterr().out


def snapshot(folder):
    """Every path under ``folder`` with its bytes (a file) or target (a link): what a refused
    run must leave exactly as it was."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                found[path] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    found[path] = ("file", f.read())
            else:
                found[path] = ("folder",)
    return found


FOREIGN = {
    "logs": {"metrics.jsonl": "{}\n", "thesis.tex": "precious"},
    "checkpoints": {"checkpoints/notes.txt": "mine", "thesis.tex": "precious"},
    "logs only": {"metrics.jsonl": "{}\n"},
}


@pytest.mark.parametrize("contents", FOREIGN.values(), ids=FOREIGN.keys())
@pytest.mark.parametrize("resume", [False, True])
def test_a_refused_run_leaves_a_foreign_folder_byte_for_byte_as_it_was(tmp_path, contents, resume):
    """The data-loss path of issue 33: a refusal wrote the marker first, which armed the
    --overwrite its message suggested, and that deleted the user's files."""
    victim = tmp_path / "victim"
    for name, text in contents.items():
        (victim / name).parent.mkdir(parents=True, exist_ok=True)
        (victim / name).write_text(text)
    before = snapshot(tmp_path)
    for flags in ((resume, False), (False, True), (resume, False), (True, True)):
        with pytest.raises(SharedSpaceError, match="is not a run folder"):
            enter(tmp_path, "victim", *flags)
        assert snapshot(tmp_path) == before  # marker included: none was written


def test_a_refused_run_leaves_its_own_run_folder_as_it_was(tmp_path):
    with run_folder(tmp_path, "r", False, False) as run_dir:
        a_run(run_dir)
    before = snapshot(tmp_path)
    for flags, why in (
        ((False, False), "already holds a run"),
        ((True, False), "nothing to resume"),
    ):
        with pytest.raises(SharedSpaceError, match=why):
            enter(tmp_path, "r", *flags)
        assert snapshot(tmp_path) == before


def test_a_marker_planted_as_a_link_is_not_followed(tmp_path):
    target = tmp_path / "thesis.tex"
    target.write_text("precious")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / MARKER).symlink_to(target)
    for flags in ((False, False), (True, False), (False, True)):
        with pytest.raises(SharedSpaceError, match=MARKER):
            enter(tmp_path, "r", *flags)
    assert target.read_text() == "precious"


def test_resume_never_follows_a_link_out_of_the_run_folder(tmp_path):
    """A marked run whose checkpoints/ (or any file) is a link elsewhere: resuming would read and
    prune there. Refused; --overwrite removes the link without following it."""
    elsewhere = tmp_path / "elsewhere"
    save_checkpoint({"step": 1}, elsewhere, 1)
    (elsewhere / "keep.txt").write_text("not the run's")
    with run_folder(tmp_path / "out", "r", False, False) as run_dir:
        (run_dir / "checkpoints").symlink_to(elsewhere)
        (run_dir / "metrics.jsonl").write_text("{}\n")
    before = snapshot(tmp_path)
    with pytest.raises(SharedSpaceError, match="a link inside a run folder"):
        enter(tmp_path / "out", "r", True, False)
    assert snapshot(tmp_path) == before
    enter(tmp_path / "out", "r", False, True)
    assert not (run_dir / "checkpoints").exists() and (elsewhere / "keep.txt").exists()


def test_the_issue_33_steps_lose_nothing_through_the_cli(tmp_path, capsys):
    """`train` into a folder of the user's own files is refused; the `--overwrite` its message
    once armed is refused too; the files stay."""
    from sharedspace.cli import main
    from sharedspace.config import save_config
    from tests.tiny import tiny_config

    victim = tmp_path / "out" / "tiny"
    victim.mkdir(parents=True)
    (victim / "metrics.jsonl").write_text("{}\n")
    (victim / "thesis.tex").write_text("precious")
    save_config(tiny_config(tmp_path / "data", tmp_path / "out", max_steps=5), tmp_path / "c.yaml")
    before = snapshot(victim)
    for flags in ([], ["--overwrite"], ["--resume"]):
        with pytest.raises(SystemExit) as stop:
            main(["train", str(tmp_path / "c.yaml"), *flags])
        assert stop.value.code == 2 and "is not a run folder" in capsys.readouterr().err
        assert snapshot(victim) == before


@pytest.mark.parametrize("existed", [False, True], ids=["new folder", "empty folder"])
def test_a_run_that_fails_before_writing_leaves_no_marked_folder(tmp_path, capsys, existed):
    """Missing data (or a model that cannot be built) used to leave an empty, marked folder
    that the next run with the same name then had to --overwrite."""
    from sharedspace.errors import DataError
    from sharedspace.train.trainer import train
    from tests.tiny import tiny_config

    if existed:
        (tmp_path / "out" / "tiny").mkdir(parents=True)
    cfg = tiny_config(tmp_path / "nowhere", tmp_path / "out", max_steps=2)
    with pytest.raises(DataError):
        train(cfg)
    assert (tmp_path / "out" / "tiny").exists() == existed
    assert not (tmp_path / "out" / "tiny" / MARKER).exists()
    with pytest.raises(RuntimeError), run_folder(tmp_path / "out", "kept", False, False) as kept:
        (kept / "config.yaml").write_text("name: x\n")  # it wrote something: a run to keep
        raise RuntimeError
    assert (kept / MARKER).exists()
