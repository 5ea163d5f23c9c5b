"""Command-line overrides as Hydra spells them, merged into a config's plain data by its schema.

    key=value     set; the value is YAML: 3e-4, [256, 256], {name: cagrad, c: 0.5}, null
    +key=value    add a key the config does not have yet (a task, a modality)
    ~key          delete a key the config sets (a task, a modality; a setting back to its default)

An override edits the config as it stands — the file over the schema's defaults — so it merges
into a section instead of replacing it: ``model.space.hidden=[256, 256]`` keeps the space's name
and other settings, ``model.modalities.image.channels=[16, 32]`` keeps the text cap, and a bare
name (``weighting: uncertainty``) opens into ``{name: uncertainty}`` when a key under it is set.
A new task or modality needs ``+``, so a misspelt one is an error rather than a half-made entry;
any other unknown key is left to validation, which names it with a suggestion.
"""

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from sharedspace.config import (
    NO_META,
    Component,
    ExperimentConfig,
    Meta,
    field_default,
    load_yaml,
    parse_yaml,
    short,
    to_dict,
)
from sharedspace.errors import ConfigError

MISSING = dataclasses.MISSING
OPS = {"+": "add", "~": "delete"}


@dataclass(frozen=True)
class Override:
    op: Literal["set", "add", "delete"]
    path: tuple[str, ...]
    value: Any = None
    text: str = ""  # as typed, for messages and the run record

    @classmethod
    def parse(cls, text: str) -> "Override":
        op = OPS.get(text[:1], "set")
        body = text[1:] if op != "set" else text
        key, sep, raw = body.partition("=")
        path = tuple(key.split("."))
        if op == "delete" and sep:
            raise ConfigError(f"override {short(text)}: ~key deletes a key and takes no value")
        if (op != "delete" and not sep) or not all(path):
            raise ConfigError(f"override {short(text)}: expected key=value, +key=value or ~key")
        try:
            value = parse_yaml(raw) if sep else None
        except yaml.YAMLError as e:  # one line: what is wrong and where, not PyYAML's excerpt
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            mark = getattr(e, "problem_mark", None)
            where = f" at column {mark.column + 1} of the value" if mark else ""
            raise ConfigError(f"override {short(text)}: not valid YAML: {problem}{where}") from None
        return cls(op, path, value, text)

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def apply(self, data: dict[str, Any], schema: type = ExperimentConfig) -> None:
        """Edit ``data`` (plain config data shaped by ``schema``) in place."""
        node, tp, meta = data, schema, NO_META
        for i, part in enumerate(self.path[:-1]):
            child_tp, child_meta = _child(tp, meta, part)
            if part not in node:
                if _holds_entries(tp):
                    self._not_in_config(i + 1)
                # a section takes its defaults when built; a collection or component is filled in
                default = {} if dataclasses.is_dataclass(child_tp) else _default(tp, part)
                node[part] = {} if default is MISSING or default is None else default
            child = node[part]
            if isinstance(child, str) and child_tp is Component and child_meta.get("name_key"):
                child = node[part] = {child_meta["name_key"]: child}  # a bare name opens up
            if not isinstance(child, dict):
                where = ".".join(self.path[: i + 1])
                raise ConfigError(
                    f"override {short(self.text)}: {where} is {short(child)}, not a mapping"
                )
            node, tp, meta = child, child_tp, child_meta
        last = self.path[-1]
        if self.op == "delete":
            if last not in node:
                raise ConfigError(
                    f"override {short(self.text)}: {self.key} is not set; nothing to drop"
                )
            del node[last]
        elif self.op == "add":
            if last in node or _default(tp, last) is not MISSING:
                raise ConfigError(
                    f"override {short(self.text)}: {self.key} is already in the config; "
                    f"set it with {self.key}=…"
                )
            node[last] = self.value
        else:
            if last not in node and _holds_entries(tp):
                self._not_in_config(len(self.path))
            node[last] = self.value

    def fits(self, data: dict[str, Any]) -> bool:
        """False for a change to a task that ``data`` does not have (see ``apply_to_each``)."""
        task = self.path[1] if self.path[0] == "tasks" and len(self.path) > 1 else None
        return task is None or self.op == "add" or task in data.get("tasks", {})

    def _not_in_config(self, depth: int) -> typing.NoReturn:
        where = ".".join(self.path[:depth])
        raise ConfigError(
            f"override {short(self.text)}: {where} is not in the config; add it with +{where}=…"
        )


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0] if len(inner) == 1 else Any
    return tp


def _child(tp: Any, meta: Meta, key: str) -> tuple[Any, Meta]:
    """The schema (type hint, field metadata) of ``key`` under a node of type ``tp``."""
    tp = _strip_optional(tp)
    if dataclasses.is_dataclass(tp):
        fields = {f.name: f for f in dataclasses.fields(tp)}
        if key in fields:
            return typing.get_type_hints(tp)[key], fields[key].metadata
    elif typing.get_origin(tp) is dict:
        return typing.get_args(tp)[1], {"name_key": meta.get("name_key")}
    return Any, NO_META  # a component's params (checked by its registry entry), a list, Any


def _default(tp: Any, key: str) -> Any:
    """The plain default of field ``key`` of dataclass ``tp``, or MISSING."""
    tp = _strip_optional(tp)
    if dataclasses.is_dataclass(tp):
        for f in dataclasses.fields(tp):
            if f.name == key:
                default = field_default(f)
                return default if default is MISSING else to_dict(default)
    return MISSING


def _holds_entries(tp: Any) -> bool:
    """A mapping of named, structured entries (tasks, modalities): new keys need ``+``."""
    tp = _strip_optional(tp)
    if typing.get_origin(tp) is not dict:
        return False
    item = typing.get_args(tp)[1]
    return item is Component or dataclasses.is_dataclass(item)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply override strings to plain experiment-config data, in place; returns ``data``."""
    for text in overrides:
        Override.parse(text).apply(data)
    return data


def apply_to_each(configs: list[dict[str, Any]], overrides: list[str]) -> None:
    """Apply the same overrides to each config of one experiment, in place.

    A change to a task goes to the configs that have that task, so
    ``tasks.next_word.data.source=wikitext2`` leaves an image-only config alone; an override
    that fits no config is an error (a misspelt task name).
    """
    for text in overrides:
        override = Override.parse(text)
        fitting = [data for data in configs if override.fits(data)]
        if not fitting:
            raise ConfigError(
                f"override {short(text)}: no configuration has task {short(override.path[1])}"
            )
        for data in fitting:
            override.apply(data)


def read_config(
    path: Path | None = None, overrides: list[str] = (), data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The plain data of a YAML file (or a copy of ``data``) with the overrides applied."""
    raw = load_yaml(path) if path is not None else copy.deepcopy(data or {})
    return apply_overrides(raw, list(overrides))
