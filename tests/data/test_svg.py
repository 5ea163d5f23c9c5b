"""The cache of drawn SVG pictures: a second load reads what the first drew, any change to a
job draws again, and a damaged or foreign cache file is redrawn, never trusted."""

import numpy as np
import pytest

from sharedspace.data import svg
from sharedspace.data.locate import CACHE_ENV_VAR
from sharedspace.data.svg import SvgJob, render_all


class Drawer:
    """A render function that counts its calls: job bytes → a picture of that grey, or a
    reason for the jobs whose bytes say "blank"."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, job: SvgJob) -> np.ndarray | str:
        self.calls += 1
        if job.data == b"blank":
            return "draws nothing"
        return np.full((3, 4, 4), len(job.data) * 10 + job.size % 7, np.uint8)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    return tmp_path / "svg"


def jobs(*data: bytes, size: int = 128) -> list[SvgJob]:
    return [SvgJob(d, f"job{i}", size) for i, d in enumerate(data)]


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        x == y if isinstance(x, str) else isinstance(y, np.ndarray) and np.array_equal(x, y)
        for x, y in zip(a, b, strict=True)
    )


def test_a_second_load_reads_what_the_first_drew(cache):
    drawer = Drawer()
    first = render_all(jobs(b"a", b"blank", b"ccc"), drawer, "src")
    assert drawer.calls == 3 and first[1] == "draws nothing"
    again = render_all(jobs(b"a", b"blank", b"ccc"), drawer, "src")
    assert drawer.calls == 3 and same(again, first)
    assert len(list(cache.glob("src-*.npz"))) == 1


@pytest.mark.parametrize(
    "changed",
    [jobs(b"a", b"blank", b"cc"), jobs(b"a", b"blank", b"ccc", size=64), jobs(b"a", b"blank")],
)
def test_any_change_to_the_jobs_draws_again_and_replaces_the_old_file(cache, changed):
    drawer = Drawer()
    render_all(jobs(b"a", b"blank", b"ccc"), drawer, "src")
    drawn = render_all(changed, drawer, "src")
    assert drawer.calls == 3 + len(changed) and same(drawn, [drawer(j) for j in changed])
    assert len(list(cache.glob("src-*.npz"))) == 1


def test_a_new_render_version_or_another_drawer_draws_again(cache, monkeypatch):
    drawer = Drawer()
    render_all(jobs(b"a"), drawer, "src")
    monkeypatch.setattr(svg, "RENDER_VERSION", svg.RENDER_VERSION + 1)
    render_all(jobs(b"a"), drawer, "src")
    assert drawer.calls == 2


def test_a_damaged_cache_file_is_drawn_again(cache):
    drawer = Drawer()
    render_all(jobs(b"a", b"bb"), drawer, "src")
    (path,) = cache.glob("src-*.npz")
    path.write_bytes(path.read_bytes()[:-40])  # a zip cut short
    assert same(
        render_all(jobs(b"a", b"bb"), drawer, "src"), [drawer(j) for j in jobs(b"a", b"bb")]
    )
    path.write_bytes(b"not an npz")
    assert same(
        render_all(jobs(b"a", b"bb"), drawer, "src"), [drawer(j) for j in jobs(b"a", b"bb")]
    )
    np.savez(path.open("wb"), pictures=np.zeros((5, 3, 4, 4), np.uint8), reasons=np.array([""] * 5))
    calls = drawer.calls
    render_all(jobs(b"a", b"bb"), drawer, "src")  # the wrong count of pictures: redrawn
    assert drawer.calls == calls + 2
