"""Parts from outside the package: a config's ``imports`` and installed plug-in packages.

A plug-in is any module that registers parts when imported (``@SPACES.register("mine")``), as
ours do. A config names its own in ``imports``: a module name (found on ``sys.path`` or in the
current folder, as ``python -m`` would) or a ``.py`` file (relative to the config file; the run's
saved config records its absolute path, so ``evaluate``, ``--resume`` and every ``--nproc``
process import the same file). An installed package registers its parts for every run through
the entry-point group ``sharedspace.parts``::

    [project.entry-points."sharedspace.parts"]
    my_parts = "my_package.parts"

Importing runs the module's code: name only files you trust, as with any Python import.
"""

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from sharedspace.errors import ConfigError

GROUP = "sharedspace.parts"


def load_entry_points() -> None:
    """Import every installed package's ``sharedspace.parts`` module (once per process)."""
    for entry in importlib.metadata.entry_points(group=GROUP):
        if entry.module not in sys.modules:
            entry.load()


def resolve_imports(imports: object, base: Path) -> list[str]:
    """The config's ``imports`` with each ``.py`` file made absolute against ``base``."""
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ConfigError(f"imports: expected a list of module names or .py files, got {imports!r}")
    return [str((base / i).resolve()) if i.endswith(".py") else i for i in imports]


def import_parts(imports: list[str]) -> list[ModuleType]:
    """Import each module name or absolute ``.py`` path (each file once per process)."""
    return [
        _import_file(Path(i), f"imports.{n}") if i.endswith(".py") else _import_module(i, n)
        for n, i in enumerate(imports)
    ]


def _import_module(name: str, n: int) -> ModuleType:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))  # after the installed packages, so none is shadowed
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name.split(".")[0] and e.name != name:
            raise  # the plug-in itself imports something missing: its traceback says what
        raise ConfigError(
            f"imports.{n}: no module named {name!r} on the Python path or in {Path.cwd()}"
        ) from None


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
    except BaseException:
        del sys.modules[name]  # as importlib does when a module fails
        raise
    return module
