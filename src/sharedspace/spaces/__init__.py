"""Shared spaces: the part every task goes through.

Contract (checked for every entry by one registry-wide test): a space class has a ``Config``
dataclass, ``forms`` (each representation form it takes → the form it returns: a vector-only
space is ``{"vector": "vector"}``), the ``aux_losses`` it may emit, is built as
``cls(cfg, in_dim, num_tasks)``, exposes ``out_dim``, and is called as ``space(h, task)`` with
``h`` a (B, in_dim) tensor or a PaddedSequence of (B, T, in_dim) and ``task`` the task's index in
the run's task list. It returns ``z`` ((B, out_dim) or a PaddedSequence of (B, T, out_dim)); it
and any module inside it emit their aux losses with ``parts.emit`` (``aux_losses`` of the space
class lists every name they may emit). A ``sparse`` space (class attribute, default False)
computes only the experts each row is routed to, so an expert that no row chose gets no gradient
in that step; every other space's parameters all get one from every task together. A space may
declare ``param_groups()`` and ``task_parameters()`` (see ``parts``): per-task gates are kept as
``ParameterRows``, so a task not in the step leaves its own parameters untouched. A space whose
defaults are slow to train on a test's tiny batch declares ``toy``, the settings of a small
instance, which the registry-wide tests build instead. A space whose settings name tasks (groups
of tasks by name) gives its ``Config`` a ``name_tasks(tasks, key)`` method, which reading the
config calls with the run's task names in order (ConfigError for a name that is not a task).

A space that ``decodes`` (class attribute, default False) is an autoregressive decoder over the
cap's output as memory: it is also called as ``space(h, task, targets)`` with ``targets`` the
embedded, shifted targets a task's output net gives it, a PaddedSequence of (B, L, out_dim), and
returns one state per target position, a PaddedSequence of (B, L, out_dim) with the targets'
mask, position t reading targets[:, :t + 1] only. That call is ``space.decode(space.encode(h,
task), targets)``: ``encode`` gives the memory the decoder reads (opaque to callers), so one
encoding serves both teacher forcing and prediction (validation reads a batch once, as fairseq's
encoder–decoder models do). For prediction, ``space.decoder(memory, cached=True)`` → ``(steps,
state)`` decodes incrementally on embeddings, up to ``max_len`` positions: ``steps.step(x (N,
out_dim), state) -> (states (N, out_dim), state)`` and ``steps.reorder(state, rows)``.
"""

from sharedspace.spaces import (  # noqa: F401  (registers the entries)
    blocks,
    branched,
    cross_stitch,
    decoder,
    mixture,
    mmoe,
    moe,
    multi_clustering,
    multimodel,
    none,
    routing,
    separate,
    sus,
)
from sharedspace.spaces.registry import BLOCKS, SPACES, build_block, build_space

__all__ = ["BLOCKS", "SPACES", "build_block", "build_space"]
