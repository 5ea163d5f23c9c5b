"""What a run writes as it goes: ``metrics.jsonl`` (one record per line) and TensorBoard events.

Only the main process writes. On resume, records past the checkpoint's step (written by the
killed run after its last checkpoint) are dropped, so the log reads as one uninterrupted run.
"""

import json
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from sharedspace.train.distributed import Processes


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True, resume_step: int = 0) -> None:
        self.enabled = enabled
        if not enabled:
            return
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_step and self.path.exists():
            kept = [
                line
                for line in self.path.read_text().splitlines()
                if line and json.loads(line)["step"] <= resume_step
            ]
            self.path.write_text("".join(line + "\n" for line in kept))
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
        for name, value in values.items():
            self.tb.add_scalar(f"{split}/{task}/{name}", value, step)

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()


class RunningLoss:
    """Each task's mean losses since the last log — its own and the space's auxiliary losses, by
    name — kept as tensors on the device, so a step costs no synchronisation."""

    def __init__(self, task_names: list[str]) -> None:
        self.names = task_names
        self.sums: dict[tuple[int, str], torch.Tensor] = {}
        self.counts = [0] * len(task_names)

    def add(self, task: int, losses: dict[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            key = (task, name)
            value = value.detach().double()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.counts[task] += 1

    def flush(self, step: int, lr: float, log: RunLog, procs: Processes) -> dict[str, str]:
        """Write the means (of the global batch: every rank steps the same task) and reset."""
        keys = sorted(self.sums)
        values = torch.stack([self.sums[k] for k in keys]) if keys else torch.zeros(0)
        if procs.world > 1 and keys:
            torch.distributed.all_reduce(values)
            values /= procs.world
        means: dict[int, dict[str, float]] = {}
        for (task, name), total in zip(keys, values.tolist(), strict=True):
            means.setdefault(task, {})[name] = total / self.counts[task]
        for task, values_of_task in means.items():
            log.write(step, "train", self.names[task], {**values_of_task, "lr": lr})
        self.sums.clear()
        self.counts = [0] * len(self.names)
        return {self.names[task]: f"{m['loss']:.3g}" for task, m in means.items()}
