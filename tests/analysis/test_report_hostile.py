"""The report on run folders made by someone else: no link is followed out of them (nor into a
page meant to be shared), no file blocks or takes unbounded memory, wrong-typed and absurdly
nested JSON is a page or a one-line error, and the page's work is bounded by what it shows."""

import base64
import json
import os
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from sharedspace.analysis import report as report_module
from sharedspace.analysis.report import MAX_COLUMNS, MAX_FIGURES, MAX_PANELS, find_runs
from sharedspace.analysis.report import write_report as _write_report
from sharedspace.errors import SharedSpaceError
from sharedspace.train.runlog import LINE_LIMIT, LOG_LIMIT
from tests.analysis.test_report import PNG, Page, record, records, table, write_png, write_run
from tests.guards import guarded

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- 1234567890"


def write_report(paths: list[Path], out: Path) -> str:
    """The page, written under a guard: a reader blocked on a FIFO or filling memory from
    /dev/zero fails the test in seconds."""
    with guarded(seconds=60):
        _write_report(paths, out)
    return out.read_text(encoding="utf-8")


def leaks(page: str) -> bool:
    """Whether the secret reached the page, as text or as an embedded image."""
    return SECRET.decode() in page or base64.b64encode(PNG + SECRET).decode() in page


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the runs holding a key file (made to pass for a PNG) and a whole run."""
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "id_rsa").write_bytes(PNG + SECRET)
    (folder / "secrets.json").write_text(json.dumps({"token": SECRET.decode()}))
    write_run(folder / "their_run", {"name": SECRET.decode()}, records(0.5))
    return folder


def test_links_are_never_followed_out_of_run_folders(tmp_path: Path, outside: Path) -> None:
    exp = tmp_path / "exp"
    write_run(exp / "run", {"name": "run"}, records(0.5))
    write_png(exp / "run" / "own.png", 0)
    (exp / "run" / "key.png").symlink_to(outside / "id_rsa")
    (exp / "run" / "inner.png").symlink_to(exp / "run" / "own.png")  # inside, still a link
    (exp / "run" / "run.json").symlink_to(outside / "secrets.json")
    (exp / "run" / "results.json").symlink_to(outside / "secrets.json")
    (exp / "key.png").symlink_to(outside / "id_rsa")  # in the experiment folder above
    (exp / "results.csv").symlink_to(outside / "secrets.json")
    (exp / "linked").symlink_to(outside)  # a folder link: its run is not searched
    write_run(exp / "linked_config", {"name": "x"}, records(0.5))
    (exp / "linked_config" / "config.yaml").unlink()
    (exp / "linked_config" / "config.yaml").symlink_to(outside / "their_run" / "config.yaml")

    assert find_runs([exp]) == [(exp / "run").resolve()]
    page = write_report([exp], tmp_path / "page.html")
    assert not leaks(page)
    root = Page(page).root
    (section,) = root.find("section", "run")
    assert [img.attrs["alt"] for img in section.find("img", "figure")] == ["own.png"]
    notes = " ".join(p.text for p in root.find("p", "note"))
    assert "Not read: results.json, run.json" in notes
    assert "Not read: inner.png, key.png" in notes and "Not read: results.csv" in notes


@pytest.mark.parametrize("name", ["fifo.png", "config.yaml", "metrics.jsonl", "run.json"])
def test_fifos_and_devices_are_skipped_without_blocking(tmp_path: Path, name: str) -> None:
    run = tmp_path / "run"
    write_run(run, {"name": "run"}, records(0.5), results={"test": {}})
    (run / name).unlink(missing_ok=True)
    os.mkfifo(run / name)  # opening it to read would wait for a writer forever
    (run / "zero.png").symlink_to("/dev/zero")  # reading it would fill memory
    if name == "config.yaml":  # then it is no run folder
        with pytest.raises(SharedSpaceError, match="no run folder here"):
            find_runs([tmp_path])
        return
    page = write_report([tmp_path], tmp_path / "page.html")
    assert f"Not read: {name}" in page or "fifo.png, zero.png" in page


@pytest.mark.parametrize(
    ("name", "size"),
    [("config.yaml", 2 << 20), ("big.png", 9 << 20), ("run.json", 65 << 20)],
)
def test_files_past_their_size_limit_are_not_read(tmp_path: Path, name: str, size: int) -> None:
    run = tmp_path / "run"
    write_run(run, {"name": "run"}, records(0.5))
    with (run / name).open("ab") as f:
        f.write(PNG if name.endswith(".png") else b"")
        f.truncate(size)  # sparse: no disk, no memory, until someone reads it whole
    page = write_report([tmp_path], tmp_path / "page.html")
    assert f"Not read: {name}" in page


def test_a_giant_metrics_log_or_line_is_one_error(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_run(run, {"name": "run"}, records(0.5))
    with (run / "metrics.jsonl").open("ab") as f:
        f.write(b'{"step": 1, "x": "' + b"x" * LINE_LIMIT + b'"}\n')
    with pytest.raises(SharedSpaceError, match=r"metrics\.jsonl:9: longer than expected"):
        write_report([tmp_path], tmp_path / "page.html")
    with (run / "metrics.jsonl").open("ab") as f:
        f.truncate(LOG_LIMIT + 1)
    with pytest.raises(SharedSpaceError, match=r"metrics\.jsonl: .* bytes, more than the"):
        write_report([tmp_path], tmp_path / "page.html")


DEEP = "[" * 100_000 + "]" * 100_000  # past the JSON parser's recursion limit


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("results.json", DEEP),
        ("run.json", DEEP),
        ("metrics.jsonl", DEEP + "\n"),
        ("results.json", '{"run": {"steps": ' + "9" * 5000 + "}}"),
        ("metrics.jsonl", '{"step": ' + "9" * 5000 + "}\n"),
    ],
    ids=["deep-results", "deep-run", "deep-metrics", "huge-int-results", "huge-int-metrics"],
)
def test_unreadable_json_is_one_error_naming_the_file(
    tmp_path: Path, name: str, content: str
) -> None:
    run = tmp_path / "run"
    write_run(run, {"name": "run"}, records(0.5))
    (run / name).write_text(content)
    problem = "not valid JSON|not a JSON record|JSON nested too deeply"
    with pytest.raises(SharedSpaceError, match=rf"run/{name}(:1)?: ({problem})"):
        write_report([tmp_path], tmp_path / "page.html")


@pytest.mark.parametrize(
    "value",
    [
        {"test": [1, 2], "validation": "x", "run": "x"},
        {"test": {"a": [1], "b": {"m": {"deep": [1]}}}, "run": {"steps": "x", "train_seconds": []}},
        {"test": {"a": {"m": 10**400}}, "run": {"steps": 10**400, "train_seconds": 10**400}},
        [{"sessions": 1}],
        None,
    ],
    ids=["lists", "nested", "huge-ints", "list", "null"],
)
def test_wrong_typed_json_still_makes_a_page(tmp_path: Path, value: object) -> None:
    odd = [
        {"step": "x", "split": "train", "task": ["a"], "loss": "y"},
        {"step": 1, "split": "validation", "task": {"a": [[[]]]}, "acc": [1]},
        {"step": 10**300, "split": ["train"], "task": "t", "loss": 1e308},
        {"step": 10**400, "split": "train", "task": "t", "loss": 1},
        {"step": 1, "split": "validation", "task": "t", "loss": -(10**400), "acc": float("nan")},
        [1, 2],
        "text",
    ]
    write_run(tmp_path / "run", {"name": "run"}, records(0.5) + odd, results=value, run=value)
    Page(write_report([tmp_path], tmp_path / "page.html"))  # a well-formed page


def test_a_value_nested_too_deeply_to_print_is_said_so() -> None:
    deep: list = []
    for _ in range(100_000):  # built without recursion; json.dumps and repr would recurse
        deep = [deep]
    assert report_module._text(deep) == "(a list nested too deeply to show)"


def test_3000_metric_names_draw_and_list_a_bounded_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One record with 3,000 metric names took minutes (one axes per name); now the page draws
    ``MAX_PANELS`` of them and lists ``MAX_COLUMNS``, saying how many were left out."""
    names = {f"metric_{i}": i / 3000 for i in range(3000)}
    lines = [record(1, "train", "t", **names), record(1, "validation", "t", **names)]
    results = {"test": {"t": names}, "validation": {f"task_{i}": {"m": 1} for i in range(3000)}}
    config = {f"key_{i}": i for i in range(3000)}
    write_run(tmp_path / "run", config, lines, results=results, run=config)
    for i in range(MAX_FIGURES + 5):
        (tmp_path / "run" / f"figure_{i:02d}.png").write_bytes(PNG)
    subplots = Figure.subplots

    def bounded(self: Figure, rows: int, columns: int, **kwargs: object) -> object:
        assert rows * columns <= MAX_PANELS, f"{rows} x {columns} axes"  # fail before drawing
        return subplots(self, rows, columns, **kwargs)

    monkeypatch.setattr(Figure, "subplots", bounded)
    root = Page(write_report([tmp_path], tmp_path / "page.html")).root
    header, rows, _ = table(root, "results")
    assert len(header) == 2 + MAX_COLUMNS and len(rows) == report_module.MAX_ROWS
    caption = root.find("table", "results")[0].find("caption")[0].text
    assert "(2,501 more rows and 2,951 more columns not shown)" in caption
    assert len(table(root, "overview")[0]) == 4 + MAX_COLUMNS
    assert len(table(root, "config")[1]) == report_module.MAX_ROWS
    assert len(root.find("img", "figure")) == MAX_FIGURES
    notes = " ".join(p.text for p in root.find("p", "note"))
    assert f"The first {MAX_PANELS} curves; {3000 - MAX_PANELS:,} more not drawn." in notes
    assert f"The first {MAX_FIGURES} figures; 5 more not shown." in notes


def test_a_long_value_is_cut_in_its_cell(tmp_path: Path) -> None:
    write_run(tmp_path / "run", {"name": "run", "notes": "n" * 100_000}, records(0.5))
    page = write_report([tmp_path], tmp_path / "page.html")
    assert "n" * report_module.MAX_TEXT not in page
    assert "n" * (report_module.MAX_TEXT - 1) + "…" in page
