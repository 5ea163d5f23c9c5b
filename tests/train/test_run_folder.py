"""The run folder: one writer at a time (an OS lock naming its holder, free again when the
holder dies), and --overwrite deletes only folders sharedspace made, inside out_dir."""

import os
import subprocess
import sys

import pytest

from sharedspace.errors import SharedSpaceError
from sharedspace.train.checkpoint import save_checkpoint
from sharedspace.train.run_folder import MARKER, run_folder


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
    with pytest.raises(SharedSpaceError, match="--overwrite deletes only folders sharedspace made"):
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
