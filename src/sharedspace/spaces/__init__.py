"""Shared spaces: the part every task goes through.

Contract: a space class has a ``Config`` dataclass, is built as ``cls(cfg, in_dim, num_tasks)``,
exposes ``out_dim``, and is called as ``space(h, task)`` with ``h`` of shape (B, in_dim) and
``task`` the task's index in the run's task list; it returns ``(z, aux)`` with ``z`` of shape
(B, out_dim) and ``aux`` a dict of named auxiliary losses (empty when it has none) that the
trainer weights and logs by name.
"""

from sharedspace.spaces import none, sus  # noqa: F401  (registers the entries)
from sharedspace.spaces.registry import SPACES, build_space

__all__ = ["SPACES", "build_space"]
