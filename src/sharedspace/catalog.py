"""What a config can name: every registry, its entries and their settings (``sharedspace list``).

Built from the registries themselves, so a part registered by a plug-in shows up like ours.
"""

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any

from sharedspace.config import Component, field_default, type_name
from sharedspace.data import DATA_KINDS, DATASETS, DOWNLOADS, TOKENIZERS
from sharedspace.data.download import FETCHERS
from sharedspace.errors import ConfigError
from sharedspace.experiments import EXPERIMENTS
from sharedspace.modalities import MODALITIES
from sharedspace.outputs import OUTPUTS
from sharedspace.plugins import load_entry_points
from sharedspace.registry import Registry
from sharedspace.spaces import BLOCKS, SPACES
from sharedspace.tasks import TASKS
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.train.optimizers import OPTIMIZERS
from sharedspace.train.sampling import SAMPLERS
from sharedspace.train.schedule import SCHEDULES
from sharedspace.train.step import STEPS
from sharedspace.train.weighting import WEIGHTINGS

# section of ``sharedspace list`` → (registry, where a config names an entry)
SECTIONS: dict[str, tuple[Registry, str]] = {
    "caps": (MODALITIES, "model.modalities.<key>.name"),
    "spaces": (SPACES, "model.space.name"),
    "blocks": (BLOCKS, "model.space.expert.name (a mixture's experts)"),
    "outputs": (OUTPUTS, "model.outputs.<key>.name; tasks.<name>.output: <key>"),
    "tasks": (TASKS, "tasks.<name>.kind; settings under tasks.<name>.head"),
    "samplers": (SAMPLERS, "train.sampler.name"),
    "weightings": (WEIGHTINGS, "train.weighting.name"),
    "optimizers": (OPTIMIZERS, "train.optimizer; train.optimizers.<name>.optimizer"),
    "schedules": (SCHEDULES, "train.schedule; train.optimizers.<name>.schedule"),
    "steps": (STEPS, "train.step.name (the update rule)"),
    "datasets": (DATASETS, "tasks.<name>.data.source; grouped by data kind"),
    "tokenizers": (TOKENIZERS, "tasks.<name>.data.tokenizer"),
    "experiments": (EXPERIMENTS, "sharedspace reproduce <name>"),
}


def settings(config: type) -> list[str]:
    """``name: type = default`` for each field of a ``Config`` dataclass."""
    hints = typing.get_type_hints(config)
    lines = []
    for f in dataclasses.fields(config):
        default, kind = field_default(f), type_name(hints[f.name])
        if isinstance(default, Component):  # a part inside a part: a mixture's expert block
            default, kind = default.name, f.metadata.get("registry") or kind
        shown = " (required)" if default is dataclasses.MISSING else f" = {default!r}"
        lines.append(f"{f.name}: {kind}{shown}")
    return lines


def _summary(entry: Any, width: int = 100) -> str:
    """The first paragraph of the entry's own docstring (else its module's), cut to ``width``."""
    own = vars(entry).get("__doc__") if isinstance(entry, type) else entry.__doc__
    doc = own or inspect.getmodule(entry).__doc__ or ""
    paragraph = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    return paragraph if len(paragraph) <= width else paragraph[:width].rsplit(" ", 1)[0] + " …"


def _entry(name: str, entry: Any) -> list[str]:
    """An entry's line (its summary) and its settings."""
    note = " [sharedspace data download]" if name in DOWNLOADS or name in FETCHERS else ""
    lines = [f"  {name}{note}: {_summary(entry)}"]
    config = getattr(entry, "Config", None)
    if config is not None:
        lines += [f"      {line}" for line in settings(config)]
    return lines


def _entries(registry: Registry) -> list[str]:
    """Each entry of ``registry``, one after the other."""
    return [line for name in registry for line in _entry(name, registry.get(name))]


def _task_kinds(registry: Registry) -> list[str]:
    """Each task kind with its head's settings and, per data kind, its views and their fields."""
    lines = []
    for name in registry:
        lines += _entry(name, registry.get(name))
        for data_kind, views in DATA_VIEWS.of(name).items():
            for view_name, view in views.items():
                default = " (the default)" if len(views) == 1 else ""
                reads = f"{data_kind} data → {view.target} targets"
                lines.append(f"      data view {view_name}{default}: {reads}")
                lines += [f"        {line}" for line in settings(view.Config)]
    return lines


def _datasets_by_kind(registry: Registry) -> list[str]:
    """Datasets under a heading per data kind (its spec's summary), with their loaders'."""
    lines = []
    for kind in DATA_KINDS:
        of_kind = [name for name in registry if registry.get(name).kind == kind]
        if of_kind:
            lines.append(f" {kind} data: {_summary(DATA_KINDS.get(kind))}")
            lines += [line for name in of_kind for line in _entry(name, registry.get(name).load)]
    return lines


# sections listed otherwise than entry after entry (``_entries``)
LISTINGS: dict[str, Callable[[Registry], list[str]]] = {
    "tasks": _task_kinds,
    "datasets": _datasets_by_kind,
}


def describe(section: str) -> str:
    """One section of the catalogue as text: each entry, its summary and its settings."""
    load_entry_points()
    if section not in SECTIONS:
        raise ConfigError(f"unknown section {section!r}; known: {', '.join(SECTIONS)}")
    registry, where = SECTIONS[section]
    return "\n".join([f"{section} ({where})", *LISTINGS.get(section, _entries)(registry)])
