"""What a run writes as it goes: ``metrics.jsonl`` (one record per line) and TensorBoard events.

Only the main process writes. On resume, records past the checkpoint's step (written by the
killed run after its last checkpoint) are dropped, so the log reads as one uninterrupted run.

Train records: one per task (``loss``, its ``weight`` from the weighting, each raw auxiliary loss
and ``<aux>.weight``), and one with task ``*`` for the whole step (``total``, the objective that
was minimised, and ``lr``). Every value is the mean over the steps since the previous record.
"""

import json
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from sharedspace.errors import SharedSpaceError
from sharedspace.train.distributed import Processes

STEP = "*"  # the task field of a record about the whole step


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True, resume_step: int = 0) -> None:
        self.enabled = enabled
        if not enabled:
            return
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_step and self.path.exists():
            kept = [r for r in read_records(self.path) if r.get("step", 0) <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self.file = self.path.open("a")
        self.tb = SummaryWriter(
            str(Path(run_dir) / "tensorboard"), purge_step=resume_step + 1 if resume_step else None
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
    """The records of a ``metrics.jsonl``; its last line may be cut short by a kill mid-write and
    is then dropped, a bad line before it is an error naming the file and line."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as error:
            if number == len(lines):
                break
            raise SharedSpaceError(f"{path}:{number}: not a JSON record ({error.msg})") from None
        if isinstance(record, dict):
            records.append(record)
    return records


class RunningMeans:
    """Each record's values summed since the last log — tensors stay on the device, so a step
    costs no synchronisation — and written as means."""

    def __init__(self) -> None:
        self.sums: dict[tuple[str, str], torch.Tensor | float] = {}
        self.counts: dict[str, int] = {}

    def add(self, record: str, values: dict[str, torch.Tensor | float]) -> None:
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().double()
            key = (record, name)
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.counts[record] = self.counts.get(record, 0) + 1

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
            means.setdefault(record, {})[name] = total / self.counts[record]
        for record, record_means in means.items():
            log.write(step, "train", record, record_means)
        self.sums.clear()
        self.counts.clear()
        return means
