"""The run record, ``run.json``: how a run folder came to be, one entry per training session.

The config says what to train; the record says what produced these numbers — the command and the
config file as typed with their overrides, the code (package version, git commit and whether the
tree had uncommitted changes) and the libraries it ran with — for the first session and for every
resume, with the steps each session trained, how it ended and the config keys a resume changed.
It is rewritten atomically when a session starts and ends; earlier sessions are never lost.
"""

import contextlib
import datetime
import json
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import sharedspace
from sharedspace import layout
from sharedspace.errors import Interrupted, SharedSpaceError
from sharedspace.files import atomic_write
from sharedspace.untrusted import inside, read_json


@dataclass
class Origin:
    """Where a run's config came from, as the user typed it (the CLI fills it; Python callers
    may)."""

    config: str | None = None
    overrides: list[str] = field(default_factory=list)


CODE_KEYS = ("sharedspace", "commit", "dirty", "python", "torch", "numpy", "platform")


@cache
def code_version() -> dict[str, Any]:
    """The package version, its git commit when it runs from a checkout (an editable install),
    and the versions of what it runs on."""
    commit, dirty = _git_commit()
    values = (sharedspace.__version__, commit, dirty, platform.python_version())
    values += (torch.__version__, np.__version__, platform.platform())
    return dict(zip(CODE_KEYS, values, strict=True))


def describe_code(*versions: dict[str, Any]) -> str:
    """The code that produced some results (``code_version()`` dicts, or dicts holding their
    keys, such as a run's results) as words for a table's note: one version, or each of them."""
    words = []
    for version in versions:
        if "sharedspace" not in version:
            text = "code version not recorded"
        elif version.get("commit") is None:
            text = f"sharedspace {version['sharedspace']} (no git commit)"
        else:
            dirty = " with uncommitted changes" if version.get("dirty") else ""
            text = f"sharedspace {version['sharedspace']}, commit {version['commit'][:12]}{dirty}"
        words.append(text)
    distinct = list(dict.fromkeys(words))
    return distinct[0] if len(distinct) == 1 else "code: " + "; ".join(distinct)


def _git_commit() -> tuple[str | None, bool | None]:
    """(HEAD, whether tracked files differ from it) of this package's own repository; (None,
    None) when installed from a wheel, without git, or inside some other repository."""
    package = Path(sharedspace.__file__).resolve().parent
    try:
        top = _git(package, "rev-parse", "--show-toplevel")
        if Path(top).resolve() / "src" / "sharedspace" != package:
            return None, None
        commit = _git(package, "rev-parse", "HEAD")
        dirty = bool(_git(package, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


def _git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def command_line() -> str:
    """This process's command as a shell line; ``sharedspace …`` for our own entry point (also
    under torchrun, whose workers run ``python -m sharedspace.cli``)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("sharedspace", "cli.py"):
        return shlex.join(["sharedspace", *argv[1:]])
    return shlex.join([Path(sys.executable).name, *argv])


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _read_sessions(path: Path) -> list[dict[str, Any]]:
    """The sessions of a ``run.json``; anything but a regular file in the run folder holding
    ``{"sessions": [objects]}`` is an error saying what it is."""
    try:
        if not inside(path, path.parent):
            raise SharedSpaceError("a link out of the run folder")
        record = read_json(path)
        sessions = record.get("sessions") if isinstance(record, dict) else None
        if not (isinstance(sessions, list) and all(isinstance(s, dict) for s in sessions)):
            raise SharedSpaceError('not {"sessions": [objects]}')
    except SharedSpaceError as err:
        reason = str(err).removeprefix(f"{path}: ")
        raise SharedSpaceError(
            f"{path}: not a run record ({reason}); move it aside to start a new record"
        ) from None
    return sessions


class RunRecord:
    """``run.json`` of one run folder; only the main process writes it."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.path = Path(run_dir) / layout.RECORD
        self.enabled = enabled
        self.sessions: list[dict[str, Any]] = []
        if enabled and (self.path.exists() or self.path.is_symlink()):
            self.sessions = _read_sessions(self.path)

    @contextlib.contextmanager
    def session(
        self,
        origin: Origin | None,
        from_step: int,
        processes: int,
        device: str,
        changes: dict,
        precision: str = "fp32",
    ) -> Iterator[dict[str, Any]]:
        """One training session, recorded when it opens (what was typed, where training starts,
        on what, in which precision — auto's choice —, with which code) and when the block
        exits: ``finished``, ``stopped`` (a signal; a checkpoint was saved) or ``failed (the
        error)``. The block keeps ``to_step`` current
        and may add entries (the test metrics)."""
        session = {"started": _now(), "ended": None, "outcome": "running", "from_step": from_step}
        session |= {"to_step": from_step, "command": command_line(), **asdict(origin or Origin())}
        if from_step:
            session["changed"] = changes  # dotted key → [before, now] for this resume
        session |= {"processes": processes, "device": device, "precision": precision}
        if self.enabled:  # only the writer asks git (no subprocess from the other ranks)
            session |= code_version()
        self.sessions.append(session)
        self._write()
        try:
            yield session
        except Interrupted:
            session["outcome"] = "stopped"
            raise
        except BaseException as err:
            session["outcome"] = f"failed ({type(err).__name__}: {str(err)[:200]})"
            raise
        else:
            session["outcome"] = "finished"
        finally:
            session["ended"] = _now()
            self._write()

    def _write(self) -> None:
        if self.enabled:
            text = json.dumps({"sessions": self.sessions}, indent=2).encode()
            atomic_write(self.path, lambda f: f.write(text))
