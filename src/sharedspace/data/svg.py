"""SVG pictures drawn by ``rsvg-convert`` (Debian ``librsvg2-bin``), for the captioning sources
whose pictures are SVG: Tux Paint's SVG stamps, openclipart's drawings and KTuberling's boards.

The SVG is given on stdin with its size bounded, so it can reach no other file (an ``xlink:href``
to a file beside it resolves to nothing). A stylesheet (``rsvg-convert -s``) can hide parts of a
drawing: KTuberling draws one object of a board that way. Many drawings are rendered by one
thread per CPU core (each thread waits on its own ``rsvg-convert`` process), and what they give
is kept in the cache folder (``locate.cache_folder``), one file per source, keyed by every SVG's
bytes, size and stylesheet, the renderer's version and ``RENDER_VERSION``: the next process reads
the thousands of pictures in a second instead of drawing them for minutes.
"""

import functools
import hashlib
import io
import os
import shutil
import subprocess
import warnings
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sharedspace.data.locate import cache_folder
from sharedspace.errors import DataError
from sharedspace.files import atomic_write

RSVG = "rsvg-convert"
SVG_RENDER_SIZE = 128  # pixels of the longer side: 4× IMAGE_SIZE, then Lanczos-downsampled
SVG_TIMEOUT_S = 60
RENDER_VERSION = 1  # bump when the same SVG would give other pixels (sizes, squaring, filters)
Drawn = np.ndarray | str  # a (3, S, S) or RGBA (4, S, S) uint8 picture, or why the job gives none


@dataclass(frozen=True)
class SvgJob:
    """One drawing to render: the SVG's bytes, where they came from (for errors), the longer
    side in pixels, and an optional stylesheet file applied on top of the SVG's own styles."""

    data: bytes
    where: str
    size: int = SVG_RENDER_SIZE
    stylesheet: Path | None = None


def require_rsvg(folder: Path, count: int, what: str) -> None:
    """A DataError naming the package when ``count`` SVG ``what`` need a missing rsvg-convert."""
    if count and shutil.which(RSVG) is None:
        raise DataError(
            f"{folder}: {count} {what} are SVG and need {RSVG}: `apt-get install -y librsvg2-bin`"
        )


def render_svg(job: SvgJob) -> Image.Image:
    """The RGBA picture ``rsvg-convert`` draws, its longer side ``job.size`` pixels; a failure or
    a timeout is a DataError naming ``job.where``."""
    size = str(job.size)
    command = [RSVG, "--keep-aspect-ratio", "--width", size, "--height", size]
    if job.stylesheet is not None:
        command += ["--stylesheet", str(job.stylesheet)]
    try:
        done = subprocess.run(
            command, input=job.data, capture_output=True, timeout=SVG_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DataError(f"{job.where}: {RSVG} took more than {SVG_TIMEOUT_S} s") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[:1]
        raise DataError(f"{job.where}: {RSVG} failed ({reason[0] if reason else done.returncode})")
    try:
        with Image.open(io.BytesIO(done.stdout), formats=["PNG"]) as image:
            return image.convert("RGBA")
    except (OSError, ValueError) as e:
        raise DataError(f"{job.where}: {RSVG} gave no readable PNG ({e})") from None


def render_all(jobs: Iterable[SvgJob], render: Callable[[SvgJob], Drawn], name: str) -> list[Drawn]:
    """``render`` (a wrapper of ``render_svg`` that squares the picture or cuts it out, or says
    why there is none) of every job, in order: read from the cache file of source ``name`` when
    it holds these very jobs, else drawn by one thread per CPU core and cached. One ``name`` per
    wrapper: a source's other cache files are removed when it writes its own."""
    jobs = list(jobs)
    if not jobs:
        return []
    key = _cache_key(jobs, render)
    folder = cache_folder() / "svg"
    path = folder / f"{name}-{key[:20]}.npz"
    cached = _read_cache(path, len(jobs))
    if cached is not None:
        return cached
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        drawn = list(pool.map(render, jobs))
    _write_cache(folder, path, name, drawn)
    return drawn


@functools.cache
def _renderer_version() -> str:
    if shutil.which(RSVG) is None:
        return "absent"
    done = subprocess.run([RSVG, "--version"], capture_output=True, timeout=30, check=False)
    return done.stdout.decode(errors="replace").strip()


def _cache_key(jobs: list[SvgJob], render: Callable) -> str:
    """sha256 of everything the pictures depend on."""
    drawer = getattr(render, "__qualname__", type(render).__qualname__)  # a function or not
    digest = hashlib.sha256(
        f"{RENDER_VERSION}|{_renderer_version()}|{render.__module__}.{drawer}".encode()
    )
    for job in jobs:
        style = job.stylesheet.read_bytes() if job.stylesheet is not None else b""
        for part in (job.data, str(job.size).encode(), style):
            digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _read_cache(path: Path, count: int) -> list[Drawn] | None:
    """The cached results, or None when the file is absent or not what this module writes (a
    cache is redrawn, never trusted: no pickles, shapes and types checked)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            pictures, reasons = stored["pictures"], stored["reasons"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if (
        pictures.dtype != np.uint8
        or pictures.ndim != 4
        or pictures.shape[0] != count
        or pictures.shape[1] not in (3, 4)
        or reasons.dtype.kind != "U"
        or reasons.shape != (count,)
    ):
        return None
    return [str(r) if r else p for p, r in zip(pictures, reasons, strict=True)]


def _write_cache(folder: Path, path: Path, name: str, drawn: list[Drawn]) -> None:
    """Keep ``drawn`` as ``path`` (pictures stacked, an empty reason for each picture), the
    source's older cache files removed; a cache that cannot be written is a warning, not an
    error."""
    shapes = {d.shape for d in drawn if not isinstance(d, str)}
    if len(shapes) > 1:
        return  # pictures of several sizes: nothing to stack (no source draws so)
    (shape,) = shapes or {(3, 1, 1)}
    pictures = np.stack([np.zeros(shape, np.uint8) if isinstance(d, str) else d for d in drawn])
    reasons = np.array([d if isinstance(d, str) else "" for d in drawn], dtype=str)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, pictures=pictures, reasons=reasons))
        for old in folder.glob(f"{name}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as e:
        warnings.warn(
            f"{folder}: cannot keep the drawn pictures ({e}); drawn again next time", stacklevel=3
        )
