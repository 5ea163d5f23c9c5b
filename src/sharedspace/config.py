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
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from sharedspace.decoding import Decoding
from sharedspace.errors import ConfigError, clip, short, short_key
from sharedspace.files import atomic_write
from sharedspace.untrusted import MiB, read_text

C = TypeVar("C")
CONFIGS = Path(__file__).resolve().parent / "configs"  # shipped as package data
Meta = typing.Mapping[str, Any]  # a dataclass field's metadata
NO_META: Meta = types.MappingProxyType({})
CONFIG_LIMIT = MiB  # bytes of a config file; the shipped ones are under 4 kB
MAX_DEPTH = 32  # nesting levels of a YAML document; a config has about 6
EXPANSION = 10  # a document with its aliases spelt out is at most this many times its text …
MIN_EXPANSION = 1 << 16  # … or this many (nodes and characters), for a short one
MAX_ERRORS = 50  # problems listed in one message; the rest are counted
MAX_LINE = 1000  # characters of one problem
INT64 = (-(1 << 63), (1 << 63) - 1)  # every config integer fits a tensor's int64


def problems(errors: list[str]) -> str:
    """``errors`` as the lines of one message: at most MAX_ERRORS of them, each cut at
    MAX_LINE characters (a line may quote a value from a file through a registry's message)."""
    more = len(errors) - MAX_ERRORS
    listed = errors[:MAX_ERRORS] + ([f"… and {more} more"] if more > 0 else [])
    return "\n  ".join(clip(e, MAX_LINE) for e in listed)


@dataclass(frozen=True)
class Range:
    """The values a number field allows (a lower bound, ``gt`` or ``ge``, and maybe ``le``);
    ``from_dict`` checks every number in the field: its value, or each of its list or mapping."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range, or None; an integer is also at most INT64's top."""
        high = self.le if self.le is not None or isinstance(value, float) else INT64[1]
        if (
            (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (high is None or value <= high)
        ):
            return None
        low = f"> {self.gt}" if self.gt is not None else f"≥ {self.ge}"
        if self.le is None and (high is None or value <= high):  # INT64 unsaid unless passed
            return f"must be {low}, got {short(value)}"
        return f"must be {low} and ≤ {high}, got {short(value)}"


def number(
    default: float | None, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> Any:
    """A number field with its allowed range: ``lr: float = number(1e-3, gt=0)``."""
    return field(default=default, metadata={"range": Range(gt, ge, le)})


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
    # {source: <DATASETS name>, view: <data view name>, ...}: the fields the task kind's view
    # reads from that kind of data (see `sharedspace list` and tasks/data.py)
    data: Component = component(name_key="source")
    head: Component = component("", name_key=None)  # params of the task kind's head Config
    # key of model.outputs whose net writes this task's output (shared by every task naming it);
    # None: the task kind's own head (``head``)
    output: str | None = None
    # the command that starts a decoding output net's decoder for this task (MultiModel's task
    # token: "to-de", "to-parse", …); tasks naming one token share its embedding, so en → de and
    # fr → de are both "to-de". None: the task's name (a token of its own)
    task_token: str | None = None
    # how a task that decodes predicts (greedy, or beam search with a length penalty)
    decode: Decoding = field(default_factory=Decoding)
    # how the step reduces the task's loss over the global batch: "example" (the mean of the
    # examples' losses) or "token" (every target token weighs alike); None: its kind's default
    reduction: Literal["example", "token"] | None = None
    # ε of the training loss's label smoothing (Szegedy et al. 2016; tensor2tensor and the
    # MultiModel paper: 0.1): the target distribution is 1 − ε on the label plus ε spread evenly
    # over every class; for the kinds whose loss is a cross-entropy over classes or tokens.
    # Metrics (loss, perplexity) are always the plain cross-entropy.
    label_smoothing: float = number(0.0, ge=0, le=1)


@dataclass
class ModelConfig:
    width: int = number(2048, gt=0)  # every modality cap's output width = the space's input width
    # modality key -> {name: <MODALITIES entry>, ...params}
    modalities: dict[str, Component] = field(
        default_factory=lambda: {
            "image": Component("image_cnn"),
            "text": Component("text_transformer"),
        },
        metadata={"name_key": "name"},
    )
    space: Component = component("sus")  # a SPACES entry
    # output key -> {name: <OUTPUTS entry>, ...params}: one net per key, shared by its tasks
    outputs: dict[str, Component] = field(default_factory=dict, metadata={"name_key": "name"})


@dataclass
class OptimizerSettings:
    """How one optimizer steps its parameters: the ``train`` section's own (the optimizer
    ``main``, every parameter no named optimizer takes) and each of ``train.optimizers``."""

    optimizer: str = "adam"  # an OPTIMIZERS entry: adam, adamw, sgd
    lr: float = number(1e-3, gt=0)
    betas: list[float] = field(  # Adam's (β1, β2)
        default_factory=lambda: [0.9, 0.999], metadata={"range": Range(ge=0, le=1)}
    )
    momentum: float = number(0.9, ge=0, le=1)  # SGD's
    weight_decay: float = number(0.0, ge=0)
    warmup_steps: int = number(100, ge=0)  # linear warm-up from lr / warmup_steps
    schedule: str = "cosine"  # a SCHEDULES entry: cosine, constant, linear, rsqrt, step
    min_lr_ratio: float = number(0.05, ge=0, le=1)  # cosine's and linear's floor, × lr; step's
    decay_at: float = number(0.75, ge=0, le=1)  # step: the fraction of steps after which it drops
    # the largest global L2 norm of the gradients it steps on (clipped to it, the norm logged)
    clip_grad_norm: float | None = number(None, gt=0)


@dataclass(kw_only=True)
class OptimizerConfig(OptimizerSettings):
    """A named optimizer of ``train.optimizers``: the parameter groups it steps (declared by the
    model's parts, e.g. a critic's); each setting it leaves out is the ``train`` section's."""

    groups: list[str]


@dataclass
class TrainConfig(OptimizerSettings):
    # an epoch = ceil(sum of tasks' training examples / (batch_size × tasks per step)) steps
    epochs: int = number(10, gt=0)
    max_steps: int | None = number(None, gt=0)  # stop early (smoke runs, benchmarks)
    # per task of a step; split evenly across processes under DDP
    batch_size: int = number(128, gt=0)
    eval_batch_size: int = number(1000, gt=0)
    # name -> {groups: [...], settings}: optimizers beside ``main`` (which the settings above make)
    optimizers: dict[str, Component] = field(default_factory=dict, metadata={"name_key": None})
    step: Component = component("default")  # the update rule (a STEPS entry)
    sampler: Component = component("uniform")  # which tasks each step trains (a SAMPLERS entry)
    weighting: Component = component("equal")  # how their losses combine (a WEIGHTINGS entry)
    # auxiliary loss name (declared by a cap, space or head) -> weight; undeclared names are errors
    aux_loss_weights: dict[str, float] = field(
        default_factory=dict, metadata={"range": Range(ge=0)}
    )
    eval_every: int | None = number(None, gt=0)  # steps between validations besides epoch ends
    # a validation in this many also decodes (exact match, …: the costly part of a sequence
    # task's evaluation); the final evaluation always does
    eval_decode_every: int = number(1, gt=0)
    checkpoint_every: int = number(500, gt=0)  # steps; a checkpoint is also written every epoch
    keep_checkpoints: int = number(1, gt=0)  # resume checkpoints (with optimizer state), newest
    # "task.metric" of the validation split (e.g. classification.accuracy): the weights with its
    # best value so far → best.safetensors; the task kind's goals say which way is better
    keep_best: str | None = None
    on_nonfinite: Literal["stop", "skip"] = "stop"  # a NaN/inf loss stops the run or skips the step
    # steps between train-loss records in metrics.jsonl / TensorBoard
    log_every: int = number(50, gt=0)
    # steps between transfer probes (gradient cosine, TAG affinity) of a step's tasks; 0: none
    transfer_every: int = number(0, ge=0)
    progress: bool = True
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1, …
    # the model's matmuls in fp32, bf16 or fp16 (autocast; weights, gradients, optimizer state
    # and losses stay float32), or auto: bf16 where it is measured faster here (precision.py)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"

    def optimizer_settings(self) -> dict[str, OptimizerSettings]:
        """Every optimizer's settings by name: ``main`` (the settings of this section), then the
        resolved ``train.optimizers``."""
        main = OptimizerSettings(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(OptimizerSettings)}
        )
        return {"main": main, **{name: c.config for name, c in self.optimizers.items()}}


@dataclass
class ExperimentConfig:
    name: str
    tasks: dict[str, TaskConfig]  # task name -> task; the order is the task index
    # every seed a run derives (seed × 1,000,003 + pass) stays within torch's 64 bits
    seed: int = number(0, ge=0, le=(1 << 32) - 1)
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
        errors.append(f"{key}: expected a mapping or a name, got {short(value)}")
        return None
    params = dict(value)
    name = params.pop(name_key, meta.get("default")) if name_key else ""
    if not isinstance(name, str):
        errors.append(f"{key}.{name_key}: missing or not a name, got {short(name)}")
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
            errors.append(f"{key}: expected a mapping, got {short(value)}")
            return None
        return _build(tp, value, key, errors)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key, errors, meta)
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(map(repr, typing.get_args(tp)))
            errors.append(f"{key}: {short(value)} is not one of {choices}")
        return value
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{key}: expected a list, got {short(value)}")
            return value
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{key}.{i}", errors) for i, v in enumerate(value)]
    if origin is tuple:  # fixed length, or tuple[T, ...]; YAML spells it as a list
        args = typing.get_args(tp)
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        if not isinstance(value, list | tuple) or len(value) != len(items):
            errors.append(f"{key}: expected {type_name(tp)}, got {short(value)}")
            return value
        return tuple(
            _convert(v, t, f"{key}.{i}", errors)
            for i, (v, t) in enumerate(zip(value, items, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {short(value)}")
            return value
        _, item = typing.get_args(tp)
        # a collection's items have no default name: each names its own
        item_meta = {"name_key": meta.get("name_key")}
        return {
            k: _convert(v, item, f"{key}.{short_key(k)}", errors, item_meta)
            for k, v in value.items()
        }
    if tp is Any:
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        if abs(value) <= sys.float_info.max:  # not nan, inf or 10**400
            return float(value)
        errors.append(f"{key}: expected a finite number, got {short(value)}")
        return value
    if tp is int and isinstance(value, float) and value.is_integer():  # 1e3 spells 1000
        value = int(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        errors.append(f"{key}: expected {type_name(tp)}, got {short(value)}")
    elif tp is int and "range" not in meta and not INT64[0] <= value <= INT64[1]:
        errors.append(f"{key}: {short(value)} does not fit in 64 bits")
    return value


def _out_of_range(value: Any, limits: Range, key: str, errors: list[str]) -> None:
    """Check every number in a field's value (itself, or the values of its list or mapping)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _out_of_range(v, limits, f"{key}.{short_key(k)}", errors)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _out_of_range(v, limits, f"{key}.{i}", errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        problem = limits.problem(value)
        if problem:
            errors.append(f"{key}: {problem}")


def _build(cls: type[C], data: dict[str, Any], prefix: str, errors: list[str]) -> C | None:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(short_key(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{prefix}{'.' if prefix else ''}{short_key(key)}: unknown key{hint}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            before = len(errors)
            kwargs[name] = _convert(data[name], hints[name], key, errors, f.metadata)
            if "range" in f.metadata and len(errors) == before:  # a number of the right type
                _out_of_range(kwargs[name], f.metadata["range"], key, errors)
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
        raise ConfigError("invalid config:\n  " + problems(errors))
    return result


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats (``3e-4`` and ``1e3`` are numbers, as in
    Python and OmegaConf; YAML 1.1, PyYAML's default, reads them as strings) and bounds for text
    that anyone may have written, checked while composing, before any value is built: nesting
    deeper than MAX_DEPTH, an alias inside its own anchor (a loop), and aliases that spell out to
    more than EXPANSION times the text (a "billion laughs": 1.5 kB of nested aliases asked for
    gigabytes once a message or table spelt the value out) are errors.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.budget = MIN_EXPANSION + EXPANSION * len(stream)
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) → nodes and characters, aliases spelt out

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):  # counted where used, from the size of its node
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self.sizes:
                self._refuse(f"alias *{short_key(event.anchor)} inside its own anchor", event)
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            self._refuse(f"nested deeper than {MAX_DEPTH} levels", event)
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, yaml.ScalarNode):
            size = 1 + len(node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self.sizes[id(k)] + self.sizes[id(v)] for k, v in node.value)
        else:
            size = 1 + sum(self.sizes[id(item)] for item in node.value)
        if size > self.budget:
            self._refuse(f"aliases expand this past {self.budget:,} nodes and characters", event)
        self.sizes[id(node)] = size
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """PyYAML's, with the ValueError of a value it cannot build (an integer of 5,000 digits, a
        13th month) as a YAML error naming where it is."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"cannot read {short(node.value)} ({str(e).partition(':')[0]})",
                node.start_mark,
            ) from None

    @staticmethod
    def _refuse(problem: str, event: yaml.Event) -> typing.NoReturn:
        raise yaml.composer.ComposerError(None, None, problem, event.start_mark)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def shipped_configs() -> list[Path]:
    return sorted(CONFIGS.glob("**/*.yaml"))


def parse_yaml(text: str) -> Any:
    """YAML text → plain data (safe: no tags that build objects; bounded, see ``Loader``)."""
    loader = Loader(text)  # a SafeLoader: builds no objects
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's error in one line, what is wrong and where (its own message quotes the text)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def packaged_config(name: str | Path) -> Path | None:
    """The config shipped with the package under ``name`` (``sus/all_three``, with or without
    ``.yaml`` or a leading ``configs/``), as torchtune finds its recipes' configs; else None."""
    name = str(name).removeprefix("configs/").removesuffix(".yaml")
    path = CONFIGS / f"{name}.yaml"
    return path if path.is_file() and ".." not in Path(name).parts else None


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's mapping; a path that is not a file may name a packaged config.

    A file may start from another: ``base: joint.yaml`` (a path relative to the file, or a
    packaged config's name) reads that file first, and this one's settings go over it (see
    ``merged``), so a variant is a few lines, not a copy. A base may have a base; a cycle is an
    error."""
    return _load_yaml(Path(path), ())


def _load_yaml(path: Path, within: tuple[Path, ...]) -> dict[str, Any]:
    """``load_yaml`` of ``path``, read from the files ``within`` (its bases' children)."""
    if not path.exists():
        path = packaged_config(path) or path
    if not path.exists():
        shipped = ", ".join(str(p.relative_to(CONFIGS).with_suffix("")) for p in shipped_configs())
        raise ConfigError(f"{path}: config file not found (packaged configs: {shipped})")
    try:  # a regular file of at most CONFIG_LIMIT bytes: never a FIFO or /dev/zero
        data = parse_yaml(read_text(path, CONFIG_LIMIT, ConfigError))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base: expected the path of a config file, got {base!r}")
    within = (*within, path.resolve())
    found = path.parent / base
    found = found if found.exists() else packaged_config(base) or found
    if found.exists() and found.resolve() in within:
        chain = " → ".join(str(p) for p in (*within, found.resolve()))
        raise ConfigError(f"{path}: base: {base} makes a cycle ({chain})")
    return merged(_load_yaml(found, within), data)


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base``: where both hold a mapping, merged key by key (a new task is
    added; a task's ``data`` changes only the keys given), unless ``over``'s names another part
    (``name: decoder`` over ``name: multimodel``: its settings are another part's, so it
    replaces); anything else of ``over`` replaces ``base``'s."""
    out = dict(base)
    for key, value in over.items():
        under = out.get(key)
        if isinstance(under, dict) and isinstance(value, dict):
            same_part = value.get("name", under.get("name")) == under.get("name")
            out[key] = merged(under, value) if same_part else value
        else:
            out[key] = value
    return out


def to_dict(value: Any) -> Any:
    """Plain data of a config: components as ``{name_key: name, ...}`` with every default filled
    in once resolved, so a saved config states everything the run used (not what is derived from
    it: fields a config sets itself, ``init=False``)."""
    if isinstance(value, Component):
        params = to_dict(value.config) if value.config is not None else value.params
        return {value.name_key: value.name, **params} if value.name_key else dict(params)
    if dataclasses.is_dataclass(value):
        return {
            f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
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
