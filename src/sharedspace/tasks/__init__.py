"""Tasks: data + head (task cap) + loss + metrics, built from the run's config."""

from sharedspace.tasks import (  # noqa: F401  (register the task kinds)
    audio_data,
    caption_data,
    classification,
    clip_classification,
    colorization,
    detection,
    language_model,
    pair_baselines,
    pair_data,
    reconstruction,
    seq2seq,
    state_data,
    transcript_data,
    zero_shot,
)
from sharedspace.tasks.base import TASKS, LossTerms, Task
from sharedspace.tasks.build import build_tasks
from sharedspace.tasks.data import TaskData

__all__ = ["TASKS", "LossTerms", "Task", "TaskData", "build_tasks"]
