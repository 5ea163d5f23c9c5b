"""A finished run's results: ``results.json`` to reload, ``results.md``/``.csv`` to read."""

import json
import math
from pathlib import Path

from sharedspace import layout
from sharedspace.errors import SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.tables import write_table
from sharedspace.train.record import describe_code
from sharedspace.untrusted import inside, read_json


def stored_results(run_dir: Path, steps: int) -> dict | None:
    """The results a finished run wrote, if it finished at ``steps``; None (the run is evaluated
    again and the file rewritten) when ``results.json`` is missing, not a regular file in the run
    folder, or not what ``write_results`` writes: numbers per split, task and metric, and the
    run's ``steps`` and ``train_seconds``."""
    path = Path(run_dir) / layout.RESULTS_JSON
    try:
        results = read_json(path) if inside(path, run_dir) else None
    except SharedSpaceError:
        return None
    run = results.get("run") if isinstance(results, dict) else None
    done = run.get("steps") if isinstance(run, dict) else None
    if isinstance(done, bool) or done != steps:
        return None
    seconds, values = run.get("train_seconds"), []
    for split in ("validation", "test"):
        tasks = results.get(split)
        if not isinstance(tasks, dict) or not all(isinstance(m, dict) for m in tasks.values()):
            return None
        values += [value for metrics in tasks.values() for value in metrics.values()]
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in [seconds, *values]
    )
    return results if numbers and 0 <= seconds < math.inf else None


def write_results(
    run_dir: Path, metrics: dict[str, dict[str, dict[str, float]]], run: dict[str, object]
) -> None:
    """``results.json`` (to reload) and ``results.md``/``.csv``: one row per task and metric, its
    validation and test values, under a line that says what produced them."""
    results = json.dumps({**metrics, "run": run}, indent=2).encode()
    atomic_write(run_dir / layout.RESULTS_JSON, lambda f: f.write(results))
    rows = [
        {"Task": task, "Metric": metric, "Validation": value, "Test": metrics["test"][task][metric]}
        for task, values in metrics["validation"].items()
        for metric, value in values.items()
    ]
    note = (
        f"{run_dir.name}: {run['steps']} steps, seed {run['seed']}, "
        f"{run['train_seconds'] / 60:.3g} train minutes on {run['processes']} process(es); "
        f"{describe_code(run)}"
    )
    write_table(
        rows, ["Task", "Metric", "Validation", "Test"], run_dir / layout.RESULTS, True, note
    )
