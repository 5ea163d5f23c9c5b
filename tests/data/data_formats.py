"""Tiny datasets written in exactly the official formats, so every loader is tested for real.

No data is committed: each fixture writes a few examples into tmp_path, byte for byte in the
layout the real download has (IDX, Python-2-style CIFAR pickles, WikiText token files, fortunes).
"""

import gzip
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

# SVG pictures (Tux Paint stamps, openclipart, KTuberling) render with librsvg's command
NEEDS_RSVG = pytest.mark.skipif(
    shutil.which("rsvg-convert") is None, reason="needs `apt-get install -y librsvg2-bin`"
)

RNG_SEED = 0


def write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> Path:
    """An IDX file: magic (0, 0, dtype code, ndim), big-endian dims, big-endian data."""
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}
    code = codes[array.dtype.type]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_zeros_idx(path: Path, dims: list[int], inflated: int) -> Path:
    """A gzip IDX whose header declares ``dims`` (uint8) and whose body inflates to ``inflated``
    zero bytes: a few KB on disk, whatever it claims (a valid file when the two agree)."""
    header = bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        chunk = bytes(1 << 20)
        for start in range(0, inflated, len(chunk)):
            f.write(chunk[: inflated - start])
    return path


def write_fashion_mnist(folder: Path, *, gz: bool = True, n_train: int = 12, n_test: int = 5):
    rng = np.random.default_rng(RNG_SEED)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz=gz)
    return folder


def python2_pickle(obj: object) -> bytes:
    """Pickle ``obj`` as Python 2 with numpy 1.x did for the CIFAR files (protocol 2, str = bytes).

    Python 3 cannot write this itself: its protocol 2 stores bytes through ``_codecs.encode``,
    while Python 2 wrote them as plain strings and named ``numpy.core.multiarray``.
    Handles what the CIFAR files hold: dicts, lists, bytes, ints, and 2-D uint8 arrays.
    """

    def string(b: bytes) -> bytes:
        if len(b) < 256:
            return b"U" + bytes([len(b)]) + b  # SHORT_BINSTRING
        return b"T" + struct.pack("<I", len(b)) + b  # BINSTRING

    def encode(o: object) -> bytes:
        if isinstance(o, dict):
            return b"}(" + b"".join(encode(k) + encode(v) for k, v in o.items()) + b"u"
        if isinstance(o, list):
            return b"](" + b"".join(encode(v) for v in o) + b"e"
        if isinstance(o, bytes):
            return string(o)
        if isinstance(o, int):
            return b"J" + struct.pack("<i", o)  # BININT
        if isinstance(o, np.ndarray) and o.dtype == np.uint8 and o.ndim == 2:
            dtype = b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R"
            dtype += b"(K\x03" + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
            shape = encode(o.shape[0]) + encode(o.shape[1]) + b"\x86"
            return (
                b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
                + string(b"b")
                + b"\x87R(K\x01"
                + shape
                + dtype
                + b"\x89"
                + string(o.tobytes())
                + b"tb"
            )
        raise TypeError(type(o))

    return b"\x80\x02" + encode(obj) + b"."


def write_pickle(path: Path, obj: dict, *, bytes_keys: bool = True) -> Path:
    """As the real files: Python 2 pickles whose keys and strings load as bytes. With
    ``bytes_keys=False``, a Python 3 pickle with str keys (as a re-saved copy might be)."""
    if bytes_keys:
        path.write_bytes(python2_pickle(obj))
    else:
        path.write_bytes(pickle.dumps({k.decode(): v for k, v in obj.items()}, protocol=2))
    return path


def cifar_batch(rng: np.random.Generator, n: int, **labels: list[int]) -> dict:
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    batch = {b"batch_label": b"fixture batch", b"data": data, b"filenames": [b"x.png"] * n}
    batch.update({k.encode(): v for k, v in labels.items()})
    return batch


def write_cifar10(folder: Path, *, bytes_keys: bool = True, per_batch: int = 4) -> Path:
    rng = np.random.default_rng(RNG_SEED)
    folder.mkdir(parents=True, exist_ok=True)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    meta = {b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072}
    write_pickle(folder / "batches.meta", meta, bytes_keys=bytes_keys)
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        labels = [(i + k) % 10 for k in range(per_batch)]
        batch = cifar_batch(rng, per_batch, labels=labels)
        write_pickle(folder / name, batch, bytes_keys=bytes_keys)
    return folder


def write_cifar100(
    folder: Path, *, n_train: int = 7, n_test: int = 3, coarse_names: list[str] | None = None
) -> Path:
    """Fine class f (named fine<f>) belongs to superclass f // 5 (coarse<i>, or coarse_names[i])."""
    rng = np.random.default_rng(RNG_SEED)
    folder.mkdir(parents=True, exist_ok=True)
    coarse_names = coarse_names or [f"coarse{i}" for i in range(20)]
    meta = {
        b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
        b"coarse_label_names": [name.encode() for name in coarse_names],
    }
    write_pickle(folder / "meta", meta)
    for name, n in (("train", n_train), ("test", n_test)):
        fine = [(13 * k) % 100 for k in range(n)]
        batch = cifar_batch(rng, n, fine_labels=fine, coarse_labels=[f // 5 for f in fine])
        write_pickle(folder / name, batch)
    return folder


def write_cifar10_binary(python_folder: Path, folder: Path) -> Path:
    """``cifar-10-batches-bin`` holding the images of the python-version fixture in
    ``python_folder``: records of 1 label byte then 3072 image bytes, names one per line."""
    batches = {f"data_batch_{i}": f"data_batch_{i}.bin" for i in range(1, 6)}
    batches["test_batch"] = "test_batch.bin"
    names = {"batches.meta.txt": b"label_names"}
    return _cifar_binary(python_folder, "batches.meta", folder, batches, names, [b"labels"])


def write_cifar100_binary(python_folder: Path, folder: Path) -> Path:
    """``cifar-100-binary``: records of the coarse label byte, the fine one, then the image."""
    names = {f"{k}_label_names.txt": f"{k}_label_names".encode() for k in ("coarse", "fine")}
    batches = {"train": "train.bin", "test": "test.bin"}
    labels = [b"coarse_labels", b"fine_labels"]
    return _cifar_binary(python_folder, "meta", folder, batches, names, labels)


def _cifar_binary(
    python_folder: Path,
    meta: str,
    folder: Path,
    batches: dict[str, str],
    names: dict[str, bytes],
    labels: list[bytes],
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    meta_dict = pickle.loads((python_folder / meta).read_bytes(), encoding="bytes")
    for file, key in names.items():
        text = "\n".join(n.decode() for n in meta_dict[key]) + "\n\n"  # the real files end so
        (folder / file).write_text(text)
    for source, target in batches.items():
        batch = pickle.loads((python_folder / source).read_bytes(), encoding="bytes")
        columns = [np.asarray(batch[key], np.uint8)[:, None] for key in labels]
        (folder / target).write_bytes(np.hstack([*columns, batch[b"data"]]).tobytes())
    return folder


WIKITEXT = {
    "train": " \n = Valkyria Chronicles = \n \n The game 's <unk> began in 2010 . \n \n"
    " It met with positive sales in Japan , and was praised . \n",
    "valid": " \n = Tower Building = \n \n The tower is 1 @,@ 000 feet tall . \n",
    "test": " \n = Robert Boulter = \n \n Robert Boulter is an English actor . \n \n",
}


def write_wikitext(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, text in WIKITEXT.items():
        (folder / f"wiki.{split}.tokens").write_text(text, encoding="utf-8")
    return folder


def write_fortunes(folder: Path, n_per_file: int = 15) -> Path:
    """Two corpora with .dat indexes and .u8 links, and an off/ folder that must be skipped."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("beta", "alpha"):
        entries = [f"{name} fortune {i}\n\t\t-- Someone" for i in range(n_per_file)]
        (folder / name).write_text("\n%\n".join(entries) + "\n%\n", encoding="utf-8")
        (folder / f"{name}.dat").write_bytes(b"\x00\x00\x00\x02\xff\xfe binary index")
        (folder / f"{name}.u8").symlink_to(name)
    (folder / "off").mkdir()
    (folder / "off" / "rude").write_text("offensive fortune\n%\n", encoding="utf-8")
    (folder / "off" / "rude.dat").write_bytes(b"\x00\x01")
    return folder
