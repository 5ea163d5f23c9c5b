"""Results tables written twice: Markdown to read (and paste into the README), CSV to reload.

The Markdown rounds floats to 4 significant digits; the CSV keeps full precision, so numbers quoted
from a table can always be traced back to the exact value.
"""

import csv
import io
import math
import numbers
from pathlib import Path

import numpy as np

from sharedspace.files import atomic_write
from sharedspace.untrusted import MiB, read_text

CSV_LIMIT = 64 * MiB  # a study's results.csv is a few kB
MISSING = "–"  # en dash: a cell with no value, distinct from a written 0 or "nan"


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value: no spread to show)."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None


def write_table(
    rows: list[dict], columns: list[str], stem: Path, overwrite: bool = False, note: str = ""
) -> tuple[Path, Path]:
    """Write ``stem.md`` and ``stem.csv`` with one line per row, in ``columns`` order; ``note``
    (what produced the numbers) opens the Markdown as a paragraph.

    Keys of a row that are not in ``columns`` are left out; a column a row lacks (or holds None)
    is written as "–" in Markdown and an empty cell in CSV. Raises ``FileExistsError`` naming the
    file if either exists, unless ``overwrite`` is set, so a finished run's table is never lost.
    """
    if not columns:
        raise ValueError("a table needs at least one column")
    stem = Path(stem)
    md_path, csv_path = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".csv")
    if not overwrite:
        for existing in (md_path, csv_path):
            if existing.exists():
                raise FileExistsError(
                    f"{existing} already exists; pass overwrite=True to replace it"
                )
    stem.parent.mkdir(parents=True, exist_ok=True)

    markdown = (f"{note}\n\n" * bool(note) + _markdown(rows, columns)).encode()
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    # atomic: a table is whole or absent, and a link in its place is replaced, never written
    # through to a file outside the folder
    atomic_write(md_path, lambda f: f.write(markdown))
    atomic_write(csv_path, lambda f: f.write(text.getvalue().encode()))
    return md_path, csv_path


def read_table_csv(path: Path, limit: int = CSV_LIMIT) -> list[dict]:
    """Rows of a table written by ``write_table``, with the types the CSV lost restored; the file
    must be a regular one of at most ``limit`` bytes (it may come from someone else's study).

    An empty cell is None, "True"/"False" a bool, then int if it parses, float if it parses,
    else the string.
    """
    text = read_text(path, limit)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [{key: _parse(value) for key, value in row.items()} for row in reader]


def _markdown(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-flavoured table; numeric columns are right-aligned so digits line up."""
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    present = [[row[c] for row in rows if row.get(c) is not None] for c in columns]
    numeric = [bool(values) and all(map(_is_number, values)) for values in present]
    lines = [
        _line(columns),
        _line(["---:" if right else "---" for right in numeric]),
        *(_line(line) for line in cells),
    ]
    return "\n".join(lines) + "\n"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", r"\|").replace("\n", " ") for cell in cells) + " |"


def _format(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool | numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _parse(value: str) -> bool | int | float | str | None:
    if value == "":
        return None
    if value in ("True", "False"):
        return value == "True"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    # Python writes non-finite floats as nan, inf, -inf; other spellings ("Infinity") are labels.
    return number if math.isfinite(number) or value in ("nan", "inf", "-inf") else value
