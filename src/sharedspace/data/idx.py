"""Read IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Header: two zero bytes, a dtype code, the number of dimensions, then each dimension as a big-endian
uint32; the data follow, big-endian, row-major. Every field is checked against the file's length so
a truncated or foreign file is a DataError that names it, never a silently short array.
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from sharedspace.data.archives import MAX_INFLATION
from sharedspace.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path, magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gzipped or raw (told apart by the gzip magic bytes, not the name).

    ``magic`` (e.g. 0x00000803 for uint8 images, 0x00000801 for uint8 labels) pins the dtype
    and number of dimensions. Returns a writable array in native byte order. A gzipped file is
    inflated only as far as its header says it holds (plus one byte, to catch trailing data), so
    a few MB that would inflate to GBs cost no more memory than the array they claim to be.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == GZIP_MAGIC
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            raw = f.read(4)
            ndim = raw[3] if len(raw) == 4 else 0
            raw += f.read(4 * ndim)
            dims, dtype, header = _header(path, raw, magic)
            expected = header + math.prod(dims) * dtype.itemsize
            says = f"{path}: IDX header says {dims} {dtype} = {expected} bytes"
            size = path.stat().st_size
            if gzipped and expected > MAX_INFLATION * size:
                raise DataError(
                    f"{says}, more than {size} gzipped bytes can hold (limit {MAX_INFLATION}×)"
                )
            if not gzipped and expected != size:
                truncated = " (truncated)" if size < expected else ""
                raise DataError(f"{says}, file has {size}{truncated}")
            raw += f.read(expected - header + 1)  # one more: a longer file is an error too
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    if len(raw) != expected:
        inflated = f"{len(raw)} (truncated)" if len(raw) < expected else "more"
        raise DataError(f"{says}, it inflates to {inflated}")
    try:
        array = np.frombuffer(raw, dtype, offset=header).reshape(dims)
    except ValueError as e:  # e.g. (0, 2**31, 2**31): no bytes, yet too big for numpy
        raise DataError(f"{path}: IDX dimensions {dims} are impossible ({e})") from e
    return array.astype(dtype.newbyteorder("="))


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
