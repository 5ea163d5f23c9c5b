"""The restricted unpickler: genuine numeric arrays load, and no file, however hostile, runs code,
crashes the process or builds more than its limits allow."""

import codecs
import contextlib
import pickle
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sharedspace.data.safe_pickle import MIN_OBJECTS, load_pickle
from sharedspace.errors import DataError

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Call:
    """Pickles as ``func(*args)``, then BUILD ``state``: forges what a hostile file would hold.
    Objects pickled twice are written once and fetched from the memo after that."""

    def __init__(self, func, args, state=None):
        self.reduced = (func, args) if state is None else (func, args, state)

    def __reduce__(self):
        return self.reduced


def array_call(shape, dtype, raw) -> Call:
    """How numpy pickles an array below protocol 5: an empty array, then BUILD its state."""
    return Call(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype, False, raw))


def codec_chain(depth: int, codec: str) -> bytes:
    """``codecs.encode`` nested ``depth`` times: hex doubles its input at each level."""
    value: object = b"ab"
    for _ in range(depth):
        value = Call(codecs.encode, (value, codec))
    return pickle.dumps(value, protocol=2)


def rebuilt_array(size: int, times: int) -> bytes:
    """One ``size``-byte string in the memo copied into ``times`` arrays."""
    raw = bytes(size)
    return pickle.dumps([array_call((size,), np.dtype("u1"), raw) for _ in range(times)], 4)


def reencoded_text(size: int, times: int) -> bytes:
    """One text in the memo encoded ``times`` times: a new bytes object each time."""
    text = "x" * size
    return pickle.dumps([Call(codecs.encode, (text, "latin1")) for _ in range(times)], 4)


def object_flood(n: int) -> bytes:
    """MARK, n × EMPTY_SET (1 byte each, 216 bytes built), LIST, STOP."""
    return b"\x80\x04(" + b"\x8f" * n + b"l."


def object_array(n: int, items: int) -> bytes:
    """An object array claiming ``n`` items with ``items`` given: numpy's __setstate__ crashes
    the process on this (a segmentation fault) unless object dtypes are refused first."""
    return pickle.dumps(array_call((n,), np.dtype("O"), [0] * items), 2)


SOUP = [
    b"(", b"]", b"}", b"\x8f", b")", b"2", b"h\x00", b"\x94", b"e", b"u", b"t", b"l", b"\x90",
    b"R", b"b", b"\x81", b"K\x00", b"K\x05", b"\x85", b"\x86", b"N", b"\x88",
    b"\x8c\x01b", b"\x8c\x06latin1", b"\x8c\x03hex", b"\x8c\x02u1", b"\x8c\x01O", b"\x8c\x01C",
    b"C\x10" + bytes(16), b"\x8c\x05numpy\x8c\x05dtype\x93", b"\x8c\x05numpy\x8c\x07ndarray\x93",
    b"\x8c\x07_codecs\x8c\x06encode\x93",
    b"\x8c\x16numpy._core.multiarray\x8c\x0c_reconstruct\x93",
    b"\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93",
]  # fmt: skip
opcode_soup = st.lists(st.sampled_from(SOUP), max_size=200).map(
    lambda chunks: b"\x80\x04" + b"".join(chunks) + b"."
)
# Each would build far more than the limit allows, were nothing counted.
bombs = st.one_of(
    st.builds(codec_chain, st.integers(26, 40), st.just("hex")),
    st.builds(rebuilt_array, st.integers(50_000, 100_000), st.integers(2_000, 20_000)),
    st.builds(reencoded_text, st.integers(50_000, 100_000), st.integers(2_000, 20_000)),
    st.builds(object_flood, st.integers(100_000, 400_000)),
    st.builds(object_array, st.integers(10**6, 10**8), st.integers(0, 3)),
    opcode_soup,
)


@PROPERTY
@given(raw=bombs, bytes_per_object=st.sampled_from([1, 192]))
def test_no_pickle_builds_more_than_its_limit(tmp_path, raw, bytes_per_object):
    """Peak memory while loading stays within a fixed multiple of the file's size and object
    limit: the file's bytes, its strings (≤ 4 bytes a character), twice its size in built bytes,
    and a few hundred bytes per object."""
    path = tmp_path / "bomb"
    path.write_bytes(raw)
    max_objects = MIN_OBJECTS + len(raw) // bytes_per_object
    tracemalloc.start()
    try:
        with contextlib.suppress(DataError):
            load_pickle(path, bytes_per_object=bytes_per_object)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 8 * len(raw) + 256 * max_objects + 2**20


@PROPERTY
@given(
    array=hnp.arrays(
        hnp.scalar_dtypes().filter(lambda d: d.kind in "biufc"),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    ),
    protocol=st.integers(2, 5),
    fortran=st.booleans(),
)
def test_numeric_arrays_load_as_pickle_loads_them(tmp_path, array, protocol, fortran):
    array = np.asfortranarray(array) if fortran else array
    path = tmp_path / "array"
    path.write_bytes(pickle.dumps({"a": array, "b": [1, 2.5, "x", b"y"]}, protocol=protocol))
    loaded, expected = load_pickle(path, bytes_per_object=192), pickle.loads(path.read_bytes())
    assert loaded["a"].dtype == expected["a"].dtype and loaded["b"] == expected["b"]
    np.testing.assert_array_equal(loaded["a"], array)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (codec_chain(40, "hex"), r"unexpected _codecs\.encode\(…, 'hex'\)"),
        (rebuilt_array(100_000, 20_000), r"builds more than \d+ bytes"),
        (reencoded_text(100_000, 20_000), r"builds more than \d+ bytes"),
        (object_array(10**8, 1), r"dtype\('O'\) is not a plain numeric dtype"),
        (pickle.dumps(np.zeros(2, [("a", "u1"), ("b", "f4")])), r"not a plain numeric dtype"),
        (pickle.dumps(array_call((10**6,), np.dtype("u1"), b"ab")), r"2 bytes for an array"),
        (pickle.dumps(array_call([[0] * 4] * 4, np.dtype("u1"), b"")), r"array shape \[\["),
    ],
)
def test_bombs_are_refused_with_the_limit_they_break(tmp_path, raw, message):
    path = tmp_path / "bomb"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=message) as info:
        load_pickle(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_flood_of_tiny_objects_stops_at_the_layouts_limit(tmp_path):
    path = tmp_path / "flood"
    path.write_bytes(object_flood(50_000))
    assert len(load_pickle(path)) == 50_000  # a generic pickle may hold one object per byte
    with pytest.raises(DataError, match=rf"{len(path.read_bytes())}-byte pickle builds more than"):
        load_pickle(path, bytes_per_object=192)  # a CIFAR batch spends 192 bytes per object
