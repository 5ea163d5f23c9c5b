"""Unpickle data files without letting them run code, crash the process or exhaust memory.

A pickle names functions to call while loading (``os.system`` as easily as numpy's array
constructor), so a plain ``pickle.load`` of a downloaded file runs whatever it says. This unpickler
resolves only the few names plain numeric numpy arrays are rebuilt from, each wrapped to accept
only the arguments numpy itself writes; dicts, lists, numbers and strings need no names at all.

Memory: every opcode reads at least one byte of the file and builds at most one object, so the
objects are counted against a limit derived from the file's size and its expected layout. The
only way to build more bytes than the file holds is to rebuild the same bytes from the memo again
and again; the bytes and arrays the calls build are charged against ``MAX_BUILT_PER_BYTE`` × the
file's size. Either limit stops the load with a DataError naming the file and the limit.

It builds on the pure-Python unpickler: the C one grows its memo table to the largest index a
file names, so ten corrupt bytes can ask for gigabytes (found by the fuzz tests). For data files,
a few big strings and short lists, the two are equally fast.
"""

import io
import math
import pickle
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, read_bytes

try:  # numpy >= 2 moved the array internals to numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

# Python 3's protocol 2 stores an array's bytes as text, which is encoded (one copy) and then
# copied into the array (a second): a genuine file builds at most twice its size.
MAX_BUILT_PER_BYTE = 2
MIN_OBJECTS = 10_000  # however small the file: room for a meta file's few hundred names
PICKLE_LIMIT = 256 * MiB  # the largest official data pickle, CIFAR-100's train file, is 155 MB
NUMERIC_KINDS = "biufc"  # bool, signed and unsigned int, float, complex
BYTE_ORDERS = ("<", ">", "|", "=", b"<", b">", b"|", b"=")

# Stands for numpy.ndarray, which a pickle could otherwise call with a huge shape.
NDARRAY = object()


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a function or class outside ``ALLOWED``."""


class PickleLimitError(pickle.UnpicklingError):
    """The pickle builds more objects or bytes than its file's limits allow."""


def _numeric(dtype: object) -> np.dtype:
    """``dtype`` if it is a plain number type; object, structured and sub-array dtypes are refused
    (numpy's ``__setstate__`` of an object array with a short list crashes the process)."""
    if not (
        isinstance(dtype, np.dtype)
        and dtype.kind in NUMERIC_KINDS
        and dtype.names is None
        and dtype.subdtype is None
    ):
        raise pickle.UnpicklingError(f"{reprlib.repr(dtype)} is not a plain numeric dtype")
    return dtype


def _dtype(spec: object, align: object = False, copy: object = False) -> np.dtype:
    """``numpy.dtype(spec, align, copy)`` for a numeric type named by a string (the BUILD that
    follows sets its byte order)."""
    if not isinstance(spec, str | bytes) or len(spec) > 8:
        raise pickle.UnpicklingError(f"unexpected dtype {reprlib.repr(spec)}")
    try:
        dtype = np.dtype(spec.decode("ascii") if isinstance(spec, bytes) else spec)
    except (TypeError, ValueError, UnicodeDecodeError) as e:
        raise pickle.UnpicklingError(f"unexpected dtype {reprlib.repr(spec)}") from e
    return np.dtype(_numeric(dtype), copy=True)


def _reconstruct_empty(subtype: object, shape: object, typecode: object) -> np.ndarray:
    """numpy's ``_reconstruct`` for the one call ``ndarray.__reduce__`` makes: an empty array
    that BUILD then fills. Any other shape would allocate memory the file never holds."""
    if subtype is not NDARRAY or shape != (0,) or typecode not in ("b", b"b"):
        raise pickle.UnpicklingError(
            f"unexpected array construction {reprlib.repr((shape, typecode))}"
        )
    return _reconstruct(np.ndarray, (0,), "b")


def _frombuffer(buffer: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """numpy's protocol-5 ``_frombuffer``: a view of bytes the file holds, of a numeric type."""
    if not isinstance(buffer, bytes | bytearray) or order not in ("C", "F"):
        raise pickle.UnpicklingError("unexpected array buffer")
    return np.frombuffer(buffer, dtype=_numeric(dtype)).reshape(shape, order=order)


def _empty_bytes(*args: object) -> bytes:
    """``bytes()``: how Python 3's protocol 2 stores empty bytes (an empty array's data)."""
    if args:
        raise pickle.UnpicklingError("unexpected bytes(…) call")
    return b""


def _latin1(text: object, encoding: object) -> bytes:
    """``_codecs.encode(text, "latin1")``, how Python 3's protocol 2 stores bytes; any other
    codec is refused (``hex`` doubles its input: forty nested calls in 457 bytes ask for 2⁴¹)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"unexpected _codecs.encode(…, {reprlib.repr(encoding)})")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    # how numpy arrays pickle: old files name numpy.core, numpy >= 2 writes numpy._core
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_empty,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_empty,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


def _check_array_state(state: object) -> None:
    """An array's BUILD state as numpy writes it: (1, shape, dtype, fortran, raw bytes), with
    exactly as many bytes as the shape needs."""
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
        raise pickle.UnpicklingError("unexpected array state")
    _, shape, dtype, _, raw = state
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise pickle.UnpicklingError(f"unexpected array shape {reprlib.repr(shape)}")
    if not isinstance(raw, bytes | bytearray):
        raise pickle.UnpicklingError("array data is not bytes")
    if math.prod(shape) * _numeric(dtype).itemsize != len(raw):
        raise pickle.UnpicklingError(
            f"{len(raw)} bytes for an array of {reprlib.repr(shape)} {dtype}"
        )


def _check_dtype_state(state: object) -> None:
    """A numeric dtype's BUILD state as numpy writes it: only its byte order may be set."""
    if not (
        isinstance(state, tuple)
        and len(state) in (8, 9)
        and state[0] == 3
        and state[1] in BYTE_ORDERS
        and state[2:] in ((None, None, None, -1, -1, 0), (None, None, None, -1, -1, 0, None))
    ):
        raise pickle.UnpicklingError(f"unexpected dtype state {reprlib.repr(state)}")


def _nbytes(obj: object) -> int:
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    return len(obj) if isinstance(obj, bytes | bytearray) else 0


def _counted(load: Callable[["RestrictedUnpickler"], None]) -> Callable:
    def counted(self: "RestrictedUnpickler") -> None:
        self.objects += 1
        if self.objects > self.max_objects:
            raise PickleLimitError(f"builds more than {self.max_objects} objects")
        load(self)

    return counted


def _charged(load: Callable[["RestrictedUnpickler"], None]) -> Callable:
    """An opcode that calls an allowed name: what the call built is charged to the byte limit."""

    def charged(self: "RestrictedUnpickler") -> None:
        load(self)
        self.built += _nbytes(self.stack[-1])
        if self.built > self.max_bytes:
            raise PickleLimitError(f"builds more than {self.max_bytes} bytes")

    return charged


def _guarded(dispatch: dict[int, Callable], load_build: Callable) -> dict[int, Callable]:
    """The pure-Python unpickler's opcode table with our BUILD, every opcode counted and every
    call charged."""
    dispatch = {**dispatch, pickle.BUILD[0]: load_build}
    for call in (pickle.REDUCE, pickle.BUILD, pickle.INST, pickle.OBJ, pickle.NEWOBJ):
        dispatch[call[0]] = _charged(dispatch[call[0]])
    return {code: _counted(load) for code, load in dispatch.items()}


class RestrictedUnpickler(pickle._Unpickler):
    """An Unpickler that resolves only the names in ``ALLOWED`` and counts what it builds."""

    def load_build(self) -> None:
        inst, state = self.stack[-2:]
        if isinstance(inst, np.ndarray):
            _check_array_state(state)
        elif isinstance(inst, np.dtype):
            _check_dtype_state(state)
        else:
            raise pickle.UnpicklingError(f"cannot set the state of a {type(inst).__name__}")
        super().load_build()

    dispatch = _guarded(pickle._Unpickler.dispatch, load_build)

    def __init__(self, file: io.BufferedIOBase, *, max_objects: int, max_bytes: int) -> None:
        super().__init__(file, encoding="bytes")
        self.max_objects, self.max_bytes = max_objects, max_bytes
        self.objects = self.built = 0

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"{module}.{name}") from None


def load_pickle(path: Path, *, bytes_per_object: int = 1, limit: int = PICKLE_LIMIT) -> Any:
    """Load a data pickle written by Python 2 or 3; anything unsafe or malformed is a DataError,
    and so is a file that is not regular (a FIFO, a device or a link to one) or holds more than
    ``limit`` bytes.

    ``bytes_per_object``: the fewest bytes of the file the expected layout spends on each object
    (1, the default, accepts any pickle). A data file is mostly array bytes and can promise far
    more, which stops a flood of tiny objects early (a 1-byte EMPTY_SET builds a 216-byte set).
    Python 2 strings come back as bytes (``encoding="bytes"``), as in the CIFAR files.
    """
    raw = read_bytes(Path(path), limit, DataError)
    unpickler = RestrictedUnpickler(
        io.BytesIO(raw),
        max_objects=MIN_OBJECTS + len(raw) // bytes_per_object,
        max_bytes=MAX_BUILT_PER_BYTE * len(raw),
    )
    try:
        return unpickler.load()
    except UnsafePickleError as e:
        raise DataError(
            f"{path}: refused to load {e}: a data pickle may only hold numeric numpy arrays, "
            "lists, dicts, numbers and strings (unpickling anything else can run code)"
        ) from e
    except PickleLimitError as e:
        raise DataError(f"{path}: refused: the {len(raw)}-byte pickle {e}") from e
    except Exception as e:  # a malformed pickle raises almost any exception type
        raise DataError(f"{path}: not a readable data pickle ({type(e).__name__}: {e})") from e
