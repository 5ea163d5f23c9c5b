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
    """Each task's mean training loss since the last log, kept on the device (no sync per step)."""

    def __init__(self, task_names: list[str], device: torch.device) -> None:
        self.names = task_names
        self.sums = torch.zeros(len(task_names), dtype=torch.float64, device=device)
        self.counts = torch.zeros(len(task_names), dtype=torch.float64, device=device)

    def add(self, task: int, loss: torch.Tensor) -> None:
        self.sums[task] += loss.detach()
        self.counts[task] += 1

    def flush(self, step: int, lr: float, log: RunLog, procs: Processes) -> dict[str, str]:
        """Write the means (of the global batch: every rank steps the same task) and reset."""
        if procs.world > 1:
            torch.distributed.all_reduce(self.sums)
            self.sums /= procs.world
        means = {}
        for name, total, count in zip(
            self.names, self.sums.tolist(), self.counts.tolist(), strict=True
        ):
            if count:
                means[name] = total / count
                log.write(step, "train", name, {"loss": means[name], "lr": lr})
        self.sums.zero_()
        self.counts.zero_()
        return {name: f"{value:.3g}" for name, value in means.items()}
