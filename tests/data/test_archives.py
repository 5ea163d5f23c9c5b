import gzip
import io
import shutil
import tarfile
import zipfile

import pytest

from sharedspace.data.archives import extract
from sharedspace.errors import DataError


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_tar_and_zip_unpack_into_destination(tmp_path):
    tar = make_tar(tmp_path / "a.tar.gz", [file_member("./folder/sub/a.txt", b"hello")])
    extract(tar, tmp_path / "out")
    assert (tmp_path / "out" / "folder" / "sub" / "a.txt").read_bytes() == b"hello"
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        zf.writestr("wikitext-2/wiki.train.tokens", "text")
    extract(tmp_path / "b.zip", tmp_path / "out")
    assert (tmp_path / "out" / "wikitext-2" / "wiki.train.tokens").read_text() == "text"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["folder", "wikitext-2"]


@pytest.mark.parametrize("name", ["../evil.txt", "folder/../../evil.txt", "/tmp/evil.txt"])
def test_tar_member_escaping_destination_is_refused(tmp_path, name):
    tar = make_tar(tmp_path / "a.tar.gz", [file_member(name)])
    with pytest.raises(DataError, match=r"outside the folder; refused"):
        extract(tar, tmp_path / "out" / "deep")
    assert not (tmp_path / "out" / "evil.txt").exists()
    assert list((tmp_path / "out" / "deep").iterdir()) == []  # staging folder cleaned up


def test_tar_symlink_member_is_refused(tmp_path):
    link = tarfile.TarInfo("folder/passwd")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    tar = make_tar(tmp_path / "a.tar.gz", [(link, None)])
    with pytest.raises(DataError, match=r"link or device; refused"):
        extract(tar, tmp_path / "out")
    assert not (tmp_path / "out" / "folder").exists()


def test_zip_member_escaping_destination_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(DataError, match=r"evil\.txt"):
        extract(tmp_path / "b.zip", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_corrupt_archive_is_a_data_error(tmp_path):
    (tmp_path / "c.tar.gz").write_bytes(b"\x1f\x8b\x08 not really gzip")
    with pytest.raises(DataError, match=r"c\.tar\.gz: cannot unpack"):
        extract(tmp_path / "c.tar.gz", tmp_path / "out")


def test_member_declaring_more_than_the_archive_can_hold_is_refused(tmp_path):
    """A header claiming 1 GB in an archive of a few hundred bytes: refused before writing."""
    info = tarfile.TarInfo("folder/huge")
    info.size = 10**9
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(info.tobuf() + bytes(4096)))
    with pytest.raises(DataError, match=r"declare 1000000000 bytes, more than a \d+-byte archive"):
        extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_larger_than_the_free_disk_is_refused_before_writing(tmp_path, monkeypatch, kind):
    data = bytes(1_000_000)  # packs into a few kB, as a real bomb's zeros do
    if kind == "tar":
        archive = make_tar(tmp_path / "zeros.tar.gz", [file_member("folder/zeros", data)])
    else:
        archive = tmp_path / "zeros.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("folder/zeros", data)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=100_000))
    with pytest.raises(DataError, match=r"declare 1000000 bytes, more than the 100000 bytes free"):
        extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
