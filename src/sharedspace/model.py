"""SharedSpaceModel: modality caps → shared space → task caps, assembled per task.

``model(task, x)`` runs the cap of the task's modality (task-blind), the shared space (which is
told the task index) and the task's head, and returns the head's output and the space's named
auxiliary losses.
"""

import torch
from torch import nn

from sharedspace.config import ExperimentConfig
from sharedspace.errors import ConfigError
from sharedspace.modalities import build_modality_cap
from sharedspace.spaces import build_space
from sharedspace.tasks import Task


class SharedSpaceModel(nn.Module):
    def __init__(
        self,
        caps: dict[str, nn.Module],
        space: nn.Module,
        heads: list[nn.Module],
        task_modalities: list[str],
    ) -> None:
        super().__init__()
        self.caps = nn.ModuleDict(caps)
        self.space = space
        self.heads = nn.ModuleList(heads)
        self.task_modalities = task_modalities  # task index → key of its modality cap

    def embed(self, task: int, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A batch of the task's inputs → shared-space vectors (B, space.out_dim) and aux losses."""
        return self.space(self.caps[self.task_modalities[task]](x), task)

    def forward(self, task: int, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, aux = self.embed(task, x)
        return self.heads[task](z), aux


def build_model(cfg: ExperimentConfig, tasks: list[Task]) -> SharedSpaceModel:
    """One cap per modality that some task uses, its input described by those tasks' data."""
    specs: dict[str, object] = {}
    for task in tasks:
        seen = specs.setdefault(task.modality, task.data.spec)
        if seen != task.data.spec:
            raise ConfigError(
                f"tasks.{task.name}.modality: its data ({task.data.spec}) differs from another "
                f"task's data on modality {task.modality!r} ({seen}); one cap reads one input form"
            )
    caps = {
        key: build_modality_cap(
            cfg.model.modalities[key], cfg.model.width, spec, f"model.modalities.{key}"
        )
        for key, spec in specs.items()
    }
    space = build_space(cfg.model.space, cfg.model.width, len(tasks))
    heads = [task.build_head(space.out_dim) for task in tasks]
    return SharedSpaceModel(caps, space, heads, [t.modality for t in tasks])
