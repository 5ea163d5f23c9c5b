"""SVG pictures drawn by ``rsvg-convert`` (Debian ``librsvg2-bin``), for the captioning sources
whose pictures are SVG: Tux Paint's SVG stamps, openclipart's drawings and KTuberling's boards.

The SVG is given on stdin with its size bounded, so it can reach no other file (an ``xlink:href``
to a file beside it resolves to nothing). A stylesheet (``rsvg-convert -s``) can hide parts of a
drawing: KTuberling draws one object of a board that way. Many drawings are rendered by one
thread per CPU core (each thread waits on its own ``rsvg-convert`` process).
"""

import io
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image

from sharedspace.errors import DataError

RSVG = "rsvg-convert"
SVG_RENDER_SIZE = 128  # pixels of the longer side: 4× IMAGE_SIZE, then Lanczos-downsampled
SVG_TIMEOUT_S = 60
R = TypeVar("R")


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


def render_all(jobs: Iterable[SvgJob], render: Callable[[SvgJob], R] = render_svg) -> list[R]:
    """``render`` (``render_svg`` or a wrapper of it) of every job, in order, one thread per CPU
    core."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(render, jobs))
