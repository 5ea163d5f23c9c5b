"""What a config can name: every registry, its entries and their settings (``sharedspace list``).

Built from the registries themselves, so a part registered by a plug-in shows up like ours.
"""

import dataclasses
import inspect
import typing
from typing import Any

from sharedspace.config import Component, field_default, type_name
from sharedspace.data import BIT_SOURCES, DOWNLOADS, IMAGE_DATASETS, TEXT_CORPORA, TOKENIZERS
from sharedspace.errors import ConfigError
from sharedspace.experiments import EXPERIMENTS
from sharedspace.modalities import MODALITIES
from sharedspace.plugins import load_entry_points
from sharedspace.registry import Registry
from sharedspace.spaces import BLOCKS, SPACES
from sharedspace.tasks import TASKS
from sharedspace.train.sampling import SAMPLERS
from sharedspace.train.weighting import WEIGHTINGS

# section of ``sharedspace list`` → (registry, where a config names an entry)
SECTIONS: dict[str, tuple[Registry, str]] = {
    "caps": (MODALITIES, "model.modalities.<key>.name"),
    "spaces": (SPACES, "model.space.name"),
    "blocks": (BLOCKS, "model.space.expert.name (a mixture's experts)"),
    "tasks": (TASKS, "tasks.<name>.kind; settings under tasks.<name>.head"),
    "samplers": (SAMPLERS, "train.sampler.name"),
    "weightings": (WEIGHTINGS, "train.weighting.name"),
    "image-datasets": (IMAGE_DATASETS, "tasks.<name>.data.source"),
    "text-corpora": (TEXT_CORPORA, "tasks.<name>.data.source"),
    "bit-sources": (BIT_SOURCES, "tasks.<name>.data.source"),
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


def describe(section: str) -> str:
    """One section of the catalogue as text: each entry, its summary and its settings."""
    load_entry_points()
    if section not in SECTIONS:
        raise ConfigError(f"unknown section {section!r}; known: {', '.join(SECTIONS)}")
    registry, where = SECTIONS[section]
    lines = [f"{section} ({where})"]
    for name in registry:
        entry = registry.get(name)
        note = " [sharedspace data download]" if name in DOWNLOADS else ""
        lines.append(f"  {name}{note}: {_summary(entry)}")
        config = getattr(entry, "Config", None)
        if config is not None:
            lines += [f"      {line}" for line in settings(config)]
        for kind, view in getattr(entry, "data_views", {}).items():
            lines.append(f"      data from {kind} sources:")
            lines += [f"        {line}" for line in settings(view.Config)]
    return "\n".join(lines)
