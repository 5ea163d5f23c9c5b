"""The run folder: one writer at a time, never reused or deleted by mistake.

A folder that sharedspace prepared carries a marker file, ``.sharedspace-run``; the process that
trains in it holds an OS lock on that file for the whole run (``fcntl.flock``: released by the
kernel when the process ends, so a killed run leaves no stale lock) and writes its PID there, so
a second writer is told who holds it. ``--overwrite`` deletes only a marked folder; a folder the
project did not create is never written into. Holding the lock, a run removes the temp files of
saves that a kill interrupted.
"""

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from sharedspace.errors import SharedSpaceError
from sharedspace.files import remove_interrupted_writes
from sharedspace.train.checkpoint import latest_checkpoint

MARKER = ".sharedspace-run"


def holds_run(run_dir: Path) -> bool:
    return (run_dir / "metrics.jsonl").exists() or (run_dir / "checkpoints").exists()


def has_checkpoint(run_dir: Path) -> bool:
    return latest_checkpoint(run_dir / "checkpoints") is not None


@contextlib.contextmanager
def run_folder(
    out_dir: Path,
    name: str,
    resume: bool,
    overwrite: bool,
    enabled: bool = True,
    resumable: Callable[[Path], bool] = has_checkpoint,
) -> Iterator[Path]:
    """``out_dir/name``, prepared and locked for the ``with`` block (only where ``enabled``: the
    main process of a DDP run). A run folder is never silently reused: continuing needs resume
    (and state to continue from: ``resumable``, a trainer's checkpoint by default), replacing
    needs overwrite and the marker, and a folder with other files and no marker is not ours to
    write into."""
    run_dir = Path(out_dir) / name
    if not enabled:
        yield run_dir
        return
    if run_dir.is_symlink() or run_dir.resolve().parent != Path(out_dir).resolve():
        raise SharedSpaceError(f"{run_dir}: a run folder must be a folder inside {out_dir}")
    marked, running = (run_dir / MARKER).exists(), holds_run(run_dir)
    if not marked and not running and run_dir.exists() and any(run_dir.iterdir()):
        raise SharedSpaceError(
            f"{run_dir} holds files and is not a run folder (no {MARKER}); choose another "
            "name=… or out_dir=…"
        )
    if running and overwrite and not resume and not marked:
        raise SharedSpaceError(
            f"{run_dir}: --overwrite deletes only folders sharedspace made (with {MARKER}); "
            "delete this one yourself if it is to go"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    with locked(run_dir):
        if running and not (resume or overwrite):
            raise SharedSpaceError(
                f"{run_dir} already holds a run; pass --resume to continue it or --overwrite "
                "to replace it (or choose another name=…)"
            )
        if running and resume and not resumable(run_dir):
            raise SharedSpaceError(
                f"{run_dir}: nothing to resume (it holds logs but no checkpoint); delete the "
                "folder or pass --overwrite instead of --resume"
            )
        if running and overwrite and not resume:
            for child in run_dir.iterdir():  # all but the marker, whose lock we hold
                if child.name == MARKER:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:  # a file, or a link (removed, never followed)
                    child.unlink()
        for directory in (run_dir, run_dir / "checkpoints"):  # no one writes there but us
            for path in remove_interrupted_writes(directory):
                print(f"removed {path}, left by an interrupted save")
        yield run_dir


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock (creating its marker) for the ``with`` block; a
    SharedSpaceError names the process that holds it already."""
    fd = os.open(run_dir / MARKER, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise SharedSpaceError(
                f"{run_dir} is in use by process {holder} (a run trains there); wait for it to "
                "end, or choose another name=…"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
