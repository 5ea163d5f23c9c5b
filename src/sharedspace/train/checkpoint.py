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

Layout of a checkpoint directory::

    step_00000100.pt          torch.save of the state dict
    step_00000100.pt.sha256   "<hex digest>  step_00000100.pt"
    latest                    "step_00000100.pt"
"""

from __future__ import annotations

import collections
import pickle
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from sharedspace.errors import CheckpointError
from sharedspace.files import atomic_write, sha256_file

LATEST = "latest"
_NAME = re.compile(r"^step_(\d{8,})\.pt$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

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

    directory = Path(directory)
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
    problem = _verify(path)
    if problem is not None:
        raise CheckpointError(_with_previous(f"checkpoint {path} {problem}", path))
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            _with_previous(
                f"checkpoint {path} cannot be loaded safely: the weights-only loader refused it "
                f"before running anything from it ({_loader_reason(err)}); it holds objects other "
                f"than tensors and plain containers, or is not a torch checkpoint",
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
    return state


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest completely written checkpoint in ``directory``, or None if there is none.

    Follows the ``latest`` pointer; without a usable pointer, returns the newest file whose
    checksum verifies. The pointer's target is not hashed here (``load_checkpoint`` does that).
    """
    directory = Path(directory)
    pointer = directory / LATEST
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        name = ""
    if _NAME.match(name) and (directory / name).is_file():
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


def _verify(path: Path) -> str | None:
    """What is wrong with ``path`` (phrased to follow its name), or None if its checksum matches."""
    if not path.is_file():
        return "does not exist"
    sidecar = _sidecar(path)
    try:
        recorded = sidecar.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return f"has no checksum file {sidecar.name}; it may be left from an interrupted save"
    except (OSError, UnicodeDecodeError) as err:
        return f"has an unreadable checksum file {sidecar.name} ({err})"
    if not recorded or not _DIGEST.match(recorded[0]):
        return f"has a malformed checksum file {sidecar.name}"
    actual = sha256_file(path)
    if actual != recorded[0]:
        return (
            f"fails its checksum: the file is truncated or was modified after it was written "
            f"(sha256 {actual}, expected {recorded[0]} from {sidecar.name})"
        )
    return None


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
        if old.name != protect.name:
            _sidecar(old).unlink(missing_ok=True)
            old.unlink(missing_ok=True)


def _newest_first(directory: Path) -> Iterator[Path]:
    """Checkpoint files in ``directory``, highest step first."""
    if not directory.is_dir():
        return iter(())
    found = [p for p in directory.iterdir() if _NAME.match(p.name) and p.is_file()]
    return iter(sorted(found, key=checkpoint_step, reverse=True))


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint file holds, read from its name (``step_00000100.pt`` → 100)."""
    return int(_NAME.match(Path(path).name).group(1))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")
