"""Unpack downloaded .tar.gz / .zip archives without trusting the names inside them.

A member named ``../../.bashrc`` or ``/etc/passwd``, or a link pointing out of the folder, could
write anywhere: only plain files and folders that stay inside the destination are extracted.
Members go to a hidden staging folder first and are moved into place at the end, so an interrupted
unpack never leaves a half-written dataset folder that a loader would mistake for data.
"""

import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from sharedspace.errors import DataError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")

# (name inside the archive, is a folder, opens the member's bytes)
Member = tuple[str, bool, Callable[[], IO[bytes]]]


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into ``dest``; an escaping member or a bad archive is a DataError."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{archive.name}.", dir=dest) as tmp:
        staging = Path(tmp)
        try:
            with _members(archive) as members:
                for name, is_dir, open_member in members:
                    target = _inside(staging, name, archive)
                    if is_dir:
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open_member() as src, target.open("wb") as out:
                        shutil.copyfileobj(src, out)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
            raise DataError(f"{archive}: cannot unpack ({e}); delete it and download again") from e
        for entry in staging.iterdir():
            final = dest / entry.name
            if final.is_dir():
                shutil.rmtree(final)
            entry.replace(final)


@contextmanager
def _members(archive: Path) -> Iterator[Iterator[Member]]:
    """Open the archive and yield its members in order; links and devices are refused."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            yield ((i.filename, i.is_dir(), lambda i=i: zf.open(i)) for i in zf.infolist())
        return
    with tarfile.open(archive, "r:gz") as tf:

        def members() -> Iterator[Member]:
            for m in tf:
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"{archive}: member {m.name!r} is a link or device; refused")
                yield m.name, m.isdir(), lambda m=m: tf.extractfile(m)

        yield members()


def _inside(root: Path, name: str, archive: Path) -> Path:
    """Where ``name`` extracts to under ``root``; absolute names and ``..`` are refused."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if parts[:1] == ("/",) or ".." in parts:
        raise DataError(f"{archive}: member {name!r} would extract outside the folder; refused")
    return root.joinpath(*parts)
