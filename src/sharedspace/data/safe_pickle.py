"""Unpickle data files without letting them run code or exhaust memory.

A pickle names functions to call while loading (``os.system`` as easily as numpy's array
constructor), so a plain ``pickle.load`` of a downloaded file runs whatever it says. This unpickler
resolves only the few names numpy arrays are rebuilt from and refuses every other one; dicts,
lists, numbers and strings need no names at all.

It builds on the pure-Python unpickler: the C one grows its memo table to the largest index a
file names, so ten corrupt bytes can ask for gigabytes (found by the fuzz tests). For data files,
a few big strings and short lists, the two are equally fast.
"""

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from sharedspace.errors import DataError

try:  # numpy >= 2 moved the array internals to numpy._core
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer


# Stands for numpy.ndarray, which a pickle could otherwise call with a huge shape.
NDARRAY = object()


def _reconstruct_empty(subtype: object, shape: object, dtype: object) -> np.ndarray:
    """numpy's ``_reconstruct`` for the one call ``ndarray.__reduce__`` makes: an empty array
    that ``__setstate__`` then fills. Any other shape would allocate memory the file never holds."""
    if subtype is not NDARRAY or shape != (0,):
        raise pickle.UnpicklingError(f"unexpected array construction {subtype!r}, {shape!r}")
    return _reconstruct(np.ndarray, (0,), dtype)


ALLOWED: dict[tuple[str, str], Any] = {
    # how numpy arrays pickle: old files name numpy.core, numpy >= 2 writes numpy._core
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_empty,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_empty,
    # protocol 5 pickles arrays as a buffer plus _frombuffer(buffer, dtype, shape, order)
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): np.dtype,
    # protocol 2 written by Python 3 stores bytes as _codecs.encode(text, "latin1")
    ("_codecs", "encode"): codecs.encode,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a function or class outside ``ALLOWED``."""


class RestrictedUnpickler(pickle._Unpickler):
    """An Unpickler that resolves only the names in ``ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"{module}.{name}") from None


def load_pickle(path: Path) -> Any:
    """Load a data pickle written by Python 2 or 3; anything unsafe or malformed is a DataError.

    Python 2 strings come back as bytes (``encoding="bytes"``), as in the CIFAR files.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    try:
        return RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except UnsafePickleError as e:
        raise DataError(
            f"{path}: refused to load {e}: a data pickle may only hold numpy arrays, lists, "
            "dicts, numbers and strings (unpickling anything else can run code)"
        ) from e
    except Exception as e:  # a malformed pickle raises almost any exception type
        raise DataError(f"{path}: not a readable data pickle ({type(e).__name__}: {e})") from e
