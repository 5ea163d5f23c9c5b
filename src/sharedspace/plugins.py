"""Parts from outside the package: a config's ``imports`` and installed plug-in packages.

A plug-in is any module that registers parts when imported (``@SPACES.register("mine")``), as
ours do. A config names its own in ``imports``: a module name (found on ``sys.path`` or in the
current folder, as ``python -m`` would) or a ``.py`` file (relative to the config file; the run's
saved config records its absolute path, so ``evaluate``, ``--resume`` and every ``--nproc``
process import the same file). An installed package registers its parts for every run through
the entry-point group ``sharedspace.parts``::

    [project.entry-points."sharedspace.parts"]
    my_parts = "my_package.parts"

Importing runs the module's code: name only files you trust, as with any Python import. A
plug-in that fails while it is imported (a syntax error, a missing dependency, a name registered
twice) is a one-line error naming its ``imports.N`` (or entry point), file and line.
"""

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from sharedspace.errors import ConfigError, clip, short

GROUP = "sharedspace.parts"
MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def load_entry_points() -> None:
    """Import every installed package's ``sharedspace.parts`` module (once per process)."""
    for entry in _entry_points(tuple(sys.path)):
        if entry.module not in sys.modules:
            try:
                entry.load()
            except Exception as e:
                where = f"entry point {entry.name} = {entry.value} ({GROUP})"
                raise _failed(where, entry.module, e) from e


@functools.lru_cache(maxsize=8)
def _entry_points(path: tuple[str, ...]) -> tuple[importlib.metadata.EntryPoint, ...]:
    """The group's entry points found on this ``sys.path``: reading every installed package's
    metadata takes ~10 ms, as long as the rest of reading a config, so it is done once per path
    (a package installed while the process runs is seen by the next process, as with imports)."""
    return tuple(importlib.metadata.entry_points(group=GROUP))


def resolve_imports(imports: object, base: Path) -> list[str]:
    """The config's ``imports`` with each ``.py`` file made absolute against ``base``."""
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ConfigError(
            f"imports: expected a list of module names or .py files, got {short(imports)}"
        )
    return [str((base / i).resolve()) if i.endswith(".py") else i for i in imports]


def import_parts(imports: list[str]) -> list[ModuleType]:
    """Import each module name or absolute ``.py`` path (each file once per process)."""
    return [
        _import_file(Path(i), f"imports.{n}") if i.endswith(".py") else _import_module(i, n)
        for n, i in enumerate(imports)
    ]


def _import_module(name: str, n: int) -> ModuleType:
    if not MODULE_NAME.match(name):
        raise ConfigError(f"imports.{n}: {short(name)} is neither a module name nor a .py file")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))  # after the installed packages, so none is shadowed
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name.split(".")[0] and e.name != name:
            raise _failed(f"imports.{n}", name, e) from e  # the plug-in imports something missing
        raise ConfigError(
            f"imports.{n}: no module named {name!r} on the Python path or in {Path.cwd()}"
        ) from None
    except Exception as e:
        raise _failed(f"imports.{n}", name, e) from e


def _import_file(path: Path, key: str) -> ModuleType:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"sharedspace_plugin_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise ConfigError(f"{key}: {path}: plug-in file not found")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]  # as importlib does when a module fails
        raise _failed(key, name, e) from e
    except BaseException:  # Ctrl-C stays Ctrl-C
        del sys.modules[name]
        raise
    return module


def _failed(key: str, module: str, error: Exception) -> ConfigError:
    """A plug-in's failure while it is imported — a syntax error, an import of something missing,
    a part registered twice, any exception its code raises — as one line naming the config key,
    the plug-in's file and line: the fault is the plug-in's, not an internal error of ours."""
    if isinstance(error, SyntaxError):
        where, problem = f"{error.filename}, line {error.lineno}", str(error.msg)
    else:  # the innermost line of the plug-in's own code (a module, or a package's modules)
        package = module.partition(".")[0]
        lines = [
            f"{frame.f_code.co_filename}, line {line}"
            for frame, line in traceback.walk_tb(error.__traceback__)
            if str(frame.f_globals.get("__name__")).partition(".")[0] == package
        ]
        where, problem = (lines or [f"module {module}"])[-1], str(error)
    first = clip((problem.splitlines() or [""])[0])
    return ConfigError(f"{key}: plug-in {where}: {type(error).__name__}: {first}")
