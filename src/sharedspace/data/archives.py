"""Unpack downloaded .tar.gz / .zip archives without trusting the names inside them.

A member named ``../../.bashrc`` or ``/etc/passwd``, or a link pointing out of the folder, could
write anywhere: only plain files and folders that stay inside the destination are extracted.
Members go to a hidden staging folder first and are moved into place at the end, so an interrupted
unpack never leaves a half-written dataset folder that a loader would mistake for data.

Each member is read only as far as its header declares (tarfile and zipfile stop there), and the
declared sizes are added up before each member is written: more than deflate could have packed
into the archive (``MAX_INFLATION``×) or than the disk has free is refused before writing it.
The archive itself must be a regular file (a FIFO or a link to ``/dev/zero`` is refused before a
byte is read) of at most ``ARCHIVE_LIMIT`` bytes.
"""

import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, open_regular

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
# deflate's best ratio is about 1032:1, so a gzip or zip file cannot hold more than this many times
# its size: a header that declares more is a lie (a decompression bomb), refused before inflating
MAX_INFLATION = 1100
ARCHIVE_LIMIT = 1024 * MiB  # the largest official archive, WikiText-103's, is 190 MB

# (name inside the archive, is a folder, declared size in bytes, opens the member's bytes)
Member = tuple[str, bool, int, Callable[[], IO[bytes]]]


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into ``dest``; an escaping member or a bad archive is a DataError."""
    dest.mkdir(parents=True, exist_ok=True)
    with (
        open_regular(archive, ARCHIVE_LIMIT, DataError) as file,
        tempfile.TemporaryDirectory(prefix=f".{archive.name}.", dir=dest) as tmp,
    ):
        limits, declared = _limits(os.fstat(file.fileno()).st_size, dest), 0
        staging = Path(tmp)
        try:
            with _members(archive, file) as members:
                for name, is_dir, member_size, open_member in members:
                    target = _inside(staging, name, archive)
                    declared += member_size
                    for limit, what in limits:
                        if declared > limit:
                            raise DataError(
                                f"{archive}: members up to {name!r} declare {declared} bytes, "
                                f"more than {what}; refused"
                            )
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


def _limits(size: int, dest: Path) -> list[tuple[int, str]]:
    """The most bytes the members of a ``size``-byte archive may declare in all, each with what
    it stands for."""
    free = shutil.disk_usage(dest).free
    return [
        (MAX_INFLATION * size, f"a {size}-byte archive can hold (limit {MAX_INFLATION}×)"),
        (free, f"the {free} bytes free on {dest}"),
    ]


@contextmanager
def _members(archive: Path, file: IO[bytes]) -> Iterator[Iterator[Member]]:
    """Read the archive from ``file`` and yield its members in order; links and devices are
    refused."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(file) as zf:
            infos = zf.infolist()
            yield ((i.filename, i.is_dir(), i.file_size, lambda i=i: zf.open(i)) for i in infos)
        return
    with tarfile.open(fileobj=file, mode="r:gz") as tf:

        def members() -> Iterator[Member]:
            for m in tf:
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"{archive}: member {m.name!r} is a link or device; refused")
                yield m.name, m.isdir(), m.size, lambda m=m: tf.extractfile(m)

        yield members()


def _inside(root: Path, name: str, archive: Path) -> Path:
    """Where ``name`` extracts to under ``root``; absolute names and ``..`` are refused."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if parts[:1] == ("/",) or ".." in parts:
        raise DataError(f"{archive}: member {name!r} would extract outside the folder; refused")
    return root.joinpath(*parts)
