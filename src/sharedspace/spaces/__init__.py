"""Shared spaces: the part every task goes through.

Contract (checked for every entry by one registry-wide test): a space class has a ``Config``
dataclass, ``forms`` (each representation form it takes → the form it returns: a vector-only
space is ``{"vector": "vector"}``), the ``aux_losses`` it may emit, is built as
``cls(cfg, in_dim, num_tasks)``, exposes ``out_dim``, and is called as ``space(h, task)`` with
``h`` a (B, in_dim) tensor or a PaddedSequence of (B, T, in_dim) and ``task`` the task's index in
the run's task list. It returns ``z`` ((B, out_dim) or a PaddedSequence of (B, T, out_dim)), or
``(z, {name: loss})`` when it declares ``aux_losses``.
"""

from sharedspace.spaces import none, sus  # noqa: F401  (registers the entries)
from sharedspace.spaces.registry import SPACES, build_space

__all__ = ["SPACES", "build_space"]
