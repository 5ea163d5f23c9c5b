"""Reading files that other people made: run folders, weights files, configs, data folders.

All of these are untrusted input. The rule every reader follows: no code runs, no link is followed
out of the folder being read, and memory and time are bounded by the file's size. This module keeps
the checks that every layer needs in one place (the standard library and safetensors, so data,
train and analysis may all use it):

- ``open_regular`` opens without blocking and checks the *opened* file with ``fstat``: a FIFO, a
  device or a link to ``/dev/zero`` is refused before a byte is read, and no check-then-open race
  lets one slip in; ``limit`` bounds what a reader may take in (a file that grows past it while
  being read is refused too).
- ``inside`` refuses a path whose resolved form leaves a folder (links out of a run folder).
- ``loads_json`` turns malformed or absurdly nested JSON (a ``RecursionError`` deep in the parser)
  into the project's one-line error naming the file.
- ``read_safetensors`` reads a safetensors file (weights, exported features) whose header is
  bounded, from the file just checked.
"""

import errno
import json
import os
import stat
import sys
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError, safe_open

from sharedspace.errors import SharedSpaceError

MiB = 1 << 20
JSON_LIMIT = 64 * MiB  # run.json, results.json, a search trace: far above what a run writes


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, with every link resolved, lies inside ``folder`` (resolved too)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def regular_file(path: Path, folder: Path | None = None, follow_links: bool = True) -> bool:
    """Whether ``path`` is a regular file (after links, unless ``follow_links`` is False: then a
    link is not one), inside ``folder`` where one is given."""
    try:
        mode = (os.stat if follow_links else os.lstat)(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(mode) and (folder is None or inside(path, folder))


def open_regular(
    path: Path,
    limit: int,
    error: type[SharedSpaceError] = SharedSpaceError,
    follow_links: bool = True,
) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file of at most ``limit`` bytes; anything else
    (a folder, FIFO, socket, device, a link to one, a larger file) is ``error`` naming the path.
    ``follow_links=False`` refuses a link itself (``O_NOFOLLOW``): what a run folder holds is
    read there, never through a link to a file elsewhere."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags | (0 if follow_links else os.O_NOFOLLOW))
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_links:
            raise error(f"{path}: not a regular file but a link (not followed)") from None
        raise error(f"{path}: cannot open ({e.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: not a regular file (a folder, device, pipe or socket)")
        if info.st_size > limit:
            raise error(f"{path}: {info.st_size:,} bytes, more than the {limit:,} expected")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(
    path: Path,
    limit: int,
    error: type[SharedSpaceError] = SharedSpaceError,
    follow_links: bool = True,
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see ``open_regular``). It reads the
    size ``fstat`` reports plus one byte, not ``limit``: Python allocates a read's whole request
    up front, so a tiny file read under a 1 GiB limit would take 1 GiB. A file that grows while
    being read is refused."""
    with open_regular(path, limit, error, follow_links) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(size + 1)
    if len(data) > size:
        raise error(f"{path}: grew past its {size:,} bytes while being read")
    return data


def read_text(path: Path, limit: int, error: type[SharedSpaceError] = SharedSpaceError) -> str:
    """``read_bytes`` decoded as UTF-8 (undecodable bytes replaced, never an error)."""
    return read_bytes(path, limit, error).decode("utf-8", errors="replace")


def loads_json(
    text: str | bytes, path: Path | str, error: type[SharedSpaceError] = SharedSpaceError
) -> Any:
    """``json.loads`` whose failures — bad syntax, bytes that are not UTF-8, an integer past
    Python's digit limit, nesting too deep for the parser — are ``error`` naming ``path``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise error(f"{path}: JSON nested too deeply to read") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        raise error(f"{path}: not valid JSON ({str(e)[:200]})") from None


def read_json(
    path: Path, limit: int = JSON_LIMIT, error: type[SharedSpaceError] = SharedSpaceError
) -> Any:
    """The JSON value in a regular file of at most ``limit`` bytes; any failure is one ``error``."""
    return loads_json(read_bytes(path, limit, error), path, error)


def read_safetensors(
    path: Path, header_limit: int, error: type[SharedSpaceError] = SharedSpaceError
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file: a regular file whose header is at most
    ``header_limit`` bytes (checked before the library reads it), read from the file just
    checked, not whatever the path names by then; any failure is ``error`` naming ``path``."""
    path = Path(path)
    if not os.path.lexists(path):
        raise error(f"{path}: no such file")
    with open_regular(path, sys.maxsize, error) as file:
        size = int.from_bytes(file.read(8), "little")  # safetensors: header length, then header
        if size > header_limit:
            raise error(
                f"{path}: a header of {size:,} bytes, more than the {header_limit:,} expected"
            )
        opened = f"/proc/self/fd/{file.fileno()}" if os.path.isdir("/proc/self/fd") else path
        try:
            with safe_open(opened, framework="pt", device="cpu") as f:
                metadata = f.metadata() or {}
                tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (not a dict)
        except (SafetensorError, OSError, ValueError) as err:
            raise error(f"{path}: not a readable safetensors file ({err})") from None
    return tensors, metadata


def read_tagged_safetensors(
    path: Path, header_limit: int, tag: str, error: type[SharedSpaceError], other: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a safetensors file sharedspace wrote: its metadata's ``format`` is
    ``tag`` (else ``error`` saying ``other``: what the file is not, how to get one) and every
    other value is JSON, returned parsed (``read_safetensors`` for the rest)."""
    tensors, metadata = read_safetensors(path, header_limit, error)
    if metadata.get("format") != tag:
        raise error(f"{path}: no sharedspace metadata (format {tag!r}); {other}")
    return tensors, {
        key: loads_json(value, f"{path}: metadata {key!r}", error)
        for key, value in metadata.items()
        if key != "format"
    }
