"""Read IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Header: two zero bytes, a dtype code, the number of dimensions, then each dimension as a big-endian
uint32; the data follow, big-endian, row-major. Every field is checked against the file's length so
a truncated or foreign file is a DataError that names it, never a silently short array.

``IdxFile`` reads and checks the header only, so a loader can compare a pair of files (images and
their labels) before inflating either body; ``read`` then inflates the body straight into the
array it returns, the one copy in memory.
"""

import gzip
import math
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import numpy as np

from sharedspace.data.archives import MAX_INFLATION
from sharedspace.errors import DataError
from sharedspace.untrusted import open_regular

GZIP_MAGIC = b"\x1f\x8b"
DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# The most bytes one file, or the array it declares, may take by default: the MNIST family's
# largest file (EMNIST by_class, 550 MB) fits; a loader that knows its dataset passes less.
IDX_LIMIT = 1 << 30
CHUNK = 1 << 18  # bytes inflated at a time: gzip builds each request as bytes before copying


class IdxFile:
    """An open IDX file whose header is read and checked against the file's size (``dims``,
    ``dtype``), its body not yet. Use it in a ``with`` block; ``read`` returns the array."""

    def __init__(self, path: Path, magic: int | None = None, limit: int = IDX_LIMIT) -> None:
        """``magic`` (e.g. 0x00000803 for uint8 images, 0x00000801 for uint8 labels) pins the
        dtype and number of dimensions; ``limit`` bounds both the file's size and the array's."""
        self.path = Path(path)
        self._file = open_regular(self.path, limit, DataError)  # no FIFO, device or /dev/zero
        self._stream = self._file
        try:
            with _reading(self.path):
                self._read_header(magic, limit)
        except BaseException:
            self.close()
            raise

    def _read_header(self, magic: int | None, limit: int) -> None:
        size = os.fstat(self._file.fileno()).st_size
        self.gzipped = self._file.read(2) == GZIP_MAGIC  # told by the magic bytes, not the name
        self._file.seek(0)
        if self.gzipped:
            self._stream = gzip.GzipFile(fileobj=self._file, mode="rb")
        raw = self._stream.read(4)
        ndim = raw[3] if len(raw) == 4 else 0
        raw += self._stream.read(4 * ndim)
        self.dims, self.dtype, self._header = _header(self.path, raw, magic)
        self.nbytes = math.prod(self.dims) * self.dtype.itemsize
        expected = self._header + self.nbytes
        self._says = f"{self.path}: IDX header says {self.dims} {self.dtype} = {expected} bytes"
        if self.gzipped and expected > MAX_INFLATION * size:
            raise DataError(
                f"{self._says}, more than {size} gzipped bytes can hold (limit {MAX_INFLATION}×)"
            )
        if not self.gzipped and expected != size:
            truncated = " (truncated)" if size < expected else ""
            raise DataError(f"{self._says}, file has {size}{truncated}")
        if self.nbytes > limit:
            raise DataError(f"{self._says}, more than the {limit:,} bytes expected")

    def read(self) -> np.ndarray:
        """The body as a writable array in native byte order, inflated straight into it; a body
        shorter or longer than the header says is a DataError."""
        try:
            array = np.empty(self.dims, self.dtype.newbyteorder("="))
        except ValueError as e:  # e.g. (0, 2**31, 2**31): no bytes, yet too big for numpy
            raise DataError(f"{self.path}: IDX dimensions {self.dims} are impossible ({e})") from e
        buffer, filled = array.reshape(-1).view(np.uint8), 0
        with _reading(self.path):
            while filled < self.nbytes and (
                got := self._stream.readinto(buffer[filled : filled + CHUNK])
            ):
                filled += got
            longer = filled == self.nbytes and self._stream.read(1)  # trailing data: an error too
        if filled != self.nbytes or longer:
            found = f"{self._header + filled} (truncated)" if filled < self.nbytes else "more"
            verb = "inflates" if self.gzipped else "reads"
            raise DataError(f"{self._says}, it {verb} to {found}")
        if self.dtype != array.dtype:  # big-endian numbers on a little-endian machine
            array.byteswap(inplace=True)
        return array

    def close(self) -> None:
        self._stream.close()
        self._file.close()

    def __enter__(self) -> "IdxFile":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_idx(path: Path, magic: int | None = None, limit: int = IDX_LIMIT) -> np.ndarray:
    """Read an IDX file, gzipped or raw (see ``IdxFile``). A gzipped file is inflated only as far
    as its header says it holds (plus one byte, to catch trailing data), so a few MB that would
    inflate to GBs cost no more memory than the array they claim to be."""
    with IdxFile(path, magic, limit) as f:
        return f.read()


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn what a damaged file or gzip stream raises into a DataError naming ``path``."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from e


def _header(path: Path, raw: bytes, magic: int | None) -> tuple[tuple[int, ...], np.dtype, int]:
    """(dims, dtype, header length) from the first bytes of an IDX file."""
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if magic is not None and found != magic:
        raise DataError(f"{path}: IDX magic number is {found:#010x}, expected {magic:#010x}")
    zeros, code, ndim = struct.unpack(">HBB", raw[:4])
    if zeros != 0 or code not in DTYPES or ndim == 0:
        raise DataError(f"{path}: not an IDX file (magic number {found:#010x})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, needs {header})")
    return struct.unpack(f">{ndim}I", raw[4:header]), DTYPES[code], header
