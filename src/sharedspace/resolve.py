"""Resolve an experiment: plain data → typed config, every part checked before any data loads.

This module sits above the parts (it imports every registry; the parts import only the schemas
in ``config``). Each ``{name: …}`` section is looked up once and its typed ``Config`` kept on the
section, where the builders read it. ``validate`` collects every problem with its dotted key:
unknown names and keys, a cap that reads another kind of data than its tasks give, a cap whose
output form the space or head cannot read, data fields the task's kind of data does not have,
weighting settings for unknown tasks, samplers asking for more tasks than there are, weightings
that need every task in every step under a sampler that picks fewer, and auxiliary-loss weights
that no part of the model declares.
"""

import dataclasses
import difflib
import re
from pathlib import Path
from typing import Any

from sharedspace.config import (
    Component,
    ExperimentConfig,
    OptimizerConfig,
    OptimizerSettings,
    TrainConfig,
    from_dict,
    problems,
)
from sharedspace.data import TOKENIZERS
from sharedspace.data.tokenizers import TOKENIZER_CLASSES
from sharedspace.errors import ConfigError, short, short_key
from sharedspace.modalities import MODALITIES
from sharedspace.outputs import OUTPUTS
from sharedspace.overrides import read_config
from sharedspace.plugins import import_parts, load_entry_points, resolve_imports
from sharedspace.registry import Registry
from sharedspace.spaces import BLOCKS, SPACES
from sharedspace.tasks import TASKS
from sharedspace.tasks.data import source_kind
from sharedspace.tasks.feature_generator import CONDITIONINGS
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.tasks.vocabulary import vocabulary_groups
from sharedspace.train.optimizers import OPTIMIZERS
from sharedspace.train.sampling import SAMPLERS
from sharedspace.train.schedule import SCHEDULES
from sharedspace.train.step import STEPS
from sharedspace.train.weighting import WEIGHTINGS

# Keys of a train record beside the aux losses: an aux loss may not take one of these names.
RESERVED = frozenset({"loss", "lr", "step", "task", "split", "time", "total", "weight"})
AUX_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TASK_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # one folder inside out_dir, never ".."
# kinds of part that a part's own Config may hold (``component(registry=…)``)
NESTED: dict[str, Registry] = {"block": BLOCKS, "conditioning": CONDITIONINGS}


def load_config(
    path: Path | None = None,
    overrides: list[str] = (),
    data: dict[str, Any] | None = None,
    source: str | None = None,
) -> ExperimentConfig:
    """Defaults ← YAML file (or plain ``data``) ← overrides, then resolved and validated in full.

    Plug-ins (installed ones, then the config's ``imports``) are imported first, so their parts
    resolve like ours. ``source`` names the config in error messages (default: the path).
    """
    raw = read_config(path, overrides, data)
    source = source or str(path or "config")
    load_entry_points()
    try:
        if "imports" in raw:
            raw["imports"] = resolve_imports(raw["imports"], Path(path).parent if path else Path())
            import_parts(raw["imports"])
        cfg = from_dict(ExperimentConfig, raw)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    validate(cfg, source)
    return cfg


def _lookup(registry: Registry, name: str, key: str) -> Any:
    try:
        return registry.get(name)
    except ConfigError as e:
        close = difflib.get_close_matches(name, list(registry), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{key}: {_unquoted(e, name)}{hint}") from None


def resolve_component(registry: Registry, section: Component, key: str) -> Any:
    """Look ``section`` up and set its typed config, and those of the components inside it (a
    mixture's expert block); returns the registry entry."""
    entry = _lookup(registry, section.name, f"{key}.{section.name_key or 'name'}")
    section.config = from_dict(entry.Config, section.params, key)
    for f in dataclasses.fields(section.config):
        inner = getattr(section.config, f.name)
        if f.metadata.get("registry") and isinstance(inner, Component):
            resolve_component(NESTED[f.metadata["registry"]], inner, f"{key}.{f.name}")
    return entry


def validate(cfg: ExperimentConfig, source: str = "config") -> None:
    """Resolve every section of ``cfg`` in place; one ConfigError lists every problem."""
    errors: list[str] = []

    def check(fn, *args) -> Any:
        try:
            return fn(*args)
        except ConfigError as e:
            errors.extend(str(e).replace("invalid config:\n  ", "").split("\n  "))
            return None

    if not RUN_NAME.match(cfg.name):
        errors.append(
            f"name: {short(cfg.name)} names the run's folder inside out_dir: letters, digits, '_', "
            "'-' and '.' (not first), no '/'"
        )
    if not cfg.tasks:
        errors.append("tasks: at least one task is needed")
    caps = {
        key: check(resolve_component, MODALITIES, section, f"model.modalities.{key}")
        for key, section in cfg.model.modalities.items()
    }
    space = check(resolve_component, SPACES, cfg.model.space, "model.space")
    if space is not None and hasattr(cfg.model.space.config, "name_tasks"):
        check(cfg.model.space.config.name_tasks, list(cfg.tasks), "model.space")
    outputs = {
        key: check(resolve_component, OUTPUTS, section, f"model.outputs.{short_key(key)}")
        for key, section in cfg.model.outputs.items()
    }
    sampler = check(resolve_component, SAMPLERS, cfg.train.sampler, "train.sampler")
    if sampler is not None:  # its own checks (k ≤ tasks, temperature > 0) need only the count
        sampler = check(sampler, cfg.train.sampler.config, [1] * max(1, len(cfg.tasks)), 0)
    weighting = check(resolve_component, WEIGHTINGS, cfg.train.weighting, "train.weighting")
    if weighting is not None:
        check(weighting, cfg.train.weighting.config, list(cfg.tasks))
        if weighting.needs_every_task and sampler is not None and sampler.k < len(cfg.tasks):
            errors.append(
                f"train.weighting: {cfg.train.weighting.name} combines every task's gradient in "
                f"every step, but sampler {short(cfg.train.sampler.name)} trains {sampler.k} of "
                f"{len(cfg.tasks)} tasks per step; use train.sampler=all"
            )
        elif weighting.balances_tasks and sampler is not None and sampler.k == 1 < len(cfg.tasks):
            errors.append(
                f"train.sampler: {short(cfg.train.sampler.name)} trains one task per step, but "
                f"weighting {cfg.train.weighting.name} weighs the tasks of a step against each "
                "other (alone, a task has none to be weighed against); use train.sampler=all"
            )

    declared: dict[str, str] = {}  # aux loss name → the part that declares it
    kinds: dict[str, Any] = {}  # task name → its kind
    if space is not None:
        declared |= dict.fromkeys(space.aux_losses, "model.space")
    for name, task in cfg.tasks.items():
        key = f"tasks.{short_key(name)}"
        if not TASK_NAME.match(name):
            errors.append(f"{key}: a task name is letters, digits, _ and - (got {short(name)})")
        if task.modality not in cfg.model.modalities:
            known = ", ".join(map(short_key, cfg.model.modalities))
            errors.append(
                f"{key}.modality: {short(task.modality)} is not in model.modalities ({known})"
            )
        kind = check(_lookup, TASKS, task.kind, f"{key}.kind")
        if kind is None:
            continue
        kinds[name] = kind
        task.head.name = task.kind
        check(resolve_component, TASKS, task.head, f"{key}.head")
        declared |= dict.fromkeys(kind.aux_losses, f"{key} head")
        if task.label_smoothing and not kind.smooths_labels:
            errors.append(
                f"{key}.label_smoothing: a {task.kind} task's loss is no cross-entropy over "
                "classes or tokens; leave it 0"
            )
        data_kind = check(_lookup_source, task.data.name, f"{key}.data.source")
        if data_kind is None:
            continue
        view = check(_lookup_view, task.kind, task.data, f"{key}.data")
        if view is None:
            continue
        if view.target not in kind.targets:
            errors.append(
                f"{key}.data: the {view.name} view gives {view.target} targets; a {task.kind} "
                f"head produces {' or '.join(kind.targets)}"
            )
        writer = None  # the output net of the task, when it names one
        if task.output is not None:
            writer = outputs.get(task.output)
            errors += _output(key, task, kind, view, writer, cfg.model, space)
        if task.task_token is not None and not (kind.decodes and getattr(writer, "decodes", 0)):
            errors.append(
                f"{key}.task_token: only a task that decodes through a shared output net (a "
                "language net) starts from a task token; leave it unset"
            )
        task.data.config = check(from_dict, view.Config, task.data.params, f"{key}.data")
        tokenizer = getattr(task.data.config, "tokenizer", None)
        if tokenizer is not None and check(TOKENIZERS.get, tokenizer) is not None:
            errors += _vocab(key, tokenizer, task.data.config.vocab_size)
        cap = caps.get(task.modality)
        if cap is not None:
            where = f"model.modalities.{short_key(task.modality)}"
            declared |= dict.fromkeys(cap.aux_losses, where)
            errors += _joins(key, task, cap, data_kind, space, kind, writer)
    for name, part in declared.items():
        if name in RESERVED or not AUX_NAME.match(name):
            errors.append(
                f"{part}: declares the aux loss {short(name)}; reserved: {sorted(RESERVED)}"
            )
    for name in cfg.train.aux_loss_weights:
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(sorted(declared)) or "none"
            errors.append(
                f"train.aux_loss_weights.{short_key(name)}: no part of this model emits "
                f"{short(name)}{hint}; declared: {known}"
            )
    check(vocabulary_groups, cfg)  # the tasks of one vocabulary agree on its tokenizer
    errors += _best(cfg.train.keep_best, cfg.tasks, kinds)
    errors += _update_rule(cfg.train, kinds, check)
    if errors:
        raise ConfigError(f"{source}: invalid config:\n  " + problems(errors))


def _optimizer_problems(settings: OptimizerSettings, key: str) -> list[str]:
    """An optimizer's type and schedule are registered; its betas are two numbers below 1."""
    errors = []
    for field, registry in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
        name = getattr(settings, field)
        if name not in registry:
            close = difflib.get_close_matches(name, list(registry), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(registry)
            errors.append(f"{key}{field}: {short(name)} is not one of {known}{hint}")
    if len(settings.betas) != 2 or not all(b < 1 for b in settings.betas):
        errors.append(f"{key}betas: two numbers in [0, 1), got {short(settings.betas)}")
    return errors


def _update_rule(train: TrainConfig, kinds: dict[str, Any], check) -> list[str]:
    """The ``train`` section's optimizer, each of ``train.optimizers`` (its settings are the
    section's where it leaves them out; it names declared parameter groups, none named twice),
    and ``train.step`` with the step's own checks of them and of the task kinds."""
    errors = _optimizer_problems(train, "train.")
    inherited = {f.name: getattr(train, f.name) for f in dataclasses.fields(OptimizerSettings)}
    owners: dict[str, str] = {}
    for name, section in train.optimizers.items():
        key = f"train.optimizers.{short_key(name)}"
        if name == "main" or not AUX_NAME.match(name):
            errors.append(f"{key}: an optimizer's name is a word other than 'main'")
            continue
        section.config = check(from_dict, OptimizerConfig, inherited | section.params, key)
        if section.config is None:
            continue
        errors += _optimizer_problems(section.config, f"{key}.")
        if not section.config.groups:
            errors.append(f"{key}.groups: name the parameter groups it steps")
        for group in section.config.groups:
            if group in owners:
                errors.append(f"{key}.groups: {short(group)} is stepped by {owners[group]} too")
            owners[group] = name
    step = check(resolve_component, STEPS, train.step, "train.step")
    if step is not None:
        errors += step.problems(train.step.config, train, kinds)
    return errors


def _lookup_source(name: str, key: str) -> str:
    try:
        return source_kind(name)
    except ConfigError as e:
        raise ConfigError(f"{key}: {_unquoted(e, name)}") from None


def _lookup_view(task_kind: str, data: Component, key: str) -> Any:
    """The data view that the task's ``data`` section (its ``view``, else the only one) names."""
    name = data.params.get("view")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{key}.view: expected a view name, got {short(name)}")
    try:
        return DATA_VIEWS.pick(task_kind, data.name, name)
    except ConfigError as e:
        message = _unquoted(e, data.name).replace(repr(name), short(name))
        raise ConfigError(f"{key}.{message}") from None


def _unquoted(error: ConfigError, name: str) -> str:
    """A lookup's message with the name it quotes whole (any string in a file) cut short."""
    return str(error).replace(repr(name), short(name))


def _output(
    key: str, task: Any, kind: Any, view: Any, net: Any, model: Any, space: Any
) -> list[str]:
    """A task that names an output net: the key is in ``model.outputs``, the net writes the
    targets the task's data gives, the task sets no head of its own, and a task that decodes
    has a space and a net that decode for it."""
    where = f"{key}.output"
    if task.output not in model.outputs:
        known = ", ".join(map(short_key, model.outputs)) or "none"
        return [f"{where}: {short(task.output)} is not in model.outputs ({known})"]
    if net is None:  # its section has its own error
        return []
    errors = []
    section = (
        f"output net {model.outputs[task.output].name} (model.outputs.{short_key(task.output)})"
    )
    if view.target not in net.target_kinds:
        writes = " or ".join(net.target_kinds)
        errors.append(
            f"{where}: {section} writes {writes} targets; the {view.name} view gives {view.target}"
        )
    if task.head.config is not None and task.head.config != kind.Config():  # saved: defaults
        errors.append(f"{key}.head: the task's output comes from {section}; it has no head to set")
    if kind.decodes and not net.decodes:
        errors.append(f"{where}: a {task.kind} task decodes, but {section} does not")
    if kind.decodes and space is not None and not getattr(space, "decodes", False):
        errors.append(
            f"{where}: a {task.kind} task with a shared output net decodes through the space, "
            f"but {space.__name__} does not decode (use a decoding space such as "
            "model.space=decoder, or leave output unset for the task's own decoder head)"
        )
    return errors


def _joins(
    key: str, task: Any, cap: Any, data_kind: str, space: Any, kind: Any, net: Any = None
) -> list[str]:
    """Does the cap read the task's data, the space the cap's output, and the head (or the
    output net, ``net``) the space's?"""
    where = f"{key}.modality: cap {cap.__name__} (model.modalities.{short_key(task.modality)})"
    if cap.modality_kind != data_kind:
        name = short(task.data.name)
        return [f"{where} reads {cap.modality_kind} data, but {name} is {data_kind}"]
    if space is None:
        return []
    if cap.produces not in space.forms:
        takes = " or ".join(space.forms)
        return [f"{where} gives {cap.produces}s; the space {space.__name__} takes {takes}"]
    out = space.forms[cap.produces]
    if net is not None and kind.decodes:  # the net reads the decoder's states, a sequence
        return []
    reader, accepts = f"a {task.kind} head", kind.accepts
    if net is not None:  # what the net reads and the task kind's output can come from
        reader = f"output net {net.__name__} for a {task.kind} task"
        accepts = tuple(form for form in net.accepts if form in kind.accepts)
    if out not in accepts:
        reads = " or ".join(accepts) or "neither"
        return [f"{key}: the space gives this task {out}s; {reader} reads {reads}"]
    return []


def _best(keep_best: str | None, tasks: dict, kinds: dict[str, Any]) -> list[str]:
    """``train.keep_best`` names a task of the config and a metric its kind has a goal for
    (a task whose kind is unknown has its own error already)."""
    if keep_best is None:
        return []
    task, _, metric = keep_best.partition(".")
    where = f"train.keep_best: {short(keep_best)}"
    if task not in tasks:
        known = ", ".join(map(short_key, tasks))
        return [f"{where} is not task.metric with a task of this config ({known})"]
    if task not in kinds:
        return []
    goals = kinds[task].goals
    if metric not in goals:
        return [f"{where}: a {task} task reports {', '.join(goals)} (metrics with a goal)"]
    return []


def _vocab(key: str, tokenizer: str, vocab_size: int) -> list[str]:
    """A vocabulary too small for its tokenizer kind, refused before any text is read (its
    ``fit`` would refuse it too, but only once the text is read)."""
    least = TOKENIZER_CLASSES[tokenizer].min_vocab_size
    if vocab_size >= least:
        return []
    return [f"{key}.data.vocab_size: {tokenizer} needs at least {least} ids, got {vocab_size}"]
