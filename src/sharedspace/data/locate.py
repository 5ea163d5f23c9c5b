"""Find a dataset's folder on this machine, or say exactly where we looked and how to get it.

``data_dir`` is a folder holding one subfolder per dataset, as ``download`` writes them; pointing it
straight at a dataset's own folder works too. Without it we look in ``$SHAREDSPACE_DATA_DIR``, then
``~/.cache/sharedspace/data``, then the Debian package's folder where one exists.
"""

import os
from pathlib import Path

from sharedspace.data.archives import extract
from sharedspace.errors import DataError

ENV_VAR = "SHAREDSPACE_DATA_DIR"
CACHE_ENV_VAR = "SHAREDSPACE_CACHE_DIR"


def default_roots() -> list[Path]:
    """The folders searched when no data_dir is given, before any Debian location."""
    roots = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    return [*roots, Path.home() / ".cache" / "sharedspace" / "data"]


def cache_folder() -> Path:
    """Where what is derived from data is kept between runs (pictures drawn from SVG files):
    ``$SHAREDSPACE_CACHE_DIR``, else ``~/.cache/sharedspace/derived``; deleting it loses nothing."""
    root = os.environ.get(CACHE_ENV_VAR)
    return Path(root) if root else Path.home() / ".cache" / "sharedspace" / "derived"


def find_dataset(
    folder: str,
    markers: tuple[str, ...],
    data_dir: Path | None,
    *,
    how_to_get: str,
    archive: str | None = None,
    debian_root: Path | None = None,
) -> Path:
    """Return the first candidate folder that holds a file (not a folder) matching ``markers``.

    Candidates are ``root/folder`` and (for a root the user named) ``root`` itself. A root
    holding ``archive`` but not yet the unpacked folder gets it unpacked beside the archive.
    """
    user_roots = [Path(data_dir)] if data_dir is not None else default_roots()
    roots = [(root, True) for root in user_roots]
    if data_dir is None and debian_root is not None:
        roots.append((debian_root, False))
    searched: list[Path] = []
    for root, may_be_the_folder in roots:
        if archive is not None and (root / archive).is_file() and not (root / folder).is_dir():
            extract(root / archive, root)
        for candidate in [root / folder, root] if may_be_the_folder else [root / folder]:
            searched.append(candidate)
            if candidate.is_dir() and any(p.is_file() for m in markers for p in candidate.glob(m)):
                return candidate
    places = "\n".join(f"  {p}" for p in searched)
    wanted = " or ".join(markers)
    raise DataError(
        f"{folder}: no folder holding {wanted} found; searched:\n{places}\n{how_to_get}"
    )
