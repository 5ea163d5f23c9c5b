"""Build the run's tasks, in config order (the order is the task index the space receives)."""

from typing import Any

from sharedspace.config import ExperimentConfig
from sharedspace.tasks.base import TASKS, Task
from sharedspace.tasks.data import source_kind


def build_tasks(
    cfg: ExperimentConfig, states: dict[str, dict[str, Any]] | None = None
) -> list[Task]:
    """``cfg`` is resolved (typed data and head configs); ``states`` (task name →
    TaskData.state, from a checkpoint) restores tokenizers exactly."""
    tasks = []
    for index, (name, tcfg) in enumerate(cfg.tasks.items()):
        kind = TASKS.get(tcfg.kind)
        source = tcfg.data.name
        view = kind.data_views[source_kind(source)]
        state = (states or {}).get(name, {})
        key = f"tasks.{name}.data"
        data = view.prepare(source, tcfg.data.config, cfg.data_dir, cfg.seed, key, state)
        tasks.append(kind(name, index, tcfg.modality, tcfg.head.config, data))
    return tasks
