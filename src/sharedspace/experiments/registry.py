"""Published experiments by name: ``sharedspace reproduce NAME`` calls the entry."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sharedspace.errors import ConfigError
from sharedspace.registry import Registry

EXPERIMENTS: Registry[Callable[..., Path]] = Registry("experiment")  # (RunOptions) → table


@dataclass(frozen=True)
class RunOptions:
    """What ``sharedspace reproduce`` tells every experiment: which budget, where the data is and
    the runs go, whether to continue or replace earlier runs, and overrides for every run."""

    budget: str = "default"  # smoke, default or full
    data_dir: str | None = None
    out_dir: str = "runs"
    resume: bool = False
    overwrite: bool = False
    overrides: Sequence[str] = ()


T = TypeVar("T")


def budget_setting(settings: dict[str, T], budget: str) -> T:
    """What ``budget`` (smoke, default, full) means for one experiment."""
    if budget not in settings:
        raise ConfigError(f"budget {budget!r}: expected one of {', '.join(settings)}")
    return settings[budget]
