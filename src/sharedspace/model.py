"""SharedSpaceModel: modality caps → shared space → task caps, assembled per task.

``model(task, batch)`` runs the cap of the task's modality on the batch's inputs and padding mask
(task-blind), the shared space (told the task index) and the task's head on the space's output and
the whole batch (so a head can teacher-force), and returns the head's output and the named
auxiliary losses that any module of the three emitted during that forward (``parts.emit``).
``feedback(task, losses)`` hands the per-example losses of that batch to every part that learns
from the loss.

The loss-feedback hook: a submodule (cap, space, head, or any module inside them) that defines
``loss_feedback(task: int, losses: Tensor (B,)) -> dict[str, Tensor]`` is called after each
forward with the detached per-example losses of its batch, in batch order; what it returns are
auxiliary losses (e.g. a score-function surrogate ``(loss − baseline) · log p(gates)``) that join
the step's objective like any other, under names the part declares in ``aux_losses``.

What the parts declare (``parts``): emitted aux losses, parameter groups and task-specific
parameters, each found once here and read by the trainer through ``param_groups()``,
``task_parameters()`` and ``shared_parameters()``.
"""

from contextlib import AbstractContextManager

import torch
from torch import nn

from sharedspace.config import ExperimentConfig
from sharedspace.decoding import Decoding
from sharedspace.errors import ConfigError
from sharedspace.modalities import build_modality_cap
from sharedspace.parts import (
    AuxLosses,
    ParamGroup,
    collect,
    emit,
    emitters,
    split_stacked_rows,
)
from sharedspace.representation import Representation
from sharedspace.spaces import build_space
from sharedspace.spaces.global_batch import Positions, replay, stream_positions
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
        parts = [(name, m) for name, m in self.named_modules() if m is not self]
        self._learns_from_loss = [m for _, m in parts if hasattr(m, "loss_feedback")]
        self._emitters = emitters(self)
        self._declares_groups = [(n, m) for n, m in parts if hasattr(m, "param_groups")]
        self._declares_tasks = [m for _, m in parts if hasattr(m, "task_parameters")]
        # weights saved before per-task parameters were split into rows still load
        self.register_load_state_dict_pre_hook(split_stacked_rows)

    def _embed(self, task: int, batch: dict[str, torch.Tensor]) -> Representation:
        collect(self._emitters)  # drop what a call outside the model (a probe, a test) left
        h = self.caps[self.task_modalities[task]](batch["x"], batch.get("x_mask"))
        return self.space(h, task)

    def embed(self, task: int, batch: dict[str, torch.Tensor]) -> tuple[Representation, AuxLosses]:
        """A batch's inputs → the space's output ((B, D) or a PaddedSequence) and aux losses."""
        z = self._embed(task, batch)
        return z, collect(self._emitters)

    def forward(self, task: int, batch: dict[str, torch.Tensor]) -> tuple[object, AuxLosses]:
        output = self.heads[task](self._embed(task, batch), batch)
        return output, collect(self._emitters)

    @torch.inference_mode()
    def predict(
        self, task: int, batch: dict[str, torch.Tensor], decoding: Decoding | None = None
    ) -> torch.Tensor:
        """The prediction path of a decoding head: output tokens (B, L), by ``decoding``
        (greedy when None; beam search with a length penalty)."""
        z, _ = self.embed(task, batch)
        return self.heads[task].predict(z, decoding)

    def feedback(self, task: int, losses: torch.Tensor, aux: AuxLosses | None = None) -> AuxLosses:
        """Per-example losses (B,) of the last ``forward(task, …)`` → the parts' aux losses,
        added into ``aux`` (e.g. the forward's) when given."""
        aux = {} if aux is None else aux
        for part in self._learns_from_loss:
            for name, value in part.loss_feedback(task, losses).items():
                emit(part, name, value)  # refuses a name the part does not declare
        for name, value in collect(self._learns_from_loss).items():
            aux[name] = aux[name] + value if name in aux else value
        return aux

    def param_groups(self) -> dict[str, ParamGroup]:
        """The parameter groups every part declares, by name; one name declared by two parts is
        one group if they ask the same ``lr_scale``. Parameters in no group: lr_scale 1."""
        groups: dict[str, ParamGroup] = {}
        owner: dict[str, str] = {}  # group name → the first part that declared it
        for where, part in self._declares_groups:
            for name, group in part.param_groups().items():
                if name not in groups:
                    groups[name] = ParamGroup(list(group.params), group.lr_scale)
                    owner[name] = where
                elif groups[name].lr_scale != group.lr_scale:
                    raise ValueError(
                        f"parameter group {name!r}: {owner[name]} asks lr_scale "
                        f"{groups[name].lr_scale}, {where} asks {group.lr_scale}"
                    )
                else:
                    groups[name].params += group.params
        return groups

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        """Task index → the parameters only that task trains, as the parts declare them."""
        found: dict[int, list[nn.Parameter]] = {}
        for part in self._declares_tasks:
            for task, params in part.task_parameters().items():
                found.setdefault(task, []).extend(params)
        return found

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that more than one task trains: the space's, and those of caps that serve
        several tasks, less any a part declares task-specific — where gradient-level weighting
        methods combine the tasks' gradients."""
        shared_caps = {key for key in self.caps if self.task_modalities.count(key) > 1}
        caps = [p for key in sorted(shared_caps) for p in self.caps[key].parameters()]
        own = {id(p) for params in self.task_parameters().values() for p in params}
        return [p for p in (*caps, *self.space.parameters()) if id(p) not in own]

    def stream_positions(self) -> Positions:
        """Where every per-row random stream (gates, routes, noise) stands now, for ``replay``."""
        return stream_positions(self)

    def replay(self, positions: Positions) -> AbstractContextManager[None]:
        """A context inside which the per-row streams draw again from ``positions``; after it,
        they stand where they stood (``spaces.global_batch.replay``)."""
        return replay(positions)


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
