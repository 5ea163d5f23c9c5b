"""What a run writes as it goes: ``metrics.jsonl`` (one record per line) and TensorBoard events.

Only the main process writes. On resume, records past the checkpoint's step (written by the
killed run after its last checkpoint) are dropped, so the log reads as one uninterrupted run.

Train records: one per task (``loss``, its ``weight`` from the weighting, each raw auxiliary loss
and ``<aux>.weight``), and one with task ``*`` for the whole step (``total``, the objective that
was minimised, and ``lr``). Every value is the mean over the steps since the previous record.
"""

import json
import math
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from sharedspace import layout
from sharedspace.collectives import Processes
from sharedspace.errors import SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.untrusted import MiB, inside, open_regular

STEP = "*"  # the task field of a record about the whole step
# A run logging every 50 steps writes ~100 bytes a step: 256 MiB is millions of steps, and a
# record (one line) of ~30 bytes a metric holds thousands of metrics in 1 MiB.
LOG_LIMIT, LINE_LIMIT = 256 * MiB, MiB


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True, resume_step: int = 0) -> None:
        self.enabled = enabled
        if not enabled:
            return
        self.path = Path(run_dir) / layout.METRICS
        if resume_step and self.path.exists():
            kept = [r for r in read_records(self.path) if _step(r) <= resume_step]
            text = "".join(json.dumps(r) + "\n" for r in kept).encode()
            atomic_write(self.path, lambda f: f.write(text))  # a kill now loses no record
        self.file = self.path.open("a")
        self.tb = SummaryWriter(
            str(Path(run_dir) / layout.TENSORBOARD),
            purge_step=resume_step + 1 if resume_step else None,
        )

    def write(self, step: int, split: str, task: str, values: dict[str, float]) -> None:
        """One record: the step, the split (train/validation/test), the task and its numbers."""
        if not self.enabled:
            return
        record = {"step": step, "split": split, "task": task, "time": round(time.time(), 3)}
        self.file.write(json.dumps({**record, **values}) + "\n")
        self.file.flush()
        prefix = f"{split}/{task}/" if task != STEP else f"{split}/"
        for name, value in values.items():
            self.tb.add_scalar(prefix + name, value, step)

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()


def read_records(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl``: a regular file in its folder (not a link out of it) of
    at most ``LOG_LIMIT`` bytes and ``LINE_LIMIT`` a line. A last line without its newline (a kill
    mid-write) is dropped; any other bad line is an error naming the file and line; lines holding
    no object are skipped."""
    if not inside(path, Path(path).parent):
        raise SharedSpaceError(f"{path}: a link out of its folder; not read")
    records = []
    with open_regular(path, LOG_LIMIT) as f:
        for number, line in enumerate(iter(lambda: f.readline(LINE_LIMIT + 1), b""), 1):
            if len(line) > LINE_LIMIT or f.tell() > LOG_LIMIT:  # the file grew being read
                limits = f"{LINE_LIMIT:,} bytes a line, {LOG_LIMIT:,} a file"
                raise SharedSpaceError(f"{path}:{number}: longer than expected ({limits})")
            try:
                text = line.decode("utf-8", errors="replace")
                record = json.loads(text) if text.strip() else None
            except (ValueError, RecursionError) as error:  # syntax, a 5000-digit int, nesting
                if not line.endswith(b"\n"):
                    break
                reason = getattr(error, "msg", None) or str(error).split(";")[0]
                raise SharedSpaceError(f"{path}:{number}: not a JSON record ({reason})") from None
            if isinstance(record, dict):
                records.append(record)
    return records


def _step(record: dict) -> float:
    """A record's step; one without a numeric step sorts past every step (dropped on resume)."""
    step = record.get("step")
    return step if isinstance(step, int | float) and not isinstance(step, bool) else math.inf


class RunningMeans:
    """Each record's values summed since the last log — tensors stay on the device, so a step
    costs no synchronisation — and written as means."""

    def __init__(self) -> None:
        self.sums: dict[tuple[str, str], torch.Tensor | float] = {}
        self.counts: dict[tuple[str, str], int] = {}  # each value's mean is over its own adds

    def add(self, record: str, values: dict[str, torch.Tensor | float]) -> None:
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().double()
            key = (record, name)
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def flush(self, step: int, log: RunLog, procs: Processes) -> dict[str, float]:
        """Write the means (of the global batch: every rank steps the same tasks) and reset;
        returns the whole step's means."""
        totals = {k: v for k, v in self.sums.items() if not isinstance(v, torch.Tensor)}
        reduced = sorted(k for k, v in self.sums.items() if isinstance(v, torch.Tensor))
        if reduced:  # floats (lr, constant weights) are the same on every rank already
            stacked = torch.stack([self.sums[k] for k in reduced])
            if procs.world > 1:
                torch.distributed.all_reduce(stacked)
                stacked /= procs.world
            totals.update(zip(reduced, stacked.tolist(), strict=True))
        means: dict[str, dict[str, float]] = {}
        for (record, name), total in sorted(totals.items()):
            means.setdefault(record, {})[name] = total / self.counts[record, name]
        for record, record_means in means.items():
            log.write(step, "train", record, record_means)
        self.sums.clear()
        self.counts.clear()
        return means
