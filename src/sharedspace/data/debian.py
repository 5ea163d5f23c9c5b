"""Fetch files out of Debian packages without installing them: ``apt-get download`` + ``dpkg-deb``.

Installing the catalog packages would pull in hundreds of dependencies and need root; instead
the .debs are downloaded into a temp folder (``apt-get download``: no root, no dependencies) and
only the wanted members are read out of each one (``dpkg-deb --fsys-tarfile`` piped into Python's
``tarfile``, regular files only, written under names we choose, so no path in a package can
escape the folder). The result is built in a temp folder beside the target and renamed into
place, so ``<data_dir>/gettext`` is either the previous complete copy or the new complete one;
``manifest.json`` records each package's version and .deb sha256, each catalog's sha256, and the
pair counts and checksum of the data the readers build from it.

Package *names* are pinned, not versions: bookworm's mirrors keep only the current point
release, so a pinned version would stop downloading; the manifest says which versions were read.
"""

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sharedspace.data.download import FETCHERS
from sharedspace.data.gettext import (
    HELD_OUT,
    LANGUAGES,
    MO_LIMIT,
    load_gettext,
    load_gettext_heldout,
    pair_counts,
)
from sharedspace.data.parallel import pairs_checksum
from sharedspace.errors import DataError
from sharedspace.files import fsync_directory, sha256_file

# chosen by translated pairs per MB of .deb (data notes: 35 MB, about 38k en→de and 40k en→fr)
GETTEXT_PACKAGES = (
    "gcc-12-locales",
    "util-linux-locales",
    "claws-mail-i18n",
    "gnumeric-common",
    "audacity-data",
    "kile-l10n",
    "gnucash-common",
    "cinnamon-l10n",
    "vlc-l10n",
    "krita-l10n",
    "gramps",
    "e2fsprogs-l10n",
)
CATALOG_MEMBER = re.compile(rf"(?:.*/)?({'|'.join(LANGUAGES)})/LC_MESSAGES/([^/]+)\.mo")
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")  # Debian policy 5.6.1
TOOLS = {"apt-get": "apt", "dpkg-deb": "dpkg"}  # command → the Debian package that provides it


def _run(command: list[str], cwd: Path) -> str:
    """stdout of ``command``; a failure is one DataError with the tool's last error line."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("E:")]
        last = (lines or done.stderr.strip().splitlines() or ["no message"])[-1]
        hint = " (run `apt-get update` first?)" if command[0] == "apt-get" else ""
        raise DataError(f"{' '.join(command[:2])} failed: {last}{hint}")
    return done.stdout


def _extract_catalogs(deb: Path, package_dir: Path) -> list[str]:
    """Write the deb's ``*/<lang>/LC_MESSAGES/<domain>.mo`` members to
    ``package_dir/<lang>/<domain>.mo``; returns those relative paths."""
    written = []
    with subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                match = CATALOG_MEMBER.fullmatch(member.name)
                if match is None or not member.isreg() or member.size > MO_LIMIT:
                    continue
                relative = f"{match[1]}/{match[2]}.mo"
                if relative in written:
                    raise DataError(f"{deb.name}: two catalogs would be {relative}")
                target = package_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
                written.append(relative)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise DataError(f"dpkg-deb --fsys-tarfile {deb.name} failed: {stderr.strip()[-200:]}")
    return written


def _field(deb: Path, name: str) -> str:
    return _run(["dpkg-deb", "--field", str(deb), name], deb.parent).strip()


def download_gettext(data_dir: Path, packages: tuple[str, ...] = GETTEXT_PACKAGES) -> Path:
    """Fetch ``packages``' German and French catalogs into ``data_dir/gettext`` (atomically) with
    its ``manifest.json``; returns that folder."""
    for tool, provider in TOOLS.items():
        if shutil.which(tool) is None:
            raise DataError(
                f"gettext: {tool} not found; the catalogs come from Debian packages, so this "
                f"needs a Debian or Ubuntu system with {provider} installed"
            )
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir}: expected a folder for the datasets; it is a file")
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "gettext"
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".gettext-") as tmp:
        debs, built = Path(tmp) / "debs", Path(tmp) / "gettext"
        debs.mkdir()
        _run(["apt-get", "download", *packages], debs)
        manifest: dict = {"packages": []}
        for deb in sorted(debs.glob("*.deb")):
            package = _field(deb, "Package")
            if not PACKAGE_NAME.fullmatch(package):  # it names a folder: no path in it
                raise DataError(f"{deb.name}: {package[:60]!r} is not a Debian package name")
            catalogs = _extract_catalogs(deb, built / package)
            manifest["packages"].append(
                {
                    "package": package,
                    "version": _field(deb, "Version"),
                    "deb": deb.name,
                    "deb_sha256": sha256_file(deb),
                    "catalogs": {c: sha256_file(built / package / c) for c in catalogs},
                }
            )
        readers = {"gettext": load_gettext}
        if set(HELD_OUT) <= {entry["package"] for entry in manifest["packages"]}:
            readers["gettext_heldout"] = load_gettext_heldout
        manifest["pairs"] = {
            name: {"pairs": pair_counts(splits), "sha256": pairs_checksum(splits)}
            for name, splits in ((name, read(built)) for name, read in readers.items())
        }
        (built / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if target.exists():
            os.replace(target, Path(tmp) / "previous")  # removed with the temp folder
        os.replace(built, target)
        fsync_directory(data_dir)
    return target


# ``sharedspace data download gettext`` (gettext_heldout reads the same folder)
FETCHERS["gettext"] = FETCHERS["gettext_heldout"] = download_gettext
