"""Branched: the backbone's last stage, copied per group of tasks (Yan et al., Berkeley report,
Fig. 4.1: detection keeps a copy of its own, the self-supervised tasks share another).

The cap (``image_resnet``) is the part every task shares, up to the stage its config stops at;
this space is the stage after it (``layers.residual.stage``), one copy per *branch*. ``groups``
names the branches that several tasks share (``{aux: [colour, angle, distance]}``); a task in no
group has a branch of its own, so ``groups: {}`` gives every task its own last stage. Task names
are turned into branch indices when the config is read (``name_tasks``), so a misspelt task is a
config error before any data loads.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from sharedspace.config import number
from sharedspace.errors import ConfigError
from sharedspace.layers.residual import stage
from sharedspace.representation import Form
from sharedspace.spaces.registry import SPACES


@SPACES.register("branched")
class Branched(nn.Module):
    """A feature map (B, in_dim, H, W) → (B, out_dim, H / stride, W / stride) through the branch
    of task ``task``: ``blocks`` residual blocks of ``channels`` (the first strided)."""

    forms: ClassVar[dict[Form, Form]] = {"map": "map"}
    aux_losses = ()

    @dataclass
    class Config:
        # branch name → the tasks sharing it; a task in no group has a branch of its own
        groups: dict[str, list[str]] = field(default_factory=dict)
        channels: int | None = number(None, ge=1)  # the branch's width; None: the cap's
        blocks: int = number(1, ge=1)
        stride: int = number(1, ge=1)  # of the branch's first block
        # task index → branch index, from ``name_tasks``; empty: a branch per task
        branch_of: tuple[int, ...] = field(default=(), init=False)

        def name_tasks(self, tasks: Sequence[str], key: str = "model.space") -> None:
            """Set ``branch_of`` for the run's tasks, in order, branches numbered as their first
            task comes (task 0's is branch 0, whatever the groups). ConfigError for a task not
            in the run, or in two groups."""
            group_of: dict[str, str] = {}
            for group, members in self.groups.items():
                for name in members:
                    if name not in tasks:
                        known = ", ".join(tasks)
                        raise ConfigError(
                            f"{key}.groups.{group}: {name!r} is not a task; tasks: {known}"
                        )
                    if name in group_of:
                        raise ConfigError(f"{key}.groups.{group}: {name!r} is in two groups")
                    group_of[name] = group
            owner = [("group", group_of[t]) if t in group_of else ("task", t) for t in tasks]
            numbers: dict[tuple[str, str], int] = {}  # a group, or a lone task → its branch
            for who in owner:
                numbers.setdefault(who, len(numbers))
            self.branch_of = tuple(numbers[who] for who in owner)

    def __init__(self, cfg: Config, in_dim: int, num_tasks: int) -> None:
        super().__init__()
        self.branch_of = cfg.branch_of or tuple(range(num_tasks))
        if len(self.branch_of) != num_tasks:
            raise ValueError(f"branch_of names {len(self.branch_of)} tasks, not {num_tasks}")
        self.out_dim = cfg.channels or in_dim
        branches = max(self.branch_of) + 1
        self.branches = nn.ModuleList(
            stage(in_dim, self.out_dim, cfg.blocks, cfg.stride).to(
                memory_format=torch.channels_last
            )
            for _ in range(branches)
        )

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        return self.branches[self.branch_of[task]](h.contiguous(memory_format=torch.channels_last))

    def task_parameters(self) -> dict[int, list[nn.Parameter]]:
        """A branch that serves one task is that task's own; a shared one is shared."""
        users = [self.branch_of.count(b) for b in range(len(self.branches))]
        return {
            task: list(self.branches[b].parameters())
            for task, b in enumerate(self.branch_of)
            if users[b] == 1
        }
