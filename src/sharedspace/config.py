"""Typed experiment configs: dataclass defaults ← YAML file ← ``key=value`` overrides.

This module is the bottom layer every part may import: schemas and the generic machinery that
turns plain data into them (every problem collected with its dotted key, after nanoGPT's and
torchtune's config checks). It knows no registry; ``sharedspace.resolve`` (above the parts) looks
each pluggable section up and checks the experiment as a whole before any data loads.
"""

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from sharedspace.errors import ConfigError

C = TypeVar("C")


@dataclass(eq=False)
class Component:
    """A pluggable part as a config names it: ``{name: <registry entry>, ...params}``.

    ``config`` is the entry's own typed ``Config`` built from ``params``; ``sharedspace.resolve``
    sets it once and every builder reads it from there. ``name_key`` is the key that holds the name
    (``source`` for a task's data; None for a head, whose entry is the task's kind). A bare string
    in a config is a component with no params: ``sampler: all``.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    config: Any = None
    name_key: str | None = "name"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Component):
            return NotImplemented
        mine = self.config if self.config is not None else self.params
        theirs = other.config if other.config is not None else other.params
        return (self.name, mine) == (other.name, theirs)


def component(default: str | None = None, name_key: str | None = "name") -> Any:
    """A dataclass field holding a Component (or a dict of them), with the name's default."""
    if default is None:
        return field(metadata={"name_key": name_key})
    return field(
        default_factory=lambda: Component(default, name_key=name_key),
        metadata={"name_key": name_key},
    )


@dataclass
class TaskConfig:
    kind: str  # a TASKS name: classification, reconstruction, language_model, seq2seq
    modality: str  # key of model.modalities whose cap reads this task's input
    # {source: <IMAGE_DATASETS or TEXT_CORPORA name>, ...}: the fields the task kind reads from
    # that kind of data (see `sharedspace list` and tasks/data.py)
    data: Component = component(name_key="source")
    head: Component = component("", name_key=None)  # params of the task kind's head Config


@dataclass
class ModelConfig:
    width: int = 2048  # every modality cap's output width = the space's input width
    # modality key -> {name: <MODALITIES entry>, ...params}
    modalities: dict[str, Component] = field(
        default_factory=lambda: {
            "image": Component("image_cnn"),
            "text": Component("text_transformer"),
        },
        metadata={"name_key": "name"},
    )
    space: Component = component("sus")  # a SPACES entry


@dataclass
class TrainConfig:
    # an epoch = ceil(sum of tasks' training examples / (batch_size × tasks per step)) steps
    epochs: int = 10
    max_steps: int | None = None  # stop early (smoke runs, benchmarks)
    batch_size: int = 128  # per task of a step; split evenly across processes under DDP
    eval_batch_size: int = 1000
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.05  # cosine floor as a fraction of lr
    sampler: Component = component("uniform")  # which tasks each step trains (a SAMPLERS entry)
    weighting: Component = component("equal")  # how their losses combine (a WEIGHTINGS entry)
    # auxiliary loss name (declared by a cap, space or head) -> weight; undeclared names are errors
    aux_loss_weights: dict[str, float] = field(default_factory=dict)
    eval_every: int | None = None  # steps between validations besides each epoch's end
    checkpoint_every: int = 500  # steps; a checkpoint is also written after every epoch
    keep_checkpoints: int = 3
    on_nonfinite: Literal["stop", "skip"] = "stop"  # a NaN/inf loss stops the run or skips the step
    log_every: int = 50  # steps between train-loss records in metrics.jsonl / TensorBoard
    # steps between transfer probes (gradient cosine, TAG affinity) of a step's tasks; 0: none
    transfer_every: int = 0
    progress: bool = True
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1, …


@dataclass
class ExperimentConfig:
    name: str
    tasks: dict[str, TaskConfig]  # task name -> task; the order is the task index
    seed: int = 0
    data_dir: str | None = None  # folder of datasets; None: the default search path
    out_dir: str = "runs"  # the run folder is out_dir/name
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _component(value: Any, key: str, name_key: str | None, errors: list[str]) -> Any:
    """A ``{name_key: name, ...params}`` mapping (or a bare name) → Component."""
    if isinstance(value, str) and name_key:
        return Component(value, name_key=name_key)
    if not isinstance(value, dict):
        errors.append(f"{key}: expected a mapping or a name, got {value!r}")
        return None
    params = dict(value)
    name = params.pop(name_key, None) if name_key else ""
    if not isinstance(name, str):
        errors.append(f"{key}.{name_key}: missing or not a name, got {name!r}")
        return None
    return Component(name, params, name_key=name_key)


def _convert(value: Any, tp: Any, key: str, errors: list[str], name_key: Any = None) -> Any:
    """Check ``value`` against the type hint ``tp``; returns the converted value."""
    origin = typing.get_origin(tp)
    if tp is Component:
        return _component(value, key, name_key, errors)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {value!r}")
            return None
        return _build(tp, value, key, errors)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key, errors)
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(map(repr, typing.get_args(tp)))
            errors.append(f"{key}: {value!r} is not one of {choices}")
        return value
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{key}: expected a list, got {value!r}")
            return value
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{key}.{i}", errors) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {value!r}")
            return value
        _, item = typing.get_args(tp)
        return {k: _convert(v, item, f"{key}.{k}", errors, name_key) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        errors.append(f"{key}: expected {_type_name(tp)}, got {value!r}")
    return value


def _build(cls: type[C], data: dict[str, Any], prefix: str, errors: list[str]) -> C | None:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{prefix}{'.' if prefix else ''}{key}: unknown key{hint}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            name_key = f.metadata.get("name_key")
            kwargs[name] = _convert(data[name], hints[name], key, errors, name_key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errors.append(f"{key}: missing required key")
    try:
        return cls(**kwargs)
    except TypeError:  # a required field was missing: already reported
        return None


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build dataclass ``cls`` from plain data, raising one ConfigError that lists every problem."""
    errors: list[str] = []
    result = _build(cls, data, prefix, errors)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    return result


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to nested plain data, in place."""
    for item in overrides:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. train.lr=3e-4")
        *parents, last = path.split(".")
        node = data
        for i, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: i + 1])
                raise ConfigError(f"override {item!r}: {where} is {child!r}, not a mapping")
            node = child
        node[last] = yaml.safe_load(raw)
    return data


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def read_config(
    path: Path | None = None, overrides: list[str] = (), data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The plain data of a YAML file (or a copy of ``data``) with the overrides applied."""
    raw = load_yaml(path) if path is not None else copy.deepcopy(data or {})
    return apply_overrides(raw, list(overrides))


def to_dict(value: Any) -> Any:
    """Plain data of a config: components as ``{name_key: name, ...}`` with every default filled
    in once resolved, so a saved config states everything the run used."""
    if isinstance(value, Component):
        params = dataclasses.asdict(value.config) if value.config is not None else value.params
        return {value.name_key: value.name, **params} if value.name_key else dict(params)
    if dataclasses.is_dataclass(value):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_dict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dict(v) for v in value]
    return value


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain config dicts (for resume warnings)."""
    keys = []
    for key in sorted(set(old) | set(new), key=str):
        a, b, dotted = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, dotted + ".")
        elif a != b:
            keys.append(dotted)
    return keys


def save_config(cfg: ExperimentConfig, path: Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
