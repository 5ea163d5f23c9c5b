"""GNU gettext .mo catalogs and Debian packages written byte for byte, for the gettext tests.

A .mo file (GNU gettext manual, "The Format of GNU MO Files"): little-endian uint32 magic
0x950412de, revision 0, the number of strings N, the offsets of the original and translation
tables, a hash table's size and offset (0: none); each table holds N (length, offset) pairs of
NUL-terminated strings, originals sorted. A plural entry is ``"singular\\0plural"`` →
``"form0\\0form1"``; a context entry is ``"context\\x04msgid"``; the entry with the empty msgid is
the header that declares the charset.
"""

import struct
import subprocess
from pathlib import Path

MAGIC = 0x950412DE
HEADER = "Content-Type: text/plain; charset={charset}\nPlural-Forms: nplurals=2; plural=(n != 1);\n"


def mo_bytes(
    messages: dict[str, str], charset: str = "UTF-8", encoding: str | None = None
) -> bytes:
    """A .mo catalog of ``messages`` (msgid → msgstr) whose header declares ``charset`` and whose
    strings are encoded in ``encoding`` (default: the charset; another one mislabels it)."""
    entries = {"": HEADER.format(charset=charset), **messages}
    codec = encoding or charset
    keys = sorted(entries, key=lambda k: k.encode(codec))
    ids = [k.encode(codec) for k in keys]
    strs = [entries[k].encode(codec) for k in keys]
    n = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + 8 * n
    data_at = translations_at + 8 * n
    blob, tables = b"", {"ids": [], "strs": []}
    for name, strings in (("ids", ids), ("strs", strs)):
        for s in strings:
            tables[name].append((len(s), data_at + len(blob)))
            blob += s + b"\0"
    header = struct.pack("<7I", MAGIC, 0, n, originals_at, translations_at, 0, 0)
    table = b"".join(struct.pack("<2I", *pair) for pair in tables["ids"] + tables["strs"])
    return header + table + blob


def write_catalog(
    root: Path, package: str, language: str, domain: str, messages: dict[str, str], **kwargs
) -> Path:
    """``root/<package>/<language>/<domain>.mo``, the layout ``data download gettext`` writes."""
    path = root / package / language / f"{domain}.mo"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mo_bytes(messages, **kwargs))
    return path


def build_deb(folder: Path, package: str, version: str, files: dict[str, bytes | str]) -> Path:
    """A real .deb (``dpkg-deb --build``) holding ``files`` (path → bytes, or str: a symlink's
    target) and a control file naming ``package`` and ``version``."""
    tree = folder / f"{package}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: test catalogs\n"
    )
    for name, content in files.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.symlink_to(content)
        else:
            path.write_bytes(content)
    deb = folder / f"{package}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb
