"""The HTML report of generated run folders: every promised table and image is on the page, the
numbers are the runs' own, and nothing from a run folder escapes into markup or fetches anything."""

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml

from sharedspace.analysis.report import find_runs, write_report
from sharedspace.errors import SharedSpaceError
from sharedspace.tables import write_table

PNG = b"\x89PNG\r\n\x1a\n"
VOID = frozenset({"img", "meta", "br", "hr", "link", "input"})  # elements without an end tag
SCRIPT = "<script>alert(1)</script>"
ODD_TASK = "$\\bad{$"  # mathtext that matplotlib cannot parse, were it read as such
# The keys where the three configs below differ (alpha and gamma share train.aux_loss_weights: {}).
DIFFERS = {
    "name",
    "train.lr",
    "train.weighting.name",
    "train.aux_loss_weights",
    "train.aux_loss_weights.balance",
}


def config(name: str, lr: float = 0.001, weighting: str = "equal", aux: dict | None = None) -> dict:
    train = {"lr": lr, "weighting": {"name": weighting}, "aux_loss_weights": aux or {}}
    return {"name": name, "notes": SCRIPT, "seed": 0, "model": {"hidden": [8, 8]}, "train": train}


def record(step: int, split: str, task: str, **values: float) -> dict:
    return {"step": step, "split": split, "task": task, "time": 1.0, **values}


def records(accuracy: float, steps: tuple[int, ...] = (10, 20)) -> list[dict]:
    """Train records of task ``classify`` and the whole step, a transfer probe, then validation."""
    lines = []
    for step in steps:
        lines += [
            record(step, "train", "*", total=1 / step, lr=0.1),
            record(step, "train", "classify", loss=2 / step, weight=1.0),
            record(step, "transfer", "classify", **{"cosine.classify": 1.0}),
            record(step, "validation", "classify", loss=3 / step, accuracy=accuracy),
        ]
    return lines


def write_run(folder: Path, cfg: dict, lines: list[dict], tail: str = "", **files: object) -> None:
    """A run folder: config.yaml, metrics.jsonl (``tail`` appended as is) and ``files`` as JSON."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + tail)
    for name, content in files.items():
        (folder / f"{name}.json").write_text(json.dumps(content))


def write_png(path: Path, seed: int) -> None:
    matplotlib.image.imsave(path, np.random.default_rng(seed).random((4, 6, 3)))


def write_experiment(root: Path) -> Path:
    """exp/ with a results table and a figure above runs alpha, beta (finished) and nested/gamma
    (killed: no results.json, last metrics line cut short), and notes/ (a config but no run)."""
    exp = root / "exp"
    alpha_test = {"classify": {"loss": 0.5, "accuracy": 0.8}}
    write_run(
        exp / "alpha",
        config("alpha"),
        records(0.75),
        results={
            "validation": {"classify": {"loss": 0.15, "accuracy": 0.75}},
            "test": alpha_test,
            "run": {"steps": 20, "train_seconds": 120.0, "processes": 1, "later_key": "x"},
        },
        run={
            "sharedspace": "0.1.0",
            "command": f"sharedspace train {SCRIPT}",
            "overrides": ["train.lr=0.001", "seed=0"],
            "sessions": [
                {"started": "2025-01-01T10:00", "from_step": 0, "to_step": 10, "outcome": "killed"},
                {"started": "2025-01-01T11:00", "from_step": 10, "to_step": 20, "ended": "11:02"},
            ],
        },
    )
    write_png(exp / "alpha" / "transfer.png", 0)
    write_png(exp / "alpha" / "gates.png", 1)
    odd = record(10, "train", ODD_TASK, loss=1.0)
    write_run(
        exp / "beta",
        config("beta", lr=0.01, weighting="famo", aux={"balance": 0.1}),
        [*records(0.65), odd],
        results={
            "validation": {"classify": {"loss": 0.2, "accuracy": 0.65}},
            "test": {"classify": {"loss": 0.6, "accuracy": 0.7}, "reconstruct": {"mse": 0.03}},
            "run": {"steps": 20, "train_seconds": 90.0, "processes": 2},
        },
    )
    write_run(exp / "nested" / "gamma", config("gamma"), records(0.5), tail='{"step": 30, "spl')
    write_png(exp / "nested" / "gamma" / "curve.png", 2)
    (exp / "notes").mkdir()
    (exp / "notes" / "config.yaml").write_text("name: draft\n")
    write_table([{"method": "equal", "accuracy": 0.8}], ["method", "accuracy"], exp / "results")
    write_png(exp / "summary.png", 3)
    return exp


class Node:
    """An element of the parsed page: its tag, attributes and children (nodes and text)."""

    def __init__(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag, self.attrs, self.children = tag, dict(attrs), []

    def find(self, tag: str, cls: str | None = None) -> list["Node"]:
        """Every element below with this tag (and class, if given), in page order."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and (cls is None or cls in child.classes):
                    found.append(child)
                found += child.find(tag, cls)
        return found

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children).strip()


class Page(HTMLParser):
    """The page as a tree of Nodes; an end tag that closes anything but the open element fails."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = Node("#document", [])
        self.stack = [self.root]
        self.feed(html)
        self.close()
        assert self.stack == [self.root], f"unclosed <{self.stack[-1].tag}>"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, attrs)
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def table(root: Node, cls: str) -> tuple[list[str], list[list[str]], list[Node]]:
    """The one table of class ``cls`` under ``root``: its header, its body's cells, its rows."""
    (found,) = root.find("table", cls)
    assert found.find("caption")[0].text
    header = [th.text for th in found.find("th")]
    rows = found.find("tbody")[0].find("tr")
    return header, [[td.text for td in tr.find("td")] for tr in rows], rows


def png_of(img: Node) -> bytes:
    src = img.attrs["src"]
    assert src.startswith("data:image/png;base64,")
    data = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
    assert data.startswith(PNG)
    return data


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Node]:
    """(experiment folder, page, parsed page): one page for the whole module's tests."""
    exp = write_experiment(tmp_path_factory.mktemp("runs"))
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert write_report([exp, exp / "alpha"], out) == out
    return exp, out, Page(out.read_text(encoding="utf-8")).root


def test_find_runs_at_any_depth_sorted_once(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path)
    runs = [exp / "alpha", exp / "beta", exp / "nested" / "gamma"]
    assert find_runs([exp / "beta", exp, exp / "alpha"]) == [r.resolve() for r in runs]
    assert find_runs([exp / "nested" / "gamma"]) == [runs[2].resolve()]


def test_find_runs_names_a_missing_path_or_one_without_runs(tmp_path: Path) -> None:
    exp = write_experiment(tmp_path)
    with pytest.raises(SharedSpaceError, match=r"exp/missing: no such file or folder$"):
        find_runs([exp, exp / "missing"])
    with pytest.raises(SharedSpaceError, match=r"exp/notes: no run folder here"):
        find_runs([exp / "notes"])


def test_overview_has_one_row_per_run_with_its_numbers(report: tuple[Path, Path, Node]) -> None:
    header, rows, trs = table(report[2], "overview")
    tests = ["classify.loss", "classify.accuracy", "reconstruct.mse"]
    assert header == ["run", "steps", "train minutes", "processes", *tests]
    assert rows == [
        ["alpha", "20", "2", "1", "0.5", "0.8", ""],
        ["beta", "20", "1.5", "2", "0.6", "0.7", "0.03"],
        ["gamma", "20", "", "", "", "", ""],  # the cut-short step-30 line is skipped
    ]
    assert [tr.classes for tr in trs] == [[], [], ["unfinished"]]
    assert [a.attrs["href"] for a in trs[0].find("a")] == ["#run-alpha"]


def test_experiment_section_has_its_table_and_figure(report: tuple[Path, Path, Node]) -> None:
    exp, _, page = report
    (section,) = page.find("section", "experiment")
    assert section.attrs["id"] == "experiment-exp"
    assert table(section, "experiment-results")[:2] == (["method", "accuracy"], [["equal", "0.8"]])
    (img,) = section.find("img", "figure")
    assert png_of(img) == (exp / "summary.png").read_bytes()


def test_each_run_section_has_results_curves_and_figures(report: tuple[Path, Path, Node]) -> None:
    exp, _, page = report
    sections = {s.attrs["id"]: s for s in page.find("section", "run")}
    assert list(sections) == ["run-alpha", "run-beta", "run-gamma"]
    for name, folder in [("alpha", "alpha"), ("beta", "beta"), ("gamma", "nested/gamma")]:
        section = sections[f"run-{name}"]
        assert len(section.find("img", "curves")) == 1
        png_of(section.find("img", "curves")[0])
        figures = {png_of(img) for img in section.find("img", "figure")}
        assert figures == {p.read_bytes() for p in (exp / folder).glob("*.png")}
    header, rows, _ = table(sections["run-alpha"], "results")
    assert header == ["task", "split", "loss", "accuracy"]
    assert rows == [["classify", "validation", "0.15", "0.75"], ["classify", "test", "0.5", "0.8"]]
    assert table(sections["run-beta"], "results")[1][-1] == ["reconstruct", "test", "", "", "0.03"]
    # gamma stopped before results.json: its last validation record stands in
    header, rows, _ = table(sections["run-gamma"], "results")
    assert header == ["task", "split", "loss", "accuracy"]
    assert rows == [["classify", "validation", "0.15", "0.5"]]
    assert "no results.json" in sections["run-gamma"].find("caption")[0].text


def test_run_record_is_a_field_table_and_a_sessions_table(report: tuple[Path, Path, Node]) -> None:
    sections = {s.attrs["id"]: s for s in report[2].find("section", "run")}
    _, fields, _ = table(sections["run-alpha"], "record")
    assert fields == [
        ["sharedspace", "0.1.0"],
        ["command", f"sharedspace train {SCRIPT}"],
        ["overrides", '["train.lr=0.001", "seed=0"]'],
    ]
    header, sessions, _ = table(sections["run-alpha"], "record-list")
    assert header == ["started", "from_step", "to_step", "outcome", "ended"]
    assert sessions[1] == ["2025-01-01T11:00", "10", "20", "", "11:02"]
    for name in ("beta", "gamma"):  # no run.json
        section = sections[f"run-{name}"]
        assert not section.find("table", "record") and not section.find("table", "record-list")


def test_config_table_marks_exactly_the_differing_keys(report: tuple[Path, Path, Node]) -> None:
    header, rows, trs = table(report[2], "config")
    assert header == ["key", "alpha", "beta", "gamma"]
    marked = [row[0] for row, tr in zip(rows, trs, strict=True) if "differs" in tr.classes]
    assert set(marked) == DIFFERS
    assert [row[0] for row in rows[: len(DIFFERS)]] == marked  # listed first
    by_key = {row[0]: row[1:] for row in rows}
    assert by_key["train.lr"] == ["0.001", "0.01", "0.001"]
    assert by_key["train.aux_loss_weights.balance"] == ["", "0.1", ""]
    assert by_key["model.hidden"] == ["[8, 8]"] * 3
    assert by_key["notes"] == [SCRIPT] * 3  # as text, see the next test


def test_page_is_self_contained_and_escapes_the_runs_text(report: tuple[Path, Path, Node]) -> None:
    _, out, page = report
    html = out.read_text(encoding="utf-8")
    elements = [node for tag in ("img", "a", "link", "script", "iframe") for node in page.find(tag)]
    assert {node.tag for node in elements} == {"img", "a"}
    for node in elements:
        for attr in ("src", "href"):
            value = node.attrs.get(attr)
            assert value is None or value.startswith(("data:", "#")), value
    assert "url(" not in html and "@import" not in html
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_clashing_folder_names_get_distinct_anchors(tmp_path: Path) -> None:
    for study in ("a", "b"):
        write_run(tmp_path / study / "seed0", config("seed0"), records(0.5))
    page = Page(write_report([tmp_path], tmp_path / "r.html").read_text()).root
    assert [s.attrs["id"] for s in page.find("section", "run")] == ["run-a/seed0", "run-b/seed0"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (Debian package)")
def test_headless_chromium_renders_the_page(
    report: tuple[Path, Path, Node], tmp_path: Path
) -> None:
    """The check the module docstring documents: the page renders to a screenshot."""
    shot = tmp_path / "report.png"
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        report[1].resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 0 and shot.read_bytes().startswith(PNG)
