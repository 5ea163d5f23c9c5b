"""Tables: readable Markdown, exact CSV, and never a silent overwrite."""

import math
import os
from pathlib import Path

import numpy as np
import pytest

from sharedspace.errors import SharedSpaceError
from sharedspace.tables import MISSING, read_table_csv, write_table

COLUMNS = ["model", "accuracy", "mse_per_image", "steps", "smoke"]
ROWS = [
    {"model": "sus", "accuracy": 0.912345678, "mse_per_image": 77.0912345, "steps": 1000},
    {
        "model": "none|ablation",
        "accuracy": 1 / 3,
        "mse_per_image": None,
        "steps": 20,
        "smoke": True,
    },
    {"model": "diverged", "accuracy": float("nan"), "mse_per_image": 1234567.891, "steps": 0},
]


def test_csv_round_trips_at_full_precision(tmp_path: Path) -> None:
    _, csv_path = write_table(ROWS, COLUMNS, tmp_path / "results")
    back = read_table_csv(csv_path)
    assert len(back) == len(ROWS)
    for written, read in zip(ROWS, back, strict=True):
        assert list(read) == COLUMNS
        for column in COLUMNS:
            expected = written.get(column)
            if isinstance(expected, float) and math.isnan(expected):
                assert math.isnan(read[column])
            else:
                assert read[column] == expected and type(read[column]) is type(expected)


def test_markdown_header_separator_and_formatting(tmp_path: Path) -> None:
    md_path, _ = write_table(ROWS, COLUMNS, tmp_path / "results")
    lines = md_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "| model | accuracy | mse_per_image | steps | smoke |"
    assert lines[1] == "| --- | ---: | ---: | ---: | --- |"
    assert lines[2] == f"| sus | 0.9123 | 77.09 | 1000 | {MISSING} |"
    assert lines[3] == rf"| none\|ablation | 0.3333 | {MISSING} | 20 | True |"
    assert lines[4] == f"| diverged | nan | 1.235e+06 | 0 | {MISSING} |"
    assert len(lines) == 2 + len(ROWS)


def test_numpy_scalars_and_extra_keys(tmp_path: Path) -> None:
    rows = [{"model": "a", "accuracy": np.float32(0.5), "steps": np.int64(7), "note": "dropped"}]
    md_path, csv_path = write_table(rows, ["model", "accuracy", "steps"], tmp_path / "t")
    assert md_path.read_text().splitlines()[2] == "| a | 0.5 | 7 |"
    assert read_table_csv(csv_path) == [{"model": "a", "accuracy": 0.5, "steps": 7}]


def test_never_overwrites_silently(tmp_path: Path) -> None:
    stem = tmp_path / "results"
    for existing, other in [("results.md", "results.csv"), ("results.csv", "results.md")]:
        write_table(ROWS, COLUMNS, stem, overwrite=True)
        (tmp_path / other).unlink()
        with pytest.raises(FileExistsError, match=existing):
            write_table(ROWS[:1], COLUMNS, stem)
        assert not (tmp_path / other).exists()  # nothing written when refusing
    md_path, csv_path = write_table(ROWS[:1], COLUMNS, stem, overwrite=True)
    assert len(read_table_csv(csv_path)) == 1
    assert len(md_path.read_text().splitlines()) == 3


def test_dotted_stem_keeps_its_name(tmp_path: Path) -> None:
    md_path, csv_path = write_table(ROWS, COLUMNS, tmp_path / "sus_v1.2")
    assert (md_path.name, csv_path.name) == ("sus_v1.2.md", "sus_v1.2.csv")


def test_empty_rows_and_no_columns(tmp_path: Path) -> None:
    md_path, csv_path = write_table([], ["a", "b"], tmp_path / "empty")
    assert md_path.read_text().splitlines() == ["| a | b |", "| --- | --- |"]
    assert read_table_csv(csv_path) == []
    with pytest.raises(ValueError, match="column"):
        write_table([], [], tmp_path / "none")


def test_a_table_never_writes_through_a_link_and_reads_only_a_regular_file(tmp_path):
    """A study folder may come from elsewhere: a results.md linked to a file outside is replaced,
    not written through; a results.csv that is a FIFO is refused, not waited on."""
    outside = tmp_path / "thesis.tex"
    outside.write_text("precious")
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "results.md").symlink_to(outside)
    md, csv_path = write_table([{"a": 1}], ["a"], tmp_path / "study" / "results", overwrite=True)
    assert outside.read_text() == "precious" and not md.is_symlink()
    assert read_table_csv(csv_path) == [{"a": 1}]
    csv_path.unlink()
    os.mkfifo(csv_path)
    with pytest.raises(SharedSpaceError, match="not a regular file"):
        read_table_csv(csv_path)
