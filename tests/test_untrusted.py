"""The primitives every reader of untrusted files uses: regular files only (checked on the opened
descriptor, so a FIFO cannot hang and /dev/zero cannot fill memory), a size bound, and JSON whose
failures — nesting too deep included — are one error naming the file."""

import os
import tracemalloc

import pytest

from sharedspace.errors import DataError, SharedSpaceError
from sharedspace.untrusted import inside, loads_json, read_bytes, read_json, regular_file


def test_a_regular_file_within_its_limit_is_read(tmp_path):
    (tmp_path / "a").write_bytes(b"12345")
    assert read_bytes(tmp_path / "a", limit=5) == b"12345"
    with pytest.raises(SharedSpaceError, match="5 bytes, more than the 4 expected"):
        read_bytes(tmp_path / "a", limit=4)


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder", "missing", "dangling"])
def test_anything_but_a_regular_file_is_refused_before_reading(tmp_path, kind):
    path = tmp_path / "data.txt"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block without O_NONBLOCK
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")  # endless: read() would fill memory
    elif kind == "folder":
        path.mkdir()
    elif kind == "dangling":
        path.symlink_to(tmp_path / "nowhere")
    with pytest.raises(DataError, match=f"{path}: (not a regular file|cannot open)"):
        read_bytes(path, limit=1 << 30, error=DataError)
    assert not regular_file(path)


def test_a_link_to_a_regular_file_is_a_regular_file_but_may_leave_the_folder(tmp_path):
    (tmp_path / "secret").write_text("key")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").symlink_to(tmp_path / "secret")
    assert regular_file(tmp_path / "run" / "config.yaml")
    assert not regular_file(tmp_path / "run" / "config.yaml", tmp_path / "run")
    assert not inside(tmp_path / "run" / "config.yaml", tmp_path / "run")
    assert inside(tmp_path / "run" / "config.yaml", tmp_path)


@pytest.mark.parametrize(
    "text, why",
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"a": ', "not valid JSON"),
        ("9" * 5000, "not valid JSON"),  # past Python's int digit limit
        (b'["\xff"]', "not valid JSON"),  # not UTF-8
    ],
)
def test_bad_json_is_one_error_naming_the_file(tmp_path, text, why):
    with pytest.raises(SharedSpaceError, match=f"run.json: {why}"):
        loads_json(text, "run.json")
    (tmp_path / "run.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SharedSpaceError, match=why):
        read_json(tmp_path / "run.json")


def test_a_small_file_costs_its_size_not_its_limit(tmp_path):
    """Reading asks for what ``fstat`` reports, not the limit (Python allocates a read's whole
    request up front: 1 GiB for a 3-byte file, were the limit asked for)."""
    path = tmp_path / "small.txt"
    path.write_bytes(b"abc")
    tracemalloc.start()
    try:
        assert read_bytes(path, 1 << 30, DataError) == b"abc"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_folders_own_files_are_read_never_through_a_link(tmp_path):
    (tmp_path / "secret").write_text("key")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").symlink_to(tmp_path / "secret")
    (tmp_path / "run" / "own.yaml").write_text("name: x")
    assert read_bytes(tmp_path / "run" / "config.yaml", 10) == b"key"  # data may be linked
    with pytest.raises(SharedSpaceError, match="not a regular file but a link"):
        read_bytes(tmp_path / "run" / "config.yaml", 10, follow_links=False)
    assert not regular_file(tmp_path / "run" / "config.yaml", follow_links=False)
    assert read_bytes(tmp_path / "run" / "own.yaml", 10, follow_links=False) == b"name: x"
