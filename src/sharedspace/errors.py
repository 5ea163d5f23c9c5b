"""The project's own exceptions: each names the file, key or value at fault and what was expected.

The CLI prints these as one clean message (no traceback); anything else is a bug.
"""


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
