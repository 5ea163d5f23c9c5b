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
also be mailed or archived and still opens offline. Only regular files are read, never a link (a
link to a key file would end up embedded in a page meant to be shared), each of a bounded size;
the search for runs does not descend into linked folders; and what the page draws and lists is
capped (``MAX_*``: curves, figures, rows, columns, characters), with a note saying how much was
left out, so its work is bounded by what it shows.
"""

import base64
import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sharedspace import layout
from sharedspace.config import CONFIG_LIMIT, parse_yaml, yaml_problem
from sharedspace.errors import SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.tables import read_table_csv
from sharedspace.train.runlog import read_records
from sharedspace.untrusted import JSON_LIMIT, MiB, loads_json, read_bytes, regular_file

SPLITS = ("validation", "test")  # the splits results.json holds
CURVES = ("train", "validation")  # the splits drawn over steps
META = ("step", "split", "task", "time")  # fields of a metrics record that are not metrics
PNG = b"\x89PNG\r\n\x1a\n"
CSV_LIMIT, PNG_LIMIT = 8 * MiB, 8 * MiB  # ours: ~5 kB, ~100 kB (config.yaml: CONFIG_LIMIT)
MAX_PANELS, MAX_POINTS = 24, 2000  # curves drawn per run, points per curve (every k-th past it)
MAX_FIGURES, MAX_LISTS = 40, 8  # PNGs embedded per folder; run.json lists drawn as tables
MAX_ROWS, MAX_COLUMNS, MAX_TEXT = 500, 50, 200  # shown per table, and characters per cell
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
    unread: list[str]  # files there but not read: links, not regular files, too large


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders at or under ``paths`` (resolved, sorted, each once), not under a linked folder.
    A path that does not exist or holds no run is an error naming it, so a typo never yields a
    page that silently lacks it."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if not path.exists():
            raise SharedSpaceError(f"{path}: no such file or folder")
        folders = (Path(top) for top, _, _ in os.walk(path))  # does not follow links
        runs = {folder.resolve() for folder in folders if _is_run(folder)}
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
    logs = _regular(folder / layout.METRICS) or _regular(folder / layout.RESULTS_JSON)
    return _regular(folder / layout.CONFIG) and logs


def _regular(path: Path) -> bool:
    """Whether ``path`` itself is a regular file (a link is not, whatever it points to)."""
    return regular_file(path, follow_links=False)


def _read(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` if it is itself a regular file of at most ``limit`` bytes (opened
    with ``O_NOFOLLOW``: a link swapped in meanwhile is not followed either); None otherwise."""
    try:
        return read_bytes(path, limit, follow_links=False)
    except SharedSpaceError:
        return None


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
    return sorted(f for f in above if _regular(f / "results.csv") or any(f.glob("*.png")))


def _read_run(path: Path, name: str) -> _Run:
    text = _read(path / layout.CONFIG, CONFIG_LIMIT)
    try:
        config = parse_yaml(text.decode("utf-8", errors="replace")) if text is not None else {}
    except yaml.YAMLError as error:
        message = f"{path / 'config.yaml'}: not valid YAML: {yaml_problem(error)}"
        raise SharedSpaceError(message) from None
    log = path / layout.METRICS
    records = read_records(log) if _regular(log) else []
    results, record = _read_json(path / layout.RESULTS_JSON), _read_json(path / layout.RECORD)
    read = {layout.CONFIG: text is not None, layout.METRICS: _regular(log)}
    read |= {layout.RESULTS_JSON: results is not None, layout.RECORD: record is not None}
    unread = [file for file, done in read.items() if not done and os.path.lexists(path / file)]
    return _Run(path, name, _mapping(config), records, results or {}, record or {}, unread)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object ({} for any other value); None where ``_read`` reads nothing."""
    data = _read(path, JSON_LIMIT)
    if data is None:
        return None
    return _mapping(loads_json(data.decode("utf-8", errors="replace"), path))


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
        return table, layout.RESULTS_JSON
    latest = {}
    for record in run.records:
        if record.get("split") in SPLITS:
            metrics = {k: v for k, v in record.items() if k not in META}
            latest[_name(record.get("task")), record["split"]] = metrics
    return latest, "last records of metrics.jsonl; no results.json"


def _overview(runs: list[_Run]) -> Html:
    tests = []  # per run: "task.metric" -> its test value
    for run in runs:
        table = _results(run)[0]
        tests.append(
            {f"{t}.{m}": v for (t, s), ms in table.items() if s == "test" for m, v in ms.items()}
        )
    columns = list(dict.fromkeys(key for test in tests for key in test))
    shown = columns[:MAX_COLUMNS]
    rows = []
    for run, test in zip(runs, tests, strict=True):
        info = _mapping(run.results.get("run"))
        last = max((r["step"] for r in run.records if _is_number(r.get("step"))), default=None)
        seconds = info.get("train_seconds")
        link = Html(f'<a href="#{escape(_anchor("run", run.name))}">{escape(run.name)}</a>')
        minutes = seconds / 60 if _is_float(seconds) else None
        steps, processes = info.get("steps", last), info.get("processes")
        rows.append([link, steps, minutes, processes, *(test.get(c) for c in shown)])
    header = ["run", "steps", "train minutes", "processes", *shown]
    classes = ["" if run.results else "unfinished" for run in runs]
    caption = "Runs and their test metrics"
    return _table("overview", caption, header, rows, classes, len(columns) - len(shown))


def _experiment(folder: Path, name: str) -> Html:
    parts = [
        f'<section class="experiment" id="{escape(_anchor("experiment", name))}">',
        f'<h2>Experiment {escape(name)}</h2><p class="path">{escape(str(folder))}</p>',
    ]
    path = folder / "results.csv"
    if _regular(path) and path.stat().st_size <= CSV_LIMIT:
        try:
            rows = read_table_csv(path, CSV_LIMIT)
        except csv.Error as error:  # a field past csv's limit
            parts.append(_note(f"results.csv not shown: {_short(error)}"))
        else:
            columns = list(dict.fromkeys(key for row in rows for key in row))
            shown = columns[:MAX_COLUMNS]
            cells = [[row.get(c) for c in shown] for row in rows[:MAX_ROWS]]
            more = len(columns) - len(shown), len(rows) - len(cells)
            parts.append(_table("experiment-results", "results.csv", shown, cells, (), *more))
    elif os.path.lexists(path):
        parts.append(_unread_note(["results.csv"]))
    return Html("\n".join([*parts, *_figures(folder), "</section>"]))


def _run_section(run: _Run) -> Html:
    table, source = _results(run)
    tasks = {task: i for i, task in enumerate(dict.fromkeys(task for task, _ in table))}
    keys = sorted(table, key=lambda key: (tasks[key[0]], SPLITS.index(key[1])))
    metrics = list(dict.fromkeys(m for key in keys for m in table[key]))
    shown = metrics[:MAX_COLUMNS]
    rows = [[task, split, *(table[task, split].get(m) for m in shown)] for task, split in keys]
    header = ["task", "split", *shown]
    results = _table("results", f"Results ({source})", header, rows, (), len(metrics) - len(shown))
    curves, left_out = _curves(run.records)
    if curves is None:
        drawn = _note("No train or validation records in metrics.jsonl.")
    else:
        drawn = _img(curves, "curves", f"training curves of {run.name}")
        if left_out:
            drawn += _note(f"The first {MAX_PANELS} curves; {left_out:,} more not drawn.")
    parts = [
        f'<section class="run" id="{escape(_anchor("run", run.name))}">',
        f'<h2>{escape(run.name)}</h2><p class="path">{escape(str(run.path))}</p>',
        _unread_note(run.unread) if run.unread else "",
        results,
        *_record_tables(run.record),
        drawn,
        *_figures(run.path),
        "</section>",
    ]
    return Html("\n".join(parts))


def _unread_note(files: list[str], why: str = "a link, not a regular file, or too large") -> str:
    return _note(f"Not read: {', '.join(files)} ({why}).")


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _record_tables(record: dict[str, Any]) -> list[Html]:
    """run.json: its plain fields as one key/value table, each list of objects (the sessions) as
    a table of its own with the union of their keys as columns (the first ``MAX_LISTS``)."""
    lists = {
        key: value
        for key, value in record.items()
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
    }
    lists = dict(list(lists.items())[:MAX_LISTS])
    plain = [[key, _text(value)] for key, value in record.items() if key not in lists]
    tables = [_table("record", "Run record (run.json)", ["field", "value"], plain)] if plain else []
    for key, items in lists.items():
        columns = list(dict.fromkeys(c for item in items for c in item))
        shown = columns[:MAX_COLUMNS]
        rows = [[_text(item[c]) if c in item else None for c in shown] for item in items]
        caption = f"run.json: {key}"
        tables.append(_table("record-list", caption, shown, rows, (), len(columns) - len(shown)))
    return tables


def _curves(records: list[dict[str, Any]]) -> tuple[bytes | None, int]:
    """A PNG with one small axes per (task, metric) over steps: the train records, and the
    validation records on the same axes where the metric's name matches (train vs validation
    loss); None when there is nothing to draw. At most ``MAX_PANELS`` axes (each task's side by
    side, tasks in order) of at most ``MAX_POINTS`` points a line; also returns how many (task,
    metric) pairs were left out."""
    series: dict[tuple[str, str], dict[str, tuple[list, list]]] = {}
    for record in records:
        split, step = record.get("split"), record.get("step")
        if split not in CURVES or not _is_float(step):
            continue
        for metric, value in record.items():
            if metric not in META and _is_float(value):
                by_split = series.setdefault((_name(record.get("task")), metric), {})
                xs, ys = by_split.setdefault(split, ([], []))
                xs.append(step)
                ys.append(value)
    if not series:
        return None, 0
    tasks = {task: i for i, task in enumerate(dict.fromkeys(task for task, _ in series))}
    panels = sorted(series.items(), key=lambda item: tasks[item[0][0]])[:MAX_PANELS]
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(3.2 * columns, 2.3 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, ((task, metric), by_split) in zip(axes, panels, strict=False):
        for split, (xs, ys) in by_split.items():
            every = math.ceil(len(xs) / MAX_POINTS)
            marker, color = ("o", "C1") if split == "validation" else (None, "C0")
            ax.plot(xs[::every], ys[::every], marker=marker, markersize=3, color=color, label=split)
        title = _short(f"{'all tasks' if task == '*' else task} · {metric}", 60)
        ax.set_title(title.replace("$", r"\$"), fontsize=9)  # a name is never read as mathtext
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(by_split) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue(), len(series) - len(panels)


def _configs(runs: list[_Run]) -> Html:
    """The configs as dotted keys, one column per run (the first ``MAX_COLUMNS``); keys whose
    values differ come first."""
    flat = [_flatten(run.config) for run in runs]
    keys = list(dict.fromkeys(key for config in flat for key in config))
    differs = {k for k in keys if len({(k in c, _text(c.get(k))) for c in flat}) > 1}
    keys.sort(key=lambda key: key not in differs)  # stable: file order within each group
    shown = flat[:MAX_COLUMNS]
    rows = [[key, *(_text(c[key]) if key in c else None for c in shown)] for key in keys]
    classes = ["differs" if key in differs else "" for key in keys]
    caption = f"{len(differs)} of {len(keys)} keys differ between runs (marked, listed first)"
    header = ["key", *(run.name for run in runs[:MAX_COLUMNS])]
    return _table("config", caption, header, rows, classes, len(flat) - len(shown))


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
    """The PNGs directly in ``folder`` (the first ``MAX_FIGURES`` by name), embedded, each file
    name beneath; a note names what was not: links, other files, images over ``PNG_LIMIT``."""
    figures, unread, paths = [], [], sorted(folder.glob("*.png"))
    for path in paths:
        if len(figures) == MAX_FIGURES:
            break
        png = _read(path, PNG_LIMIT)
        if png is None or not png.startswith(PNG):
            unread.append(path.name)
            continue
        figures.append(
            f"<figure>{_img(png, 'figure', path.name)}"
            f"<figcaption>{escape(path.name)}</figcaption></figure>"
        )
    left_out = len(paths) - len(figures) - len(unread)
    if left_out:
        figures.append(_note(f"The first {MAX_FIGURES} figures; {left_out:,} more not shown."))
    if unread:
        why = f"a link, not a regular file, over {PNG_LIMIT // MiB} MiB, or not a PNG"
        figures.append(_unread_note(unread[:MAX_ROWS], why))
    return figures


def _table(
    cls: str,
    caption: str,
    header: list[str],
    rows: list[list[Any]],
    classes: Sequence[str] = (),
    more_columns: int = 0,
    more_rows: int = 0,
) -> Html:
    """A table of the first ``MAX_ROWS`` rows; its caption counts what was left out: rows past
    those, and ``more_columns``/``more_rows`` the caller left out before building the rows."""
    more_rows += max(0, len(rows) - MAX_ROWS)
    rows, classes = rows[:MAX_ROWS], (classes or [""] * len(rows))[:MAX_ROWS]
    left_out = [f"{more_rows:,} more rows"] * bool(more_rows)
    left_out += [f"{more_columns:,} more columns"] * bool(more_columns)
    if left_out:
        caption += f" ({' and '.join(left_out)} not shown)"
    head = "".join(f"<th>{escape(_short(c))}</th>" for c in header)
    body = "".join(
        f'<tr class="{c}">{"".join(map(_cell, row))}</tr>'
        for c, row in zip(classes, rows, strict=True)
    )
    return Html(
        f'<div class="scroll"><table class="{cls}"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _cell(value: object) -> str:
    """A table cell: numbers right-aligned (floats to 4 significant digits), text escaped and
    cut to ``MAX_TEXT`` characters."""
    if _is_number(value):
        number = f"{value:.4g}" if isinstance(value, float) else _short(value)
        return f'<td class="num">{number}</td>'
    if isinstance(value, Html):
        return f"<td>{value}</td>"
    return f"<td>{escape(_short('' if value is None else _name(value)))}</td>"


def _img(png: bytes, cls: str, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _text(value: object) -> str:
    """A config or record value as written: strings bare, the rest as JSON (lists, null, true)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):  # nested deeper than the encoder goes
        return f"(a {type(value).__name__} nested too deeply to show)"


def _name(value: object) -> str:
    """A task name from a record: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else _text(value)


def _short(value: object, limit: int = MAX_TEXT) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _anchor(prefix: str, name: str) -> str:
    return f"{prefix}-" + re.sub(r"\s+", "-", name)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_float(value: object) -> bool:
    """A number that fits a float (an int of 400 digits does not: arithmetic and plots fail)."""
    return _is_number(value) and not abs(value) > sys.float_info.max
