"""Durable, verified file writes: one copy of the sha256 and fsync code for every layer.

Checkpoints, run results and downloads all need the same two promises: a file under its final name
is complete (written beside it, synced, then renamed, and the rename synced), and its sha256 is of
the bytes on disk. This module keeps those promises in one place and imports only the standard
library, so any layer (data, train) may use it.

Files are created with mode 0o666 less the process's umask, as ``open`` would create them
(``tempfile.mkstemp`` would make every result private to its owner, 0o600).
"""

import hashlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

_CHUNK = 1 << 20


TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")  # what atomic_write writes before renaming


def remove_interrupted_writes(directory: Path) -> list[Path]:
    """Delete the temp files that writes killed before their rename left in ``directory``
    (a checkpoint's can be hundreds of MB); returns them. Call it only where no write can be
    under way — the run folder's lock is held."""
    if not Path(directory).is_dir():
        return []
    stale = [p for p in Path(directory).iterdir() if TEMP_NAME.match(p.name) and p.is_file()]
    for path in stale:
        path.unlink()
    return stale


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> str:
    """Run ``write(file)`` on a temp file beside ``path``, then rename it there; return its sha256.

    The digest is of the bytes read back from disk after fsync, so it vouches for what was stored.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")  # TEMP_NAME
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return digest


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks so a large file never sits in memory whole."""
    with open(path, "rb") as f:
        return sha256_of(f)


def sha256_of(f: IO[bytes]) -> str:
    """The hex sha256 of what is left to read in an open file, read in chunks."""
    digest = hashlib.sha256()
    while chunk := f.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a file's writes to disk, so renaming it into place cannot expose lost data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename durable; POSIX only (Windows cannot open a directory for fsync)."""
    if os.name == "posix":
        fsync_file(directory)
