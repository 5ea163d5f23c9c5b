"""download() against a real HTTP server on 127.0.0.1 serving fixture archives, Range included."""

import hashlib
import os
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sharedspace.data import DATASETS, DOWNLOADS, download
from sharedspace.data.download import Download, RemoteFile
from sharedspace.errors import ConfigError, DataError
from tests.data.data_formats import write_cifar10, write_fashion_mnist, write_wikitext
from tests.guards import guarded


class FileServer:
    """Serves ``files`` by name; honours ``Range: bytes=N-`` unless told to ignore it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.ignore_range = False
        self.cut_after: int | None = None  # send only this many bytes, then drop the connection
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[1]
                range_header = self.headers.get("Range")
                server.requests.append((self.path, range_header))
                if name not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[name], 0
                if range_header and not server.ignore_range:
                    start = int(range_header.removeprefix("bytes=").rstrip("-"))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:][: server.cut_after])

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mirror"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serve(server, monkeypatch, name: str, folder: str, files: dict[str, bytes]) -> None:
    """Put ``files`` on the server and make DOWNLOADS[name] expect exactly them."""
    server.files.update(files)
    remotes = tuple(RemoteFile(f"https://example.org/x/{n}", sha256(b)) for n, b in files.items())
    monkeypatch.setitem(DOWNLOADS, name, Download(folder, remotes))


@pytest.fixture
def cifar_archive(tmp_path) -> bytes:
    source = write_cifar10(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "src" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="cifar-10-batches-py")
    return archive.read_bytes()


def test_official_entries_are_complete():
    assert set(DOWNLOADS) == {"fashion_mnist", "cifar10", "cifar100", "wikitext2", "wikitext103"}
    for spec in DOWNLOADS.values():
        for remote in spec.files:
            assert remote.url.startswith(("http://", "https://"))
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0


def test_cifar10_archive_downloads_unpacks_and_loads(server, monkeypatch, tmp_path, cifar_archive):
    serve(server, monkeypatch, "cifar10", "cifar-10-batches-py", {"c10.tar.gz": cifar_archive})
    data_dir = tmp_path / "data"
    folder = download("cifar10", data_dir, base_url=server.url, progress=False)
    assert folder == data_dir / "cifar-10-batches-py"
    assert (data_dir / "c10.tar.gz").read_bytes() == cifar_archive
    assert not list(data_dir.glob("*.part"))
    assert server.requests == [("/mirror/c10.tar.gz", None)]
    assert DATASETS.get("cifar10").load(data_dir).train_images.shape == (20, 3, 32, 32)
    download("cifar10", data_dir, base_url=server.url, progress=False)
    assert len(server.requests) == 1  # already there with the right digest: not fetched again


def test_plain_files_go_into_the_dataset_folder(server, monkeypatch, tmp_path):
    source = write_fashion_mnist(tmp_path / "src")
    files = {p.name: p.read_bytes() for p in sorted(source.iterdir())}
    serve(server, monkeypatch, "fashion_mnist", "fashion-mnist", files)
    folder = download("fashion_mnist", tmp_path / "data", base_url=server.url, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    assert DATASETS.get("fashion_mnist").load(tmp_path / "data").test_labels.shape == (5,)


def test_zip_archive_downloads_and_loads(server, monkeypatch, tmp_path):
    source = write_wikitext(tmp_path / "src" / "wikitext-2")
    archive = tmp_path / "src" / "wt2.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.iterdir()):
            zf.write(path, f"wikitext-2/{path.name}")
    serve(server, monkeypatch, "wikitext2", "wikitext-2", {"wt2.zip": archive.read_bytes()})
    download("wikitext2", tmp_path / "data", base_url=server.url, progress=False)
    assert DATASETS.get("wikitext2").load(tmp_path / "data").validation[0] == "= Tower Building ="


def test_resumes_a_partial_download_with_a_range_request(
    server, monkeypatch, tmp_path, cifar_archive
):
    serve(server, monkeypatch, "cifar10", "cifar-10-batches-py", {"c10.tar.gz": cifar_archive})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "c10.tar.gz.part").write_bytes(cifar_archive[:1000])
    download("cifar10", data_dir, base_url=server.url, progress=False)
    assert server.requests == [("/mirror/c10.tar.gz", "bytes=1000-")]
    assert (data_dir / "c10.tar.gz").read_bytes() == cifar_archive
    assert DATASETS.get("cifar10").load(data_dir).test_images.shape[0] == 4


@pytest.mark.skipif(sys.platform != "linux", reason="FIFOs and /dev/zero")
@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_part_file_that_is_not_regular_is_refused(
    server, monkeypatch, tmp_path, cifar_archive, kind
):
    """A FIFO would hang the write and a link to /dev/zero the digest: refused before either."""
    serve(server, monkeypatch, "cifar10", "cifar-10-batches-py", {"c10.tar.gz": cifar_archive})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    part = data_dir / "c10.tar.gz.part"
    os.mkfifo(part) if kind == "fifo" else part.symlink_to("/dev/zero")
    with guarded(), pytest.raises(DataError, match=r"c10\.tar\.gz\.part: not a regular file"):
        download("cifar10", data_dir, base_url=server.url, progress=False)
    assert server.requests == []


def test_interrupted_download_keeps_part_and_resumes(server, monkeypatch, tmp_path, cifar_archive):
    serve(server, monkeypatch, "cifar10", "cifar-10-batches-py", {"c10.tar.gz": cifar_archive})
    data_dir = tmp_path / "data"
    server.cut_after = 700
    with pytest.raises(DataError, match=r"interrupted.*c10\.tar\.gz\.part is kept"):
        download("cifar10", data_dir, base_url=server.url, progress=False)
    assert (data_dir / "c10.tar.gz.part").stat().st_size == 700
    assert not (data_dir / "c10.tar.gz").exists()
    server.cut_after = None
    download("cifar10", data_dir, base_url=server.url, progress=False)
    assert server.requests[-1] == ("/mirror/c10.tar.gz", "bytes=700-")
    assert (data_dir / "c10.tar.gz").read_bytes() == cifar_archive


def test_server_ignoring_range_means_starting_over(server, monkeypatch, tmp_path, cifar_archive):
    serve(server, monkeypatch, "cifar10", "cifar-10-batches-py", {"c10.tar.gz": cifar_archive})
    server.ignore_range = True
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "c10.tar.gz.part").write_bytes(b"stale bytes from another file" * 50)
    download("cifar10", data_dir, base_url=server.url, progress=False)
    assert server.requests[0][1] is not None  # we asked to resume; the server said 200
    assert (data_dir / "c10.tar.gz").read_bytes() == cifar_archive


def test_complete_part_left_before_rename_is_finished(server, monkeypatch, tmp_path, cifar_archive):
    serve(server, monkeypatch, "cifar10", "cifar-10-batches-py", {"c10.tar.gz": cifar_archive})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "c10.tar.gz.part").write_bytes(cifar_archive)
    download("cifar10", data_dir, base_url=server.url, progress=False)  # server answers 416
    assert (data_dir / "c10.tar.gz").read_bytes() == cifar_archive


def test_corrupted_file_is_rejected_and_nothing_is_left(
    server, monkeypatch, tmp_path, cifar_archive
):
    serve(server, monkeypatch, "cifar10", "cifar-10-batches-py", {"c10.tar.gz": cifar_archive})
    corrupted = bytearray(cifar_archive)
    corrupted[100] ^= 0xFF
    server.files["c10.tar.gz"] = bytes(corrupted)
    data_dir = tmp_path / "data"
    with pytest.raises(DataError) as info:
        download("cifar10", data_dir, base_url=server.url, progress=False)
    message = str(info.value)
    assert "c10.tar.gz: sha256 mismatch" in message
    assert sha256(cifar_archive) in message and sha256(bytes(corrupted)) in message
    assert list(data_dir.iterdir()) == []  # no final file, no .part, nothing unpacked


def test_missing_file_on_server_is_a_data_error(server, monkeypatch, tmp_path):
    monkeypatch.setitem(
        DOWNLOADS, "cifar10", Download("x", (RemoteFile("https://e.org/gone.tar.gz", "0" * 64),))
    )
    with pytest.raises(DataError, match=r"gone\.tar\.gz: HTTP 404"):
        download("cifar10", tmp_path, base_url=server.url, progress=False)


def test_unknown_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"known: .*cifar10, cifar100, .*fashion_mnist"):
        download("imagenet", tmp_path)


def test_an_unreachable_server_keeps_no_part_and_says_so(tmp_path):
    # port 9 (discard) on localhost: nothing listens, the connection is refused at once
    with pytest.raises(DataError, match=r"download failed \(.*\); run again$") as info:
        download("cifar10", tmp_path, base_url="http://127.0.0.1:9/mirror", progress=False)
    assert "is kept" not in str(info.value) and not list(tmp_path.iterdir())  # no empty .part


def test_a_data_dir_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("not a folder")
    with pytest.raises(DataError, match=r"--data-dir .*f: expected a folder for the datasets"):
        download("fashion_mnist", tmp_path / "f", progress=False)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "fashion-mnist").write_text("a file where a folder goes")
    with pytest.raises(DataError, match=r"fashion-mnist: cannot make this folder"):
        download("fashion_mnist", tmp_path / "d", progress=False)
