"""Published experiments by name: ``sharedspace reproduce NAME`` calls the entry."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sharedspace.config import ExperimentConfig
from sharedspace.errors import ConfigError
from sharedspace.registry import Registry
from sharedspace.train.trainer import TrainResult, prune_checkpoints, train

EXPERIMENTS: Registry[Callable[..., Path]] = Registry("experiment")  # (RunOptions) → table


@dataclass(frozen=True)
class RunOptions:
    """What ``sharedspace reproduce`` tells every experiment: which budget, where the data is and
    the runs go, whether to continue or replace earlier runs, overrides for every run, and
    whether finished runs keep their resume checkpoints."""

    budget: str = "default"  # smoke, default or full
    data_dir: str | None = None
    out_dir: str = "runs"
    resume: bool = False
    overwrite: bool = False
    overrides: Sequence[str] = ()
    keep_checkpoints: bool = False  # else a finished run's are deleted (weights and results kept)

    def train(self, cfg: ExperimentConfig, **kwargs: object) -> TrainResult:
        """``train`` one run of the study (resumed or replaced as told; ``kwargs``: ``origin``,
        ``vocabularies``); a finished run's resume checkpoints (~140 MB for a SUS run, most of
        a study's disk) are pruned unless ``keep_checkpoints``."""
        result = train(cfg, resume=self.resume, overwrite=self.overwrite, **kwargs)
        if not self.keep_checkpoints:
            prune_checkpoints(result.run_dir)
        return result


T = TypeVar("T")


def budget_setting(settings: dict[str, T], budget: str) -> T:
    """What ``budget`` (smoke, default, full) means for one experiment."""
    if budget not in settings:
        raise ConfigError(f"budget {budget!r}: expected one of {', '.join(settings)}")
    return settings[budget]
