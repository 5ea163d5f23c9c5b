"""Build the run's tasks, in config order (the order is the task index the space receives)."""

from typing import Any

from sharedspace.config import ExperimentConfig, from_dict
from sharedspace.tasks.base import TASKS, Task
from sharedspace.tasks.data import prepare_images, prepare_text


def build_tasks(
    cfg: ExperimentConfig, states: dict[str, dict[str, Any]] | None = None
) -> list[Task]:
    """``states`` (task name → TaskData.state, from a checkpoint) restores tokenizers exactly."""
    tasks = []
    for index, (name, tcfg) in enumerate(cfg.tasks.items()):
        kind = TASKS.get(tcfg.kind)
        key = f"tasks.{name}.data"
        if kind.modality_kind == "image":
            data = prepare_images(tcfg.data, cfg.data_dir, cfg.seed, key)
        else:
            state = (states or {}).get(name, {}).get("tokenizer")
            data = prepare_text(tcfg.data, cfg.data_dir, key, state)
        head_cfg = from_dict(kind.Config, tcfg.head, f"tasks.{name}.head")
        tasks.append(kind(name, index, tcfg.modality, head_cfg, data))
    return tasks
