"""Build the run's tasks, in config order (the order is the task index the space receives)."""

from collections.abc import Collection
from typing import Any

from sharedspace.config import ExperimentConfig
from sharedspace.tasks.base import TASKS, Task
from sharedspace.tasks.views import DATA_VIEWS
from sharedspace.tasks.vocabulary import shared_tokenizers


def build_tasks(
    cfg: ExperimentConfig,
    states: dict[str, dict[str, Any]] | None = None,
    vocabularies: dict[str, dict[str, Any]] | None = None,
    names: Collection[str] | None = None,
) -> list[Task]:
    """``cfg`` is resolved (typed data and head configs); ``states`` (task name →
    TaskData.state, from a checkpoint) restores tokenizers exactly. Tasks of one
    ``data.vocabulary`` read one tokenizer (tasks/vocabulary.py): the one ``vocabularies``
    (vocabulary name → tokenizer state) gives, else fitted on their text. ``names``: only these
    tasks, each with its index in the config (a run's tasks evaluated on other data)."""
    states = states or {}
    shared = shared_tokenizers(cfg, states, vocabularies)
    tasks = []
    for index, (name, tcfg) in enumerate(cfg.tasks.items()):
        if names is not None and name not in names:
            continue
        kind = TASKS.get(tcfg.kind)
        source = tcfg.data.name
        view = DATA_VIEWS.pick(tcfg.kind, source, tcfg.data.config.view)
        state = shared.get(name) or states.get(name, {})
        key = f"tasks.{name}.data"
        data = view.prepare(source, tcfg.data.config, cfg.data_dir, cfg.seed, key, state)
        task = kind(name, index, tcfg.modality, tcfg.head.config, data, tcfg.decode, tcfg.output)
        if tcfg.reduction is not None:
            task.reduction = tcfg.reduction
        task.label_smoothing = tcfg.label_smoothing
        task.task_token = tcfg.task_token
        tasks.append(task)
    return tasks
