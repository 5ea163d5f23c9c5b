"""SharedSpaceModel: modality caps → shared space → output nets or task heads, assembled per task.

``model(task, batch)`` runs the cap of the task's modality on the batch's inputs and padding mask
(task-blind), the shared space (told the task index), then what writes the task's output: its
own head, on the space's output and the whole batch (so a head can teacher-force), or the output
net it shares with every task of its output key (``model.outputs``), told the task. A task whose
output is a token sequence and whose space decodes takes a third path: the output net embeds the
targets shifted right behind the task's start token, the space reads them with the input and
returns one state per target position, and the output net turns the states into logits — one
decoder and one language net serve every such task, told apart by their start tokens
(MultiModel's target-space embedding). A task whose examples are several frames (``x`` (B, F, …):
views of one scene as a camera moves) has them read as B·F inputs by the cap and the space, and
its head joins each example's F outputs. The model returns the output and the named auxiliary
losses that any module emitted during that forward (``parts.emit``). ``feedback(task, losses)``
hands the per-example losses of that batch to every part that learns from the loss.

Mixed precision (``train.precision``): ``forward`` and ``embed`` run under autocast to
``compute_dtype`` when the trainer sets one, and return float32 (``precision.to_float32``), so
losses and metrics outside never see a rounded value.

The loss-feedback hook: a submodule (cap, space, head, or any module inside them) that defines
``loss_feedback(task: int, losses: Tensor (B,)) -> dict[str, Tensor]`` is called after each
forward with the detached per-example losses of its batch, in batch order; what it returns are
auxiliary losses (e.g. a score-function surrogate ``(loss − baseline) · log p(gates)``) that join
the step's objective like any other, under names the part declares in ``aux_losses``.

What the parts declare (``parts``): emitted aux losses, parameter groups and task-specific
parameters, each found once here and read by the trainer through ``param_groups()``,
``task_parameters()`` and ``shared_parameters()``.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from sharedspace.config import ExperimentConfig
from sharedspace.data.tokenizers import EOS_ID, PAD_ID
from sharedspace.decoding import Decoding, search
from sharedspace.errors import ConfigError
from sharedspace.modalities import build_modality_cap, cap_reads
from sharedspace.outputs import OUTPUTS, build_output
from sharedspace.parts import (
    AuxLosses,
    ParamGroup,
    collect,
    emit,
    emitters,
    split_stacked_rows,
)
from sharedspace.precision import autocast, to_float32
from sharedspace.representation import Representation
from sharedspace.spaces import build_space
from sharedspace.spaces.global_batch import Positions, RowDraws, replay, stream_positions
from sharedspace.tasks import Task


@dataclass(frozen=True)
class TaskPath:
    """How the model runs one task: the cap that reads its input (a ``caps`` key), the output
    net that writes its output (an ``outputs`` key; None: the task's own head), and whether the
    space decodes for it (reads its shifted targets: token sequences out of a decoding space)."""

    modality: str
    output: str | None = None
    decodes: bool = False
    frames: int = 1  # inputs per example (``TaskData.frames``)


class SharedSpaceModel(nn.Module):
    compute_dtype: torch.dtype | None = None  # autocast's dtype in forward and embed; None: fp32

    def __init__(
        self,
        caps: dict[str, nn.Module],
        space: nn.Module,
        heads: dict[int, nn.Module],
        paths: list[TaskPath],
        outputs: dict[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.caps = nn.ModuleDict(caps)
        self.space = space
        self.heads = nn.ModuleDict({str(task): head for task, head in heads.items()})
        self.outputs = nn.ModuleDict(outputs or {})
        self.paths = paths  # task index → how it runs
        parts = [(name, m) for name, m in self.named_modules() if m is not self]
        self._learns_from_loss = [m for _, m in parts if hasattr(m, "loss_feedback")]
        self._emitters = emitters(self)
        self._streams = [m for _, m in parts if isinstance(m, RowDraws)]  # found once, not a step
        self._declares_groups = [(n, m) for n, m in parts if hasattr(m, "param_groups")]
        self._declares_tasks = [m for _, m in parts if hasattr(m, "task_parameters")]
        # weights saved before per-task parameters were split into rows still load
        self.register_load_state_dict_pre_hook(split_stacked_rows)

    def _read(self, task: int, batch: dict[str, torch.Tensor]) -> Representation:
        """The task's cap on the batch's inputs, after dropping what a call outside the model
        (a probe, a test) left emitted."""
        collect(self._emitters)
        path, x, mask = self.paths[task], batch["x"], batch.get("x_mask")
        if path.frames > 1:  # (B, F, …) → (B·F, …)
            x, mask = x.flatten(0, 1), None if mask is None else mask.flatten(0, 1)
        return self.caps[path.modality](x, mask)

    def embed(self, task: int, batch: dict[str, torch.Tensor]) -> tuple[Representation, AuxLosses]:
        """A batch's inputs → the space's output ((B, D) or a PaddedSequence) and aux losses."""
        with autocast(batch["x"].device, self.compute_dtype):
            z = self.space(self._read(task, batch), task)
        return to_float32(z), to_float32(collect(self._emitters))

    def forward(self, task: int, batch: dict[str, torch.Tensor]) -> tuple[object, AuxLosses]:
        output, aux, _ = self._run(task, batch)
        return output, aux

    @torch.inference_mode()
    def predict(
        self, task: int, batch: dict[str, torch.Tensor], decoding: Decoding | None = None
    ) -> torch.Tensor:
        """Output tokens (B, L) of a task that decodes, by ``decoding`` (greedy when None; beam
        search with a length penalty): its own head's prediction path, or the decoding space
        fed one token at a time through the task's output net, from the task's start token."""
        decoding = decoding or Decoding()
        if not self.paths[task].decodes:
            z, _ = self.embed(task, batch)
            return self.heads[str(task)].predict(z, decoding)
        with autocast(batch["x"].device, self.compute_dtype):
            memory = self.space.encode(self._read(task, batch), task)
        return self._search(task, to_float32(memory), decoding, batch)

    @torch.inference_mode()
    def scored(
        self, task: int, batch: dict[str, torch.Tensor], decoding: Decoding
    ) -> tuple[object, AuxLosses, torch.Tensor]:
        """``forward`` and ``predict`` on one batch (validation of a task that decodes), its
        inputs read once: the cap, and the space or a decoding space's encoder, run once."""
        return self._run(task, batch, decoding)

    def _run(
        self, task: int, batch: dict[str, torch.Tensor], decoding: Decoding | None = None
    ) -> tuple[object, AuxLosses, torch.Tensor | None]:
        """The task's output and aux losses, and its prediction by ``decoding`` when given."""
        path = self.paths[task]
        with autocast(batch["x"].device, self.compute_dtype):
            h = self._read(task, batch)
            if path.decodes:  # states (B, L, D), one per target position
                net = self.outputs[path.output]
                z = self.space.encode(h, task)  # the decoder's memory
                shifted = net.shifted(batch["y"], batch["y_mask"], task)
                output = net(self.space.decode(z, shifted), task)
            else:
                z = self.space(h, task)
                if path.output is None:
                    output = self.heads[str(task)](z, batch)
                else:
                    output = self.outputs[path.output](z, task)
        output, aux = to_float32(output), to_float32(collect(self._emitters))
        if decoding is None:
            return output, aux, None
        if path.decodes:
            return output, aux, self._search(task, to_float32(z), decoding, batch)
        return output, aux, self.heads[str(task)].predict(to_float32(z), decoding)

    def _search(
        self, task: int, memory: object, decoding: Decoding, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Tokens (B, L) decoded from the decoding space's ``memory`` through the task's output
        net, starting from its start token."""
        net = self.outputs[self.paths[task].output]
        steps, state = self.space.decoder(memory)
        start = torch.full((len(batch["x"]),), net.start_id, device=batch["x"].device)
        limited = decoding.within(self.space.max_len)
        return search(net.token_steps(steps, task), state, start, limited, EOS_ID, PAD_ID)

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
        """Parameters that more than one task trains: the space's, and those of caps and output
        nets that serve several tasks, less any a part declares task-specific — where
        gradient-level weighting methods combine the tasks' gradients."""
        caps = self._serving_several(self.caps, [path.modality for path in self.paths])
        outputs = self._serving_several(self.outputs, [path.output for path in self.paths])
        own = {id(p) for params in self.task_parameters().values() for p in params}
        return [p for p in (*caps, *self.space.parameters(), *outputs) if id(p) not in own]

    @staticmethod
    def _serving_several(parts: nn.ModuleDict, keys: list[str | None]) -> list[nn.Parameter]:
        """The parameters of the parts whose key more than one task names, in key order."""
        return [p for key in sorted(parts) if keys.count(key) > 1 for p in parts[key].parameters()]

    def stream_positions(self) -> Positions:
        """Where every per-row random stream (gates, routes, noise) stands now, for ``replay``."""
        return stream_positions(self._streams)

    def replay(self, positions: Positions) -> AbstractContextManager[None]:
        """A context inside which the per-row streams draw again from ``positions``; after it,
        they stand where they stood (``spaces.global_batch.replay``)."""
        return replay(positions)


def build_model(cfg: ExperimentConfig, tasks: list[Task]) -> SharedSpaceModel:
    """One cap per modality that some task uses, built from those tasks' input spec; one
    output net per output key that some task names, built from those tasks' target spec (of
    which it may read less: a language net, the vocabulary); a head for every task that names
    none."""
    specs = _one_spec_each(
        tasks,
        "modality",
        lambda task: task.data.spec,
        lambda key, spec: cap_reads(cfg.model.modalities[key], spec),
    )
    caps = {
        key: build_modality_cap(
            cfg.model.modalities[key], cfg.model.width, spec, f"model.modalities.{key}"
        )
        for key, spec in specs.items()
    }
    space = build_space(cfg.model.space, cfg.model.width, len(tasks))
    sections = cfg.model.outputs
    targets = _one_spec_each(
        tasks,
        "output",
        lambda task: task.data.target,
        lambda key, target: OUTPUTS.get(sections[key].name).reads(target),
    )
    tokens = tuple(task.task_token or task.name for task in tasks)
    outputs = {
        key: build_output(sections[key], space.out_dim, target, tokens, f"model.outputs.{key}")
        for key, target in targets.items()
    }
    paths = []
    for task in tasks:
        decodes = task.output is not None and task.decodes
        if decodes and task.data.target.max_len > space.max_len:
            raise ConfigError(
                f"model.space.max_len: {space.max_len}, but task {task.name}'s targets are up "
                f"to {task.data.target.max_len} tokens long (<eos> included)"
            )
        if task.data.frames > 1 and task.output is not None:
            raise ConfigError(
                f"tasks.{task.name}.output: its examples are {task.data.frames} frames each, "
                "which only a task's own head joins; leave output out"
            )
        paths.append(TaskPath(task.modality, task.output, decodes, task.data.frames))
    heads = {task.index: task.build_head(space.out_dim) for task in tasks if task.output is None}
    model = SharedSpaceModel(caps, space, heads, paths, outputs)
    framed = [task.name for task in tasks if task.data.frames > 1]
    if framed and model._learns_from_loss:
        raise ConfigError(
            f"model.space: {cfg.model.space.name} learns from each example's loss, but task "
            f"{framed[0]}'s examples are several frames, each of which it reads as an example"
        )
    return model


def _one_spec_each(
    tasks: list[Task],
    attribute: str,
    spec_of: Callable[[Task], object],
    reads: Callable[[str, object], object] = lambda key, spec: spec,
) -> dict[str, object]:
    """Key (a task's ``modality`` or ``output``) → the spec of its first task. The part of that
    key reads ``reads(key, spec)`` of it, and its other tasks must give the same (ConfigError
    naming the first task that differs)."""
    specs: dict[str, object] = {}
    for task in tasks:
        key = getattr(task, attribute)
        if key is None:
            continue
        seen = specs.setdefault(key, spec_of(task))
        if reads(key, seen) != reads(key, spec_of(task)):
            raise ConfigError(
                f"tasks.{task.name}.{attribute}: its data ({spec_of(task)}) differs from another "
                f"task's data on {attribute} {key!r} ({seen}); the part they share reads one form"
            )
    return specs
