"""Typed experiment configs: dataclass defaults ← YAML file ← ``key=value`` overrides.

This module is the bottom layer every part may import: schemas and the generic machinery that
turns plain data into them (every problem collected with its dotted key, after nanoGPT's and
torchtune's config checks). It knows no registry; ``sharedspace.resolve`` (above the parts) looks
each pluggable section up and checks the experiment as a whole before any data loads;
``sharedspace.overrides`` edits the plain data by this schema.
"""

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from sharedspace.errors import ConfigError
from sharedspace.files import atomic_write

C = TypeVar("C")
CONFIGS = Path(__file__).resolve().parent / "configs"  # shipped as package data
Meta = typing.Mapping[str, Any]  # a dataclass field's metadata
NO_META: Meta = types.MappingProxyType({})


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


def component(
    default: str | None = None, name_key: str | None = "name", registry: str | None = None
) -> Any:
    """A dataclass field holding a Component (or a dict of them), with the name's default.

    A section that leaves its name out takes the default name: ``space: {hidden: [256]}`` is a
    ``sus`` space with that width, as is the override ``model.space.hidden=[256]``. Inside a
    part's own ``Config`` (a mixture's expert), ``registry`` names the kind of part it holds, so
    ``sharedspace.resolve`` checks it with the part that holds it.
    """
    meta = {"name_key": name_key, "default": default, "registry": registry}
    if default is None:
        return field(metadata=meta)
    return field(default_factory=lambda: Component(default, name_key=name_key), metadata=meta)


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
    keep_checkpoints: int = 1  # resume checkpoints (with optimizer state) kept, newest first
    # "task.metric" of the validation split (e.g. classification.accuracy): the weights with its
    # best value so far → best.safetensors; the task kind's goals say which way is better
    keep_best: str | None = None
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
    # plug-in modules to import first: module names or .py files (see sharedspace.plugins)
    imports: list[str] = field(default_factory=list)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def type_name(tp: Any) -> str:
    """A type hint as written: ``int``, ``list[int]``, ``int | None``."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (a fresh one from its factory), or MISSING."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _component(value: Any, key: str, meta: Meta, errors: list[str]) -> Any:
    """A ``{name_key: name, ...params}`` mapping (or a bare name) → Component."""
    name_key = meta.get("name_key")
    if isinstance(value, str) and name_key:
        return Component(value, name_key=name_key)
    if not isinstance(value, dict):
        errors.append(f"{key}: expected a mapping or a name, got {value!r}")
        return None
    params = dict(value)
    name = params.pop(name_key, meta.get("default")) if name_key else ""
    if not isinstance(name, str):
        errors.append(f"{key}.{name_key}: missing or not a name, got {name!r}")
        return None
    return Component(name, params, name_key=name_key)


def _convert(value: Any, tp: Any, key: str, errors: list[str], meta: Meta = NO_META) -> Any:
    """Check ``value`` against the type hint ``tp``; returns the converted value.

    ``meta`` is the field's metadata (a component's name key and default name).
    """
    origin = typing.get_origin(tp)
    if tp is Component:
        return _component(value, key, meta, errors)
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
    if origin is tuple:  # fixed length, or tuple[T, ...]; YAML spells it as a list
        args = typing.get_args(tp)
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        if not isinstance(value, list | tuple) or len(value) != len(items):
            errors.append(f"{key}: expected {type_name(tp)}, got {value!r}")
            return value
        return tuple(
            _convert(v, t, f"{key}.{i}", errors)
            for i, (v, t) in enumerate(zip(value, items, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {value!r}")
            return value
        _, item = typing.get_args(tp)
        # a collection's items have no default name: each names its own
        item_meta = {"name_key": meta.get("name_key")}
        return {k: _convert(v, item, f"{key}.{k}", errors, item_meta) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():  # 1e3 spells 1000
        return int(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        errors.append(f"{key}: expected {type_name(tp)}, got {value!r}")
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
            kwargs[name] = _convert(data[name], hints[name], key, errors, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errors.append(f"{key}: missing required key")
    try:
        return cls(**kwargs)
    except TypeError:  # a required field was missing: already reported
        return None
    except ConfigError as e:  # the dataclass's own checks (``__post_init__``)
        errors.append(f"{prefix}: {e}" if prefix else str(e))
        return None


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build dataclass ``cls`` from plain data, raising one ConfigError that lists every problem."""
    errors: list[str] = []
    result = _build(cls, data, prefix, errors)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    return result


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: ``3e-4`` and ``1e3`` are numbers, as in
    Python and OmegaConf (YAML 1.1, PyYAML's default, reads them as strings)."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def shipped_configs() -> list[Path]:
    return sorted(CONFIGS.glob("**/*.yaml"))


def parse_yaml(text: str) -> Any:
    """YAML text → plain data (safe: no tags that build objects)."""
    return yaml.load(text, Loader=Loader)  # a SafeLoader: builds no objects


def packaged_config(name: str | Path) -> Path | None:
    """The config shipped with the package under ``name`` (``sus/all_three``, with or without
    ``.yaml`` or a leading ``configs/``), as torchtune finds its recipes' configs; else None."""
    name = str(name).removeprefix("configs/").removesuffix(".yaml")
    path = CONFIGS / f"{name}.yaml"
    return path if path.is_file() and ".." not in Path(name).parts else None


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's mapping; a path that is not a file may name a packaged config."""
    path = Path(path)
    if not path.exists():
        path = packaged_config(path) or path
    try:
        data = parse_yaml(path.read_text())
    except FileNotFoundError:
        shipped = ", ".join(str(p.relative_to(CONFIGS).with_suffix("")) for p in shipped_configs())
        raise ConfigError(f"{path}: config file not found (packaged configs: {shipped})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def to_dict(value: Any) -> Any:
    """Plain data of a config: components as ``{name_key: name, ...}`` with every default filled
    in once resolved, so a saved config states everything the run used."""
    if isinstance(value, Component):
        params = to_dict(value.config) if value.config is not None else value.params
        return {value.name_key: value.name, **params} if value.name_key else dict(params)
    if dataclasses.is_dataclass(value):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_dict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dict(v) for v in value]
    return value


def config_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> dict[str, list]:
    """Dotted key → [old value, new value] where two plain config dicts differ (what a resume
    changed: warned about and kept in the run record)."""
    changes = {}
    for key in sorted(set(old) | set(new), key=str):
        a, b, dotted = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            changes |= config_changes(a, b, dotted + ".")
        elif a != b:
            changes[dotted] = [a, b]
    return changes


def dump_config(cfg: ExperimentConfig) -> str:
    """The config as YAML, every default filled in (``--print-config``, the run's config.yaml)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)


def save_config(cfg: ExperimentConfig, path: Path) -> None:
    text = dump_config(cfg).encode()
    atomic_write(Path(path), lambda f: f.write(text))
