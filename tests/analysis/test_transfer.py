"""Transfer records read back from a generated metrics.jsonl, and drawn."""

import json
import os
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from sharedspace.analysis.transfer import read_transfer, transfer_figure
from sharedspace.errors import SharedSpaceError
from tests.guards import guarded

NAMES = ["reconstruct", "classify", "lm"]  # the order the records below first name them


def value(kind: str, step: int, i: int, j: int) -> float:
    """A distinct number for every (kind, step, source, target), so a misplaced one shows."""
    return (1 if kind == "cosine" else -1) * (step + 10 * i + j) / 1000


def write_run(run_dir: Path, steps: tuple[int, ...] = (100, 200), skip: tuple = ()) -> None:
    """Train and validation records around transfer records; ``skip``: (step, source) not logged."""
    lines = [{"step": 50, "split": "train", "task": "classify", "time": 1.0, "loss": 2.3}]
    for step in steps:
        for i, source in enumerate(NAMES):
            if (step, source) in skip:
                continue
            values = {
                f"{kind}.{target}": value(kind, step, i, j)
                for kind in ("cosine", "affinity")
                for j, target in enumerate(NAMES)
            }
            lines.append({"step": step, "split": "transfer", "task": source, "time": 2.0, **values})
        lines.append({"step": step, "split": "validation", "task": "lm", "time": 3.0, "ppl": 9.0})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_reads_every_step_source_and_target_in_place(tmp_path: Path) -> None:
    write_run(tmp_path, skip={(200, "lm")})
    names, steps, cosine, affinity = read_transfer(tmp_path)
    assert names == NAMES
    assert steps.tolist() == [100, 200]
    assert cosine.shape == affinity.shape == (2, 3, 3)
    for s, step in enumerate(steps):
        for i in range(3):
            for j in range(3):
                if (step, NAMES[i]) == (200, "lm"):
                    assert np.isnan(cosine[s, i, j]) and np.isnan(affinity[s, i, j])
                else:
                    assert cosine[s, i, j] == value("cosine", step, i, j)
                    assert affinity[s, i, j] == value("affinity", step, i, j)


def test_a_run_without_transfer_records_is_a_clear_error(tmp_path: Path) -> None:
    write_run(tmp_path, steps=())
    with pytest.raises(SharedSpaceError, match=r"metrics\.jsonl: no transfer records"):
        read_transfer(tmp_path)
    with pytest.raises(SharedSpaceError, match=r"metrics\.jsonl: no such file"):
        read_transfer(tmp_path / "elsewhere")


def test_a_broken_line_names_the_file_and_line(tmp_path: Path) -> None:
    write_run(tmp_path)
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 300, "spl\n')
    with pytest.raises(SharedSpaceError, match=r"metrics\.jsonl:10: not a JSON record"):
        read_transfer(tmp_path)


def test_figure_is_a_two_panel_png(tmp_path: Path) -> None:
    write_run(tmp_path, skip={(200, "lm")})
    names, _, cosine, affinity = read_transfer(tmp_path)
    path = tmp_path / "figures" / "transfer.png"
    transfer_figure(names, cosine, affinity, path, title="transfer")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[1] > 1.5 * image.shape[0]  # side by side
    assert image.std() > 0.05  # not blank


def test_figure_of_means_over_seeds_with_std(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cos, aff = rng.uniform(-1, 1, (3, 3)), rng.normal(0, 1e-3, (3, 3))
    path = tmp_path / "seeds.png"
    transfer_figure(NAMES, cos, aff, path, cos_std=np.full((3, 3), 0.1), aff_std=abs(aff))
    assert path.stat().st_size > 0
    with pytest.raises(ValueError, match=r"std of affinity must be \(3, 3\)"):
        transfer_figure(NAMES, cos, aff, tmp_path / "bad.png", aff_std=np.zeros(3))
    with pytest.raises(ValueError, match=r"cosine must be \(S, 3, 3\) or \(3, 3\)"):
        transfer_figure(NAMES, cos[:2], aff, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# --- a metrics.jsonl from elsewhere ----------------------------------------------------------


RECORD = "a transfer record's"


@pytest.mark.parametrize(
    ("planted", "named"),
    [
        ({"step": "100", "task": "lm", "cosine.lm": 1.0}, f"{RECORD} step is '100', not a step"),
        ({"step": True, "task": "lm"}, f"{RECORD} step is True, not a step"),
        ({"step": 100, "task": ["lm"]}, rf"step 100: {RECORD} task is \['lm'\]"),
        ({"step": 100, "task": "lm", "cosine.lm": "0.5"}, "step 100: cosine.lm is '0.5', not a"),
        ({"step": 100, "task": "lm", "affinity.lm": None}, "step 100: affinity.lm is None, not"),
    ],
)
def test_a_wrong_typed_transfer_record_names_the_file_and_field(
    tmp_path: Path, planted: dict, named: str
) -> None:
    write_run(tmp_path)
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"split": "transfer", **planted}) + "\n")
    with pytest.raises(SharedSpaceError, match=rf"metrics\.jsonl: {named}"):
        read_transfer(tmp_path)


def test_transfer_records_naming_thousands_of_tasks_are_refused_before_allocating(
    tmp_path: Path,
) -> None:
    """The arrays are steps × tasks × tasks: one 100 kB record naming 4,097 targets asked for
    2 × 134 MB; past ``CELLS`` it is an error instead."""
    many = {f"cosine.t{j}": 0.0 for j in range(4097)}
    write_run(tmp_path, steps=())
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 1, "split": "transfer", "task": "t0", **many}) + "\n")
    with guarded(extra=64 << 20), pytest.raises(SharedSpaceError, match="4,097 tasks at 1 steps"):
        read_transfer(tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "link_out", "deep"])
def test_a_hostile_log_is_one_error_without_blocking(tmp_path: Path, kind: str) -> None:
    run = tmp_path / "run"
    write_run(tmp_path / "theirs")
    run.mkdir()
    path = run / "metrics.jsonl"
    if kind == "fifo":
        os.mkfifo(path)  # opening it to read would wait for a writer forever
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")  # reading it whole would fill memory
    elif kind == "link_out":
        path.symlink_to(tmp_path / "theirs" / "metrics.jsonl")
    else:
        path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    problem = "not a regular file|a link out of its folder|not a JSON record"
    with guarded(10), pytest.raises(SharedSpaceError, match=rf"metrics\.jsonl(:1)?: ({problem})"):
        read_transfer(run)
