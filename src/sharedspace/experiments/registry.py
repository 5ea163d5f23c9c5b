"""Published experiments by name: ``sharedspace reproduce NAME`` calls the entry."""

from collections.abc import Callable
from pathlib import Path

from sharedspace.registry import Registry

EXPERIMENTS: Registry[Callable[..., Path]] = Registry("experiment")
