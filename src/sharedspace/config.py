"""Typed experiment configs: dataclass defaults ← YAML file ← ``key=value`` overrides.

Every problem in a config (unknown key, wrong type, unknown registry name, bad value) is collected
and reported at once with its dotted key, before any data is loaded (after nanoGPT's and
torchtune's config checks). Pluggable parts are ``{name: <registry entry>, ...params}`` sections
whose params are checked against the entry's own ``Config`` dataclass.
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


@dataclass
class DataConfig:
    source: str  # an IMAGE_DATASETS or TEXT_CORPORA name: fashion_mnist, cifar10, fortunes, …
    train_size: int | None = None  # training examples (images, text windows); None: all
    eval_size: int | None = None  # cap on validation/test examples (smoke runs); None: all
    val_size: int = 5000  # held out from the training set (images) for validation
    seq_len: int = 15  # text: tokens the model reads; the next one is the target
    stride: int = 1  # text: step between consecutive training windows of the token stream
    tokenizer: str = "word"  # text: a TOKENIZERS name
    vocab_size: int = 10000  # text: size cap of the tokenizer, specials included


@dataclass
class TaskConfig:
    kind: str  # a TASKS name: classification, reconstruction, language_model
    modality: str  # key of model.modalities whose cap reads this task's input
    data: DataConfig
    head: dict[str, Any] = field(default_factory=dict)  # params of the task kind's head Config


@dataclass
class ModelConfig:
    width: int = 2048  # every modality cap's output width = the space's input width
    # modality key -> {name: <MODALITIES entry>, ...params}
    modalities: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "image": {"name": "image_cnn"},
            "text": {"name": "text_transformer"},
        }
    )
    space: dict[str, Any] = field(default_factory=lambda: {"name": "sus"})


@dataclass
class TrainConfig:
    epochs: int = 10  # an epoch = ceil(sum of tasks' training examples / batch_size) steps
    max_steps: int | None = None  # stop early (smoke runs, benchmarks)
    batch_size: int = 128  # global batch: split evenly across processes under DDP
    eval_batch_size: int = 1000
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.05  # cosine floor as a fraction of lr
    sampler: str = "uniform"  # a SAMPLERS name: uniform, proportional, round_robin
    weighting: dict[str, Any] = field(default_factory=lambda: {"name": "equal"})
    aux_loss_weights: dict[str, float] = field(
        default_factory=dict
    )  # space aux loss name -> weight
    eval_every: int | None = None  # steps between validations besides each epoch's end
    checkpoint_every: int = 500  # steps; a checkpoint is also written after every epoch
    keep_checkpoints: int = 3
    on_nonfinite: Literal["stop", "skip"] = "stop"  # a NaN/inf loss stops the run or skips the step
    log_every: int = 50  # steps between train-loss records in metrics.jsonl / TensorBoard
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


def _convert(value: Any, tp: Any, key: str, errors: list[str]) -> Any:
    """Check ``value`` against the type hint ``tp``; returns the converted value."""
    origin = typing.get_origin(tp)
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
        return {k: _convert(v, item, f"{key}.{k}", errors) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        errors.append(f"{key}: expected {_type_name(tp)}, got {value!r}")
    return value


def _build(cls: type[C], data: dict[str, Any], prefix: str, errors: list[str]) -> C | None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
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
            kwargs[name] = _convert(data[name], hints[name], key, errors)
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


def component_config(registry: Any, section: dict[str, Any], key: str) -> tuple[Any, Any]:
    """Resolve a ``{name: entry, ...params}`` section to (registry entry, its typed Config)."""
    params = dict(section)
    name = params.pop("name", None)
    if name is None:
        raise ConfigError(f"{key}.name: missing; known: {', '.join(registry)}")
    try:
        entry = registry.get(name)
    except ConfigError as e:
        raise ConfigError(f"{key}.name: {e}") from None
    return entry, from_dict(entry.Config, params, key)


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


def load_config(
    path: Path | None = None,
    overrides: list[str] = (),
    data: dict[str, Any] | None = None,
    source: str | None = None,
) -> ExperimentConfig:
    """Defaults ← YAML file (or plain ``data``) ← overrides, then validated in full.

    ``source`` names the config in error messages (default: the path).
    """
    raw = load_yaml(path) if path is not None else copy.deepcopy(data or {})
    raw = apply_overrides(raw, list(overrides))
    source = source or str(path or "config")
    try:
        cfg = from_dict(ExperimentConfig, raw)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    validate(cfg, source)
    return cfg


def validate(cfg: ExperimentConfig, source: str = "config") -> None:
    """Check registry names, cross-references and values; one ConfigError lists them all."""
    # Imported here: the registries fill on import of the parts, which import this module.
    from sharedspace.data import IMAGE_DATASETS, TEXT_CORPORA, TOKENIZERS
    from sharedspace.modalities import MODALITIES
    from sharedspace.spaces import SPACES
    from sharedspace.tasks import TASKS
    from sharedspace.train.sampling import SAMPLERS
    from sharedspace.train.weighting import WEIGHTINGS

    errors: list[str] = []

    def check(fn, *args) -> Any:
        try:
            return fn(*args)
        except ConfigError as e:
            errors.append(str(e).replace("invalid config:\n  ", ""))

    if not cfg.tasks:
        errors.append("tasks: at least one task is needed")
    for key, section in cfg.model.modalities.items():
        check(component_config, MODALITIES, section, f"model.modalities.{key}")
    check(component_config, SPACES, cfg.model.space, "model.space")
    check(component_config, WEIGHTINGS, cfg.train.weighting, "train.weighting")
    check(SAMPLERS.get, cfg.train.sampler)
    for name, task in cfg.tasks.items():
        key = f"tasks.{name}"
        kind = check(TASKS.get, task.kind)
        if kind is not None:
            check(from_dict, kind.Config, task.head, f"{key}.head")
            sources = TEXT_CORPORA if kind.modality_kind == "text" else IMAGE_DATASETS
            check(sources.get, task.data.source)
            if kind.modality_kind == "text":
                check(TOKENIZERS.get, task.data.tokenizer)
        if task.modality not in cfg.model.modalities:
            known = ", ".join(cfg.model.modalities)
            errors.append(f"{key}.modality: {task.modality!r} is not in model.modalities ({known})")
    positive = {
        "train.epochs": cfg.train.epochs,
        "train.batch_size": cfg.train.batch_size,
        "train.eval_batch_size": cfg.train.eval_batch_size,
        "train.checkpoint_every": cfg.train.checkpoint_every,
        "train.keep_checkpoints": cfg.train.keep_checkpoints,
        "train.log_every": cfg.train.log_every,
        "train.lr": cfg.train.lr,
        "model.width": cfg.model.width,
    }
    optional = {"train.eval_every": cfg.train.eval_every, "train.max_steps": cfg.train.max_steps}
    positive.update({k: v for k, v in optional.items() if v is not None})
    errors += [f"{k}: must be > 0, got {v}" for k, v in positive.items() if v <= 0]
    if errors:
        raise ConfigError(f"{source}: invalid config:\n  " + "\n  ".join(errors))


def to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


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
