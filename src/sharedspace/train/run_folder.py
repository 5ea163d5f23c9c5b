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

from sharedspace import layout
from sharedspace.errors import SharedSpaceError
from sharedspace.files import remove_interrupted_writes
from sharedspace.train.checkpoint import latest_checkpoint


def holds_run(run_dir: Path) -> bool:
    return (run_dir / layout.METRICS).exists() or (run_dir / layout.CHECKPOINTS).exists()


def resumable_run(run_dir: Path) -> bool:
    """A checkpoint to resume from, or the final weights of a finished run whose checkpoints
    were pruned (resuming it returns its results)."""
    finished = (run_dir / layout.FINAL).is_file()
    return finished or latest_checkpoint(run_dir / layout.CHECKPOINTS) is not None


@contextlib.contextmanager
def run_folder(
    out_dir: Path,
    name: str,
    resume: bool,
    overwrite: bool,
    enabled: bool = True,
    resumable: Callable[[Path], bool] = resumable_run,
) -> Iterator[Path]:
    """``out_dir/name``, prepared and locked for the ``with`` block (only where ``enabled``: the
    main process of a DDP run). A run folder is never silently reused: continuing needs resume
    (and state to continue from: ``resumable``, a trainer's checkpoint by default), replacing
    needs overwrite, and a folder with other files and no marker is not ours to write into.

    Every refusal comes before anything is written: a refused run leaves the folder as it was,
    marker included (a marker written by a refused run would arm the ``--overwrite`` its message
    suggests). The checks run again under the lock, where a concurrent run may have changed
    the folder; a refusal there removes the marker if this call created it. A run that fails
    before writing anything leaves the folder as it found it too."""
    run_dir = Path(out_dir) / name
    if not enabled:
        yield run_dir
        return
    if run_dir.is_symlink() or run_dir.resolve().parent != Path(out_dir).resolve():
        raise SharedSpaceError(f"{run_dir}: a run folder must be a folder inside {out_dir}")
    created, new = not _marked(run_dir), not run_dir.exists()
    if created:  # a marked folder is checked under its lock, so a live run's holder is named
        _check_reuse(run_dir, resume, overwrite, resumable)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with _locked_and_checked(run_dir, resume, overwrite, resumable, created) as ready:
            yield ready
    except BaseException:
        # a run that failed before writing anything (missing data, a model that cannot be
        # built) leaves no empty, marked folder behind for the next run to trip over
        if created and _marked(run_dir) and [p.name for p in run_dir.iterdir()] == [layout.MARKER]:
            (run_dir / layout.MARKER).unlink()
            if new:
                run_dir.rmdir()
        raise


@contextlib.contextmanager
def _locked_and_checked(
    run_dir: Path,
    resume: bool,
    overwrite: bool,
    resumable: Callable[[Path], bool],
    created: bool,
) -> Iterator[Path]:
    """Hold the lock, check again under it, and prepare the folder (see ``run_folder``)."""
    with locked(run_dir):
        try:
            _check_reuse(run_dir, resume, overwrite, resumable, locked=True)
        except SharedSpaceError:
            if created:
                (run_dir / layout.MARKER).unlink(missing_ok=True)
            raise
        if holds_run(run_dir) and overwrite and not resume:
            for child in run_dir.iterdir():  # all but the marker, whose lock we hold
                if child.name == layout.MARKER:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:  # a file, or a link (removed, never followed)
                    child.unlink()
        for directory in (run_dir, run_dir / layout.CHECKPOINTS):  # no one writes there but us
            for path in remove_interrupted_writes(directory):
                print(f"removed {path}, left by an interrupted save")
        yield run_dir


def _check_reuse(
    run_dir: Path,
    resume: bool,
    overwrite: bool,
    resumable: Callable[[Path], bool],
    locked: bool = False,
) -> None:
    """Refuse, with a SharedSpaceError saying what to do, a use of ``run_dir`` that could lose
    or mix up files. ``locked``: this process holds the lock (so the marker is there because
    of it, not proof that sharedspace made the folder)."""
    if not run_dir.exists():
        return
    others = [p for p in run_dir.iterdir() if p.name != layout.MARKER]
    if not locked and not _marked(run_dir) and others:
        raise SharedSpaceError(
            f"{run_dir} holds files and is not a run folder (no {layout.MARKER}): sharedspace "
            "never writes into, resumes or overwrites a folder it did not make; choose another "
            "name=… or out_dir=…, or delete the folder yourself if it is to go"
        )
    running = holds_run(run_dir)
    if running and not (resume or overwrite):
        raise SharedSpaceError(
            f"{run_dir} already holds a run; pass --resume to continue it or --overwrite "
            "to replace it (or choose another name=…)"
        )
    if resume and (link := _first_link(run_dir)) is not None:
        raise SharedSpaceError(
            f"{link}: a link inside a run folder (sharedspace makes none, and never follows one "
            "out of the run folder); remove it, or pass --overwrite instead of --resume"
        )
    if running and resume and not resumable(run_dir):
        raise SharedSpaceError(
            f"{run_dir}: nothing to resume (it holds logs but no checkpoint); delete the "
            "folder or pass --overwrite instead of --resume"
        )


def _marked(run_dir: Path) -> bool:
    return (run_dir / layout.MARKER).is_file() and not (run_dir / layout.MARKER).is_symlink()


def _first_link(run_dir: Path) -> Path | None:
    """The first symbolic link anywhere under ``run_dir`` (links are never followed)."""
    for root, dirs, files in os.walk(run_dir):
        for entry in (*dirs, *files):
            if os.path.islink(os.path.join(root, entry)):
                return Path(root, entry)
    return None


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock (creating its marker) for the ``with`` block; a
    SharedSpaceError names the process that holds it already."""
    try:  # O_NOFOLLOW: a marker planted as a link must not truncate what it points at
        fd = os.open(run_dir / layout.MARKER, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        message = f"{run_dir / layout.MARKER}: cannot open the run's lock ({e.strerror})"
        raise SharedSpaceError(message) from None
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
