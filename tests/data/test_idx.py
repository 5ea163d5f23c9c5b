import gzip
import tracemalloc

import numpy as np
import pytest

from sharedspace.data.idx import read_idx
from sharedspace.errors import DataError
from tests.data.data_formats import write_idx, write_zeros_idx


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_round_trip_gzipped_and_raw(tmp_path, gz, dtype):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(dtype)
    path = write_idx(tmp_path / "x-idx3-ubyte", array, gz=gz)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)
    got[0, 0, 0] = 1  # writable, so torch.from_numpy takes it without a warning


def test_gzip_is_told_by_magic_bytes_not_name(tmp_path):
    path = write_idx(tmp_path / "labels.raw", np.arange(5, dtype=np.uint8), gz=True)
    np.testing.assert_array_equal(read_idx(path, 0x00000801), np.arange(5))


def test_wrong_magic_names_both_numbers(tmp_path):
    path = write_idx(tmp_path / "labels", np.arange(5, dtype=np.uint8))
    with pytest.raises(DataError, match=r"labels.*0x00000801.*expected 0x00000803"):
        read_idx(path, 0x00000803)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "not an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05" + b"\x00" * 4, r"truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05" + b"\x00" * 6, "file has 14"),
    ],
)
def test_malformed_headers(tmp_path, raw, message):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.zeros((10, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"x.gz"):
        read_idx(path)


def test_gzip_of_garbage_is_not_idx(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"<html>not found</html>"))
    with pytest.raises(DataError, match=r"not an IDX file"):
        read_idx(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nothere.gz"):
        read_idx(tmp_path / "nothere.gz")


def test_a_gzip_bomb_is_inflated_only_as_far_as_its_header_declares(tmp_path):
    path = write_zeros_idx(tmp_path / "bomb-idx1-ubyte.gz", [10], 200 << 20)  # 200 MB of zeros
    assert path.stat().st_size < 400_000
    tracemalloc.start()
    with pytest.raises(DataError, match=r"\(10,\) uint8 = 18 bytes, it inflates to more"):
        read_idx(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 << 20  # the 200 MB never exist in memory


def test_a_header_declaring_more_than_gzip_can_hold_is_refused_before_inflating(tmp_path):
    path = write_zeros_idx(tmp_path / "big-idx1-ubyte.gz", [2_000_000_000], 1000)
    with pytest.raises(DataError, match=r"more than \d+ gzipped bytes can hold \(limit 1100×\)"):
        read_idx(path)


def test_a_gzip_body_is_inflated_into_the_array_alone(tmp_path):
    """No second copy: the bytes inflate straight into the array that is returned."""
    dims = [20_000, 28, 28]
    path = write_zeros_idx(tmp_path / "images-idx3-ubyte.gz", dims, 20_000 * 28 * 28)
    tracemalloc.start()
    try:
        array = read_idx(path, 0x00000803)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array.shape == tuple(dims) and not array.any()
    assert peak < array.nbytes + (2 << 20)  # the array, and a chunk being inflated
