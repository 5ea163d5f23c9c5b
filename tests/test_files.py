"""Durable writes keep the user's umask (a shared run folder stays readable by the group)."""

import os
import stat

import pytest

from sharedspace.files import atomic_write, remove_interrupted_writes, sha256_file


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_write_creates_files_with_the_umask_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        digest = atomic_write(tmp_path / "f.bin", lambda f: f.write(b"data"))
    finally:
        os.umask(previous)
    path = tmp_path / "f.bin"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert digest == sha256_file(path) and path.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left


def test_a_failed_write_leaves_nothing(tmp_path):
    def fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "f.bin", fail)
    assert list(tmp_path.iterdir()) == []


def test_the_temp_files_of_killed_writes_are_found_and_only_they(tmp_path):
    def killed(f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # atomic_write cleans up; a SIGKILL would not

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "step_00000001.pt", killed)
    left = tmp_path / ".step_00000001.pt.0123456789ab.tmp"  # what a SIGKILL leaves
    left.write_bytes(b"half a checkpoint")
    keep = ["step_00000001.pt", ".hidden.tmp", "notes.0123456789ab.tmp", ".x.0123456789ab.tmpl"]
    for name in keep:
        (tmp_path / name).write_bytes(b"mine")
    assert remove_interrupted_writes(tmp_path) == [left]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    assert remove_interrupted_writes(tmp_path / "missing") == []
