"""Checkpoints: one file per step that holds everything needed to continue a run.

A run can be killed at any moment (power, OOM, Ctrl-C), so a save never leaves a half-written file
under the final name: it writes a temporary file in the same directory, fsyncs it, renames it into
place and fsyncs the directory. Each ``step_XXXXXXXX.pt`` has a ``.sha256`` sidecar in ``sha256sum``
format, so a truncated or tampered file is caught before it is unpickled, and a ``latest`` file
names the newest checkpoint that was completely written.

Loading uses ``torch.load(weights_only=True)``: a checkpoint from elsewhere can at worst fail to
load, never run code. Because that loader accepts only tensors and plain containers,
``save_checkpoint`` checks the state first, so a value it could not read back (a numpy array, a
``np.float64`` in a config) fails the save that wrote it, not the resume hours later.

A run folder may come from elsewhere too: only regular files are read or deleted — never a link,
a pipe or a device, nor anything in a checkpoints folder that is itself a link — and one open
serves both the checksum and the load. The fields the trainer reads back (``TRAINER_FIELDS``) are
checked for type and range on load, so a planted ``step`` of ``"7"`` or 10¹⁵ is an error naming
the file and the key.

Layout of a checkpoint directory::

    step_00000100.pt          torch.save of the state dict
    step_00000100.pt.sha256   "<hex digest>  step_00000100.pt"
    latest                    "step_00000100.pt"
"""

from __future__ import annotations

import collections
import math
import os
import pickle
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import torch

from sharedspace.errors import CheckpointError
from sharedspace.files import atomic_write, sha256_of
from sharedspace.precision import COMPUTE_DTYPES
from sharedspace.untrusted import open_regular, regular_file

LATEST = "latest"
_NAME = re.compile(r"^step_(\d{8,})\.pt$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
SMALL = 4096  # bytes of a `latest` pointer or a .sha256 sidecar (~85 written)
CHECKPOINT_LIMIT = 1 << 40  # no checkpoint nears 1 TiB; hashing takes time in proportion to size
MIN_NODES, NODES_PER_BYTE = 1 << 16, 10  # what a checkpoint may spell out to: far above ours
MAX_STEP = 10**12  # a million steps a second for eleven days: past it, a step number is planted

# Exactly the types torch.load(weights_only=True) rebuilds; subclasses (np.float64 is a float,
# an Enum may be a str) are refused by the loader, so the check compares types exactly.
_CONTAINERS = (dict, collections.OrderedDict, list, tuple, set)
_LEAVES = (
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
    torch.Tensor,
    torch.nn.Parameter,
    torch.Size,
    torch.dtype,
    torch.device,
)


def _module_state(value: object) -> bool:
    """A module's ``state_dict()``: named tensors, and a part's ``get_extra_state()`` values."""
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def _optimizer(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    groups = value.get("param_groups")
    return (
        isinstance(value.get("state"), dict)
        and isinstance(groups, list)
        and all(map(_is_dict, groups))
    )


def _rng(value: object) -> bool:
    generator = value.get("torch") if isinstance(value, dict) else None
    return isinstance(generator, torch.Tensor) and generator.dtype == torch.uint8


def _is_dict(value: object) -> bool:
    return isinstance(value, dict)


def _spelt_out_within(value: object, limit: int) -> bool:
    """Whether ``value`` spelt out — a container shared n times counted n times, as comparing,
    printing or writing it to JSON would — holds at most ``limit`` containers and leaves. A
    pickle may share one list many times over (its memo), so a few kB can spell out to 10¹⁰
    values; the walk stops at ``limit``, so its cost is bounded too."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(item, dict):
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list | tuple | set):
            stack += item
    return True


# What each key the trainer reads back must hold: (in words, the check). Checked where present.
TRAINER_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "step": (
        f"an int from 0 to {MAX_STEP:,}",
        lambda v: type(v) is int and 0 <= v <= MAX_STEP,
    ),
    "validations": ("an int, at least 0", lambda v: type(v) is int and 0 <= v <= MAX_STEP),
    "train_seconds": (
        "a finite number of seconds, at least 0",
        lambda v: type(v) in (int, float) and 0 <= v < math.inf,
    ),
    **dict.fromkeys(("model", "weighting"), ("a module's state dict", _module_state)),
    "optimizers": (
        'optimizer name → its state {"state": {...}, "param_groups": [{...}]}',
        lambda v: isinstance(v, dict) and all(map(_optimizer, v.values())),
    ),
    # before named optimizers (train.optimizers): the one optimizer's state
    "optimizer": ('an optimizer state {"state": {...}, "param_groups": [{...}]}', _optimizer),
    "rng": ('{"torch": a uint8 tensor}', _rng),
    "streams": ("a list of dicts", lambda v: isinstance(v, list) and all(map(_is_dict, v))),
    **dict.fromkeys(("sampler", "config", "task_states", "best"), ("a dict", _is_dict)),
    "precision": ("fp32, bf16 or fp16", lambda v: isinstance(v, str) and v in COMPUTE_DTYPES),
    "loss_scale": (  # LossScale's fields (fp16), else None
        "None or a dict of finite numbers",
        lambda v: (
            v is None
            or (
                _is_dict(v)
                and all(type(x) in (int, float) and math.isfinite(x) for x in v.values())
            )
        ),
    ),
}


def checkpoint_path(directory: Path, step: int) -> Path:
    """The file that holds step ``step``; zero-padded so names sort in step order."""
    return Path(directory) / f"step_{step:08d}.pt"


def save_checkpoint(state: dict, directory: Path, step: int, keep: int = 3) -> Path:
    """Write ``state`` atomically as ``directory/step_{step:08d}.pt``; keep the ``keep`` newest.

    Returns the checkpoint's path. Raises ``CheckpointError`` before writing anything if the state
    holds a value that ``load_checkpoint`` could not read back safely.
    """
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint state must be a dict, got {type(state).__name__}")
    _check_loadable(state, "state")

    directory = _folder(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, step)
    sidecar = _sidecar(path)

    # Order matters for a crash at any point: an old sidecar must never vouch for a new file,
    # and `latest` moves only once the file and its checksum are both in place.
    sidecar.unlink(missing_ok=True)
    digest = atomic_write(path, lambda f: torch.save(state, f))
    atomic_write(sidecar, lambda f: f.write(f"{digest}  {path.name}\n".encode()))
    atomic_write(directory / LATEST, lambda f: f.write(f"{path.name}\n".encode()))
    _prune(directory, keep, protect=path)
    return path


def load_checkpoint(path: Path) -> dict:
    """Verify ``path`` against its checksum, then load it without executing code from it.

    Raises ``CheckpointError`` naming the file, what is wrong with it and, when the directory holds
    an older checkpoint that verifies, that checkpoint.
    """
    path = Path(path)
    try:
        f = _open_verified(path)
    except _Unfit as problem:
        raise CheckpointError(_with_previous(f"checkpoint {path} {problem}", path)) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        try:
            state = torch.load(f, weights_only=True, map_location="cpu")
        except pickle.UnpicklingError as err:
            raise CheckpointError(
                _with_previous(
                    f"checkpoint {path} cannot be loaded safely: the weights-only loader refused "
                    f"it before running anything from it ({_loader_reason(err)}); it holds "
                    f"objects other than tensors and plain containers, or is not a torch "
                    f"checkpoint",
                    path,
                )
            ) from err
        except Exception as err:  # e.g. written by an incompatible torch; the checksum was fine
            raise CheckpointError(
                _with_previous(
                    f"checkpoint {path} matches its checksum but torch.load cannot read it "
                    f"({_loader_reason(err)})",
                    path,
                )
            ) from err
    if not isinstance(state, dict):
        raise CheckpointError(
            _with_previous(f"checkpoint {path} holds a {type(state).__name__}, not a dict", path)
        )
    if not _spelt_out_within(state, MIN_NODES + NODES_PER_BYTE * size):
        message = (
            f"checkpoint {path} holds values shared so many times over that, spelt out, they "
            "exceed what its size allows (a pickle's answer to a YAML alias bomb)"
        )
        raise CheckpointError(_with_previous(message, path))
    for key, (expected, fits) in TRAINER_FIELDS.items():
        if key in state and not fits(state[key]):
            found = state[key]
            plain = type(found) in (str, int, float, bool, type(None))
            shown = repr(found)[:40] if plain else f"a {type(found).__name__}"
            message = f"checkpoint {path} holds {key!r} = {shown}, not {expected}"
            raise CheckpointError(_with_previous(message, path))
    return state


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest completely written checkpoint in ``directory``, or None if there is none.

    Follows the ``latest`` pointer; without a usable pointer, returns the newest file whose
    checksum verifies. The pointer's target is not hashed here (``load_checkpoint`` does that).
    """
    directory = _folder(directory)
    try:
        name = _read_small(directory / LATEST).strip()
    except (CheckpointError, UnicodeDecodeError):  # none, a link, a pipe, junk: look for files
        name = ""
    if _NAME.match(name) and regular_file(directory / name, follow_links=False):
        return directory / name
    return next((p for p in _newest_first(directory) if _verify(p) is None), None)


def load_newest_good(directory: Path) -> tuple[Path, dict] | None:
    """The newest checkpoint of ``directory`` that verifies and loads, and its state (None when
    there is none at all). A newer one that fails is skipped with a warning that names it and
    why; CheckpointError when none loads."""
    path = latest_checkpoint(directory)
    while path is not None:
        try:
            return path, load_checkpoint(path)
        except CheckpointError as err:
            previous = previous_good(path)
            if previous is None:
                raise
            print(f"warning: skipping {path.name}: {str(err).split('; ')[0]}; resuming from "
                  f"{previous.name}", file=sys.stderr)  # fmt: skip
            path = previous
    return None


def previous_good(path: Path) -> Path | None:
    """The newest checkpoint older than ``path`` in the same directory whose checksum verifies."""
    path = Path(path)
    match = _NAME.match(path.name)
    before = int(match.group(1)) if match else None
    for candidate in _newest_first(path.parent):
        if candidate.name == path.name:
            continue
        if before is not None and checkpoint_step(candidate) >= before:
            continue
        if _verify(candidate) is None:
            return candidate
    return None


def _with_previous(message: str, path: Path) -> str:
    """Append where to resume from, so a broken checkpoint is a detour rather than a dead end."""
    previous = previous_good(path)
    if previous is None:
        return f"{message}; no older checkpoint in {path.parent} verifies"
    return (
        f"{message}; the previous good checkpoint is {previous} "
        f"(resume from it with load_checkpoint({str(previous)!r}), or move {path.name} aside "
        f"and resume: latest_checkpoint then falls back to the newest checkpoint that verifies)"
    )


def _loader_reason(err: Exception) -> str:
    """The one line of torch's refusal that says what was found, without its advice to retry
    with ``weights_only=False`` (which would run the file's code)."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip().split(". ")[0] for line in text.splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


class _Unfit(Exception):
    """What is wrong with a checkpoint file, phrased to follow its name."""


def _verify(path: Path) -> str | None:
    """What is wrong with ``path`` (phrased to follow its name), or None if its checksum matches."""
    try:
        _open_verified(path).close()
    except _Unfit as problem:
        return str(problem)
    return None


def _open_verified(path: Path) -> IO[bytes]:
    """``path`` opened at its start once its bytes match its checksum, else ``_Unfit``: the bytes
    checked are the bytes loaded, read from the regular file ``path`` names, never through a
    link."""
    sidecar = _sidecar(path)
    if not os.path.lexists(path):
        raise _Unfit("does not exist")
    if not os.path.lexists(sidecar):
        hint = "it may be left from an interrupted save"
        raise _Unfit(f"has no checksum file {sidecar.name}; {hint}")
    try:
        recorded = _read_small(sidecar).split()
    except (CheckpointError, UnicodeDecodeError) as err:
        reason = str(err).removeprefix(f"{sidecar}: ")
        raise _Unfit(f"has an unreadable checksum file {sidecar.name} ({reason})") from None
    if not recorded or not _DIGEST.match(recorded[0]):
        raise _Unfit(f"has a malformed checksum file {sidecar.name}")
    try:
        f = open_regular(path, CHECKPOINT_LIMIT, CheckpointError, follow_links=False)
    except CheckpointError as err:
        raise _Unfit(f"cannot be read: {str(err).removeprefix(f'{path}: ')}") from None
    try:
        actual = sha256_of(f)
        if actual != recorded[0]:
            raise _Unfit(
                f"fails its checksum: the file is truncated or was modified after it was written "
                f"(sha256 {actual}, expected {recorded[0]} from {sidecar.name})"
            )
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return f


def _read_small(path: Path) -> str:
    """A ``latest`` pointer or a ``.sha256`` sidecar: a regular file of at most ``SMALL`` bytes."""
    with open_regular(path, SMALL, CheckpointError, follow_links=False) as f:
        return f.read(SMALL + 1).decode("utf-8")


def _folder(directory: Path) -> Path:
    """``directory``, unless it is a link: its checkpoints would be read and pruned elsewhere."""
    directory = Path(directory)
    if directory.is_symlink():
        where = "checkpoints are read and written only in a folder of the run's own"
        raise CheckpointError(f"{directory}: a link; {where}")
    return directory


def _check_loadable(value: Any, where: str) -> None:
    """Raise naming the first value (by key path) that a weights-only load would refuse."""
    kind = type(value)
    if kind in _LEAVES:
        return
    if kind not in _CONTAINERS:
        raise CheckpointError(
            f"{where} is a {kind.__module__}.{kind.__qualname__}, which load_checkpoint cannot "
            f"read back safely; store tensors, plain containers, str, int, float, bool or None "
            f"(e.g. torch.from_numpy(array), float(x))"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_loadable(key, f"{where} key {key!r}")
            _check_loadable(item, f"{where}[{key!r}]")
    else:
        for index, item in enumerate(value):
            _check_loadable(item, f"{where}[{index}]")


def _prune(directory: Path, keep: int, protect: Path) -> None:
    """Delete all but the ``keep`` newest checkpoints, never the one just written."""
    for old in list(_newest_first(directory))[keep:]:
        if old.name == protect.name:
            continue
        for path in (_sidecar(old), old):
            if regular_file(path, follow_links=False):  # a link or anything planted: left alone
                path.unlink()


def _newest_first(directory: Path) -> Iterator[Path]:
    """Checkpoint files in ``directory`` (regular files, not links), highest step first."""
    directory = _folder(directory)
    if not directory.is_dir():
        return iter(())
    found = [
        p
        for p in directory.iterdir()
        if _NAME.match(p.name) and regular_file(p, follow_links=False)
    ]
    return iter(sorted(found, key=checkpoint_step, reverse=True))


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint file holds, read from its name (``step_00000100.pt`` → 100)."""
    return int(_NAME.match(Path(path).name).group(1))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")
