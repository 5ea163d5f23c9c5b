"""One self-contained HTML page for one or many run folders (``sharedspace report``).

To see that a page renders, screenshot it with headless Chromium (Debian package ``chromium``;
``--no-sandbox`` is needed as root)::

    chromium --headless --no-sandbox --screenshot=/tmp/report.png --window-size=1200,2000 \\
        file:///abs/path/report.html

Built only from what runs wrote, never by re-training: an overview of every run's test metrics,
the tables and figures of experiment folders above the runs, then per run its results, its run
record, its training curves and its figures, and last the configs side by side with the keys that
differ marked and listed first. Run folders are untrusted input: every text taken from them is
escaped and the page fetches nothing (CSS inline, images as ``data:`` URIs), so the one file can
also be mailed or archived and still opens offline.
"""

import base64
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sharedspace.config import parse_yaml
from sharedspace.errors import SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.tables import read_table_csv
from sharedspace.train.runlog import read_records

SPLITS = ("validation", "test")  # the splits results.json holds
CURVES = ("train", "validation")  # the splits drawn over steps
META = ("step", "split", "task", "time")  # fields of a metrics record that are not metrics
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
section { border-top: 2px solid #ddd; margin-top: 2em; }  .scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }  th { background: #f3f3f3; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.unfinished td { font-style: italic; color: #666; }  .path, .note { color: #666; }
table.config td:first-child { position: sticky; left: 0; background: #fff; }
table.overview td:first-child { white-space: nowrap; }
table.config tr.differs td { background: #fff3c4; }  /* the keys where runs differ */
figure { display: inline-block; margin: 0 1em 1em 0; }  img { max-width: 100%; }
"""


class Html(str):
    """Markup built here; any other text put on the page is escaped first."""


@dataclass
class _Run:
    """What one run folder holds; a file the run has not written (yet) reads as empty."""

    path: Path
    name: str
    config: dict[str, Any]  # config.yaml
    records: list[dict[str, Any]]  # metrics.jsonl
    results: dict[str, Any]  # results.json
    record: dict[str, Any]  # run.json


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders at or under ``paths`` (resolved, sorted, each once). A path that does not exist
    or holds no run is an error naming it, so a typo never yields a page that silently lacks it."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if not path.exists():
            raise SharedSpaceError(f"{path}: no such file or folder")
        runs = {c.parent.resolve() for c in path.rglob("config.yaml") if _is_run(c.parent)}
        if not runs:
            raise SharedSpaceError(
                f"{path}: no run folder here (one holding config.yaml and metrics.jsonl "
                "or results.json)"
            )
        found |= runs
    return sorted(found)


def write_report(paths: list[Path], out: Path) -> Path:
    """Write the page for the runs at or under ``paths`` to ``out``, whole or not at all."""
    folders = find_runs(paths)
    runs = [_read_run(folder, name) for folder, name in zip(folders, _names(folders), strict=True)]
    experiments = _experiment_folders(paths, folders)
    body = [
        f"<h1>sharedspace report: {len(runs)} run{'s' * (len(runs) != 1)}</h1>",
        '<section id="overview">',
        _overview(runs),
        '<p class="note">Italic rows: no results.json (stopped early or still running).</p>',
        "</section>",
        *(_experiment(f, name) for f, name in zip(experiments, _names(experiments), strict=True)),
        *map(_run_section, runs),
        f'<section id="configs"><h2>Configs</h2>{_configs(runs)}</section>',
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>sharedspace report</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(page.encode("utf-8")))
    return out


def _is_run(folder: Path) -> bool:
    logs = (folder / "metrics.jsonl").is_file() or (folder / "results.json").is_file()
    return (folder / "config.yaml").is_file() and logs


def _names(folders: list[Path]) -> list[str]:
    """Folder names, or the paths below their common folder where two names clash (the names
    are also the page's anchors)."""
    names = [folder.name for folder in folders]
    if len(set(names)) < len(names):
        root = os.path.commonpath(folders)
        names = [str(folder.relative_to(root)) for folder in folders]
    return names


def _experiment_folders(paths: list[Path], runs: list[Path]) -> list[Path]:
    """Folders at or under ``paths``, above a run, holding a results table or figures."""
    roots = [Path(p).resolve() for p in paths]
    above = {f for run in runs for f in run.parents if any(f.is_relative_to(r) for r in roots)}
    return sorted(f for f in above if (f / "results.csv").is_file() or any(f.glob("*.png")))


def _read_run(path: Path, name: str) -> _Run:
    text = (path / "config.yaml").read_text(encoding="utf-8", errors="replace")
    try:
        config = parse_yaml(text)
    except yaml.YAMLError as error:
        raise SharedSpaceError(f"{path / 'config.yaml'}: not valid YAML ({error})") from None
    log = path / "metrics.jsonl"
    records = read_records(log) if log.is_file() else []
    results, record = _read_json(path / "results.json"), _read_json(path / "run.json")
    return _Run(path, name, _mapping(config), records, results, record)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return _mapping(json.loads(path.read_text(encoding="utf-8", errors="replace")))
    except json.JSONDecodeError as error:
        raise SharedSpaceError(f"{path}: not valid JSON ({error})") from None


def _mapping(value: object) -> dict[str, Any]:
    """A dict as is; anything else (a file or field of the wrong shape) as empty."""
    return value if isinstance(value, dict) else {}


def _results(run: _Run) -> tuple[dict[tuple[str, str], dict[str, Any]], str]:
    """(task, split) → metrics for validation and test, and where they were read."""
    if run.results:
        table = {
            (str(task), split): _mapping(metrics)
            for split in SPLITS
            for task, metrics in _mapping(run.results.get(split)).items()
        }
        return table, "results.json"
    latest = {}
    for record in run.records:
        if record.get("split") in SPLITS:
            metrics = {k: v for k, v in record.items() if k not in META}
            latest[str(record.get("task")), record["split"]] = metrics
    return latest, "last records of metrics.jsonl; no results.json"


def _overview(runs: list[_Run]) -> Html:
    tests = []  # per run: "task.metric" -> its test value
    for run in runs:
        table = _results(run)[0]
        tests.append(
            {f"{t}.{m}": v for (t, s), ms in table.items() if s == "test" for m, v in ms.items()}
        )
    columns = list(dict.fromkeys(key for test in tests for key in test))
    rows = []
    for run, test in zip(runs, tests, strict=True):
        info = _mapping(run.results.get("run"))
        last = max((r["step"] for r in run.records if _is_number(r.get("step"))), default=None)
        seconds = info.get("train_seconds")
        link = Html(f'<a href="#{escape(_anchor("run", run.name))}">{escape(run.name)}</a>')
        minutes = seconds / 60 if _is_number(seconds) else None
        steps, processes = info.get("steps", last), info.get("processes")
        rows.append([link, steps, minutes, processes, *(test.get(c) for c in columns)])
    header = ["run", "steps", "train minutes", "processes", *columns]
    classes = ["" if run.results else "unfinished" for run in runs]
    return _table("overview", "Runs and their test metrics", header, rows, classes)


def _experiment(folder: Path, name: str) -> Html:
    parts = [
        f'<section class="experiment" id="{escape(_anchor("experiment", name))}">',
        f'<h2>Experiment {escape(name)}</h2><p class="path">{escape(str(folder))}</p>',
    ]
    if (folder / "results.csv").is_file():
        rows = read_table_csv(folder / "results.csv")
        columns = list(dict.fromkeys(key for row in rows for key in row))
        cells = [[row.get(c) for c in columns] for row in rows]
        parts.append(_table("experiment-results", "results.csv", columns, cells))
    return Html("\n".join([*parts, *_figures(folder), "</section>"]))


def _run_section(run: _Run) -> Html:
    table, source = _results(run)
    tasks = list(dict.fromkeys(task for task, _ in table))
    keys = sorted(table, key=lambda key: (tasks.index(key[0]), SPLITS.index(key[1])))
    metrics = list(dict.fromkeys(m for key in keys for m in table[key]))
    rows = [[task, split, *(table[task, split].get(m) for m in metrics)] for task, split in keys]
    curves = _curves(run.records)
    parts = [
        f'<section class="run" id="{escape(_anchor("run", run.name))}">',
        f'<h2>{escape(run.name)}</h2><p class="path">{escape(str(run.path))}</p>',
        _table("results", f"Results ({source})", ["task", "split", *metrics], rows),
        *_record_tables(run.record),
        _img(curves, "curves", f"training curves of {run.name}")
        if curves
        else '<p class="note">No train or validation records in metrics.jsonl.</p>',
        *_figures(run.path),
        "</section>",
    ]
    return Html("\n".join(parts))


def _record_tables(record: dict[str, Any]) -> list[Html]:
    """run.json: its plain fields as one key/value table, each list of objects (the sessions) as
    a table of its own with the union of their keys as columns."""
    lists = {
        key: value
        for key, value in record.items()
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
    }
    plain = [[key, _text(value)] for key, value in record.items() if key not in lists]
    tables = [_table("record", "Run record (run.json)", ["field", "value"], plain)] if plain else []
    for key, items in lists.items():
        columns = list(dict.fromkeys(c for item in items for c in item))
        rows = [[_text(item[c]) if c in item else None for c in columns] for item in items]
        tables.append(_table("record-list", f"run.json: {key}", columns, rows))
    return tables


def _curves(records: list[dict[str, Any]]) -> bytes | None:
    """A PNG with one small axes per (task, metric) over steps: the train records, and the
    validation records on the same axes where the metric's name matches (train vs validation
    loss); None when there is nothing to draw."""
    series: dict[tuple[str, str], dict[str, tuple[list, list]]] = {}
    for record in records:
        split, step = record.get("split"), record.get("step")
        if split not in CURVES or not _is_number(step):
            continue
        for metric, value in record.items():
            if metric not in META and _is_number(value):
                by_split = series.setdefault((str(record.get("task")), metric), {})
                xs, ys = by_split.setdefault(split, ([], []))
                xs.append(step)
                ys.append(value)
    if not series:
        return None
    tasks = list(dict.fromkeys(task for task, _ in series))  # each task's panels side by side
    panels = sorted(series.items(), key=lambda item: tasks.index(item[0][0]))
    columns = min(4, len(series))
    fig = Figure(
        figsize=(3.2 * columns, 2.3 * math.ceil(len(series) / columns)), layout="constrained"
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(math.ceil(len(series) / columns), columns, squeeze=False).ravel()
    for ax, ((task, metric), by_split) in zip(axes, panels, strict=False):
        for split, (xs, ys) in by_split.items():
            marker, color = ("o", "C1") if split == "validation" else (None, "C0")
            ax.plot(xs, ys, marker=marker, markersize=3, color=color, label=split)
        title = f"{'all tasks' if task == '*' else task} · {metric}"
        ax.set_title(title.replace("$", r"\$"), fontsize=9)  # a name is never read as mathtext
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(by_split) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(series) :]:
        ax.set_visible(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def _configs(runs: list[_Run]) -> Html:
    """The configs as dotted keys, one column per run; keys whose values differ come first."""
    flat = [_flatten(run.config) for run in runs]
    keys = list(dict.fromkeys(key for config in flat for key in config))
    differs = {k for k in keys if len({(k in c, _text(c.get(k))) for c in flat}) > 1}
    keys.sort(key=lambda key: key not in differs)  # stable: file order within each group
    rows = [[key, *(_text(c[key]) if key in c else None for c in flat)] for key in keys]
    classes = ["differs" if key in differs else "" for key in keys]
    caption = f"{len(differs)} of {len(keys)} keys differ between runs (marked, listed first)"
    return _table("config", caption, ["key", *(run.name for run in runs)], rows, classes)


def _flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``train.lr``); lists and empty mappings are values."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _figures(folder: Path) -> list[str]:
    """Every PNG directly in ``folder``, embedded, its file name beneath."""
    return [
        f"<figure>{_img(path.read_bytes(), 'figure', path.name)}"
        f"<figcaption>{escape(path.name)}</figcaption></figure>"
        for path in sorted(folder.glob("*.png"))
        if path.is_file()
    ]


def _table(
    cls: str, caption: str, header: list[str], rows: list[list[Any]], classes: Sequence[str] = ()
) -> Html:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in header)
    body = "".join(
        f'<tr class="{c}">{"".join(map(_cell, row))}</tr>'
        for c, row in zip(classes or [""] * len(rows), rows, strict=True)
    )
    return Html(
        f'<div class="scroll"><table class="{cls}"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _cell(value: object) -> str:
    """A table cell: numbers right-aligned (floats to 4 significant digits), text escaped."""
    if _is_number(value):
        number = f"{value:.4g}" if isinstance(value, float) else str(value)
        return f'<td class="num">{number}</td>'
    text = "" if value is None else value
    return f"<td>{text if isinstance(text, Html) else escape(str(text))}</td>"


def _img(png: bytes, cls: str, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _text(value: object) -> str:
    """A config or record value as written: strings bare, the rest as JSON (lists, null, true)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _anchor(prefix: str, name: str) -> str:
    return f"{prefix}-" + re.sub(r"\s+", "-", name)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
