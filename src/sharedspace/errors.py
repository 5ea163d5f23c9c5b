"""The project's own exceptions: each names the file, key or value at fault and what was expected.

The CLI prints these as one clean message (no traceback); anything else is a bug.
"""

import reprlib
from typing import Any


class SharedSpaceError(Exception):
    """Base of every error the project raises on purpose for bad input."""


class ConfigError(SharedSpaceError):
    """A config key, type or value is wrong; the message lists every problem with its dotted key."""


class DataError(SharedSpaceError):
    """A data file is missing, truncated or malformed; the message names the file."""


class CheckpointError(SharedSpaceError):
    """A checkpoint is missing, corrupt, tampered with or unsafe to load."""


class Interrupted(SharedSpaceError):
    """SIGINT or SIGTERM: training stopped at the end of a step and saved a checkpoint there."""


def clip(text: str, limit: int = 100) -> str:
    """``text`` cut to ``limit`` characters: messages quote what anyone may have written."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value: Any) -> str:
    """``repr`` of at most 100 characters, built without spelling out a huge value."""
    return clip(_SHORT.repr(value))


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 2, 60, 60, 40
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 6


def short_key(key: Any) -> str:
    """One part of a dotted key, cut short (a key may be any string in a file)."""
    return clip(str(key), 40)
