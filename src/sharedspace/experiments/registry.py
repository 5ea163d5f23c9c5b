"""Published experiments by name: ``sharedspace reproduce NAME`` calls the entry."""

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sharedspace.errors import ConfigError
from sharedspace.registry import Registry

EXPERIMENTS: Registry[Callable[..., Path]] = Registry("experiment")
T = TypeVar("T")


def budget_setting(settings: dict[str, T], budget: str) -> T:
    """What ``budget`` (smoke, default, full) means for one experiment."""
    if budget not in settings:
        raise ConfigError(f"budget {budget!r}: expected one of {', '.join(settings)}")
    return settings[budget]
