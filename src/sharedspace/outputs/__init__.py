"""Output nets: map the shared space to what a task's loss reads, shared by every task whose
targets are of one output modality (language, categorical, pixels) — the output side of caps.

Contract (checked for every entry by one registry-wide test): an output-net class has a
``Config`` dataclass, ``target_kinds`` (the ``data.specs.TARGET_KINDS`` it can produce),
``accepts`` (the representation forms of z it reads), the ``aux_losses`` it may emit (with
``parts.emit``), is built as ``cls(cfg, in_dim, target, task_tokens)`` with ``target`` the
tasks' target spec and ``task_tokens`` one command token per task index (its name, or
``tasks.<t>.task_token``), and is called as ``net(z, task)`` with ``task`` the task's index. It
returns, by target kind: classes → logits (B, C); token → logits (B, V) from a vector z;
tokens → logits (B, L, V) from a PaddedSequence of states (B, L, D); pixels → images
(B, C, H, W) in [0, 1].

A net with ``decodes = True`` also feeds a space that decodes: ``start_id`` (an id no real token
has), ``embed(tokens, task)``, ``shifted(y, y_mask, task)`` (the embedded targets shifted right
behind the task's start token, for teacher forcing) and ``token_steps(steps, task)`` (a
``decoding.IncrementalDecoder`` over the space's incremental steps). Start tokens are
``parts.ParameterRows``, one row per distinct task token; a row that one task alone starts from
is that task's parameter (``task_parameters()``), a row several share is shared.
"""

from sharedspace.outputs.base import OUTPUTS, OutputNet, build_output
from sharedspace.outputs.categorical import Categorical
from sharedspace.outputs.language import Language
from sharedspace.outputs.pixels import Pixels
from sharedspace.outputs.xception import XceptionExit

__all__ = [
    "OUTPUTS",
    "Categorical",
    "Language",
    "OutputNet",
    "Pixels",
    "XceptionExit",
    "build_output",
]
