"""SharedSpaceModel: modality caps → shared space → task caps, assembled per task.

``model(task, batch)`` runs the cap of the task's modality on the batch's inputs and padding mask
(task-blind), the shared space (told the task index) and the task's head on the space's output and
the whole batch (so a head can teacher-force), and returns the head's output and the named
auxiliary losses that any of the three emitted. ``feedback(task, losses)`` hands the per-example
losses of that batch to every part that learns from the loss.

The loss-feedback hook: a submodule (cap, space, head, or any module inside them) that defines
``loss_feedback(task: int, losses: Tensor (B,)) -> dict[str, Tensor]`` is called after each
forward with the detached per-example losses of its batch, in batch order; what it returns are
auxiliary losses (e.g. a score-function surrogate ``(loss − baseline) · log p(gates)``) that join
the step's objective like any other, under names the part declares in ``aux_losses``.
"""

import torch
from torch import nn

from sharedspace.config import ExperimentConfig
from sharedspace.errors import ConfigError
from sharedspace.modalities import build_modality_cap
from sharedspace.representation import Representation
from sharedspace.spaces import build_space
from sharedspace.tasks import Task

AuxLosses = dict[str, torch.Tensor]


def _run(part: nn.Module, aux: AuxLosses, *args):
    """Call ``part``; a part that declares ``aux_losses`` returns (output, losses): add them."""
    declared = getattr(part, "aux_losses", ())
    if not declared:
        return part(*args)
    output, emitted = part(*args)
    _merge(part, aux, emitted)
    return output


def _merge(part: nn.Module, aux: AuxLosses, emitted: AuxLosses) -> None:
    """Add ``emitted`` into ``aux`` (one name from two parts sums), refusing undeclared names."""
    undeclared = sorted(set(emitted) - set(getattr(part, "aux_losses", ())))
    if undeclared:
        raise RuntimeError(f"{type(part).__name__} emitted undeclared aux losses {undeclared}")
    for name, value in emitted.items():
        aux[name] = aux[name] + value if name in aux else value


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
        self._learns_from_loss = [m for m in self.modules() if hasattr(m, "loss_feedback")]

    def embed(self, task: int, batch: dict[str, torch.Tensor]) -> tuple[Representation, AuxLosses]:
        """A batch's inputs → the space's output ((B, D) or a PaddedSequence) and aux losses."""
        aux: AuxLosses = {}
        h = _run(self.caps[self.task_modalities[task]], aux, batch["x"], batch.get("x_mask"))
        return _run(self.space, aux, h, task), aux

    def forward(self, task: int, batch: dict[str, torch.Tensor]) -> tuple[object, AuxLosses]:
        z, aux = self.embed(task, batch)
        return _run(self.heads[task], aux, z, batch), aux

    @torch.inference_mode()
    def predict(self, task: int, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The prediction path of a decoding head: greedy output tokens (B, L)."""
        z, _ = self.embed(task, batch)
        return self.heads[task].predict(z)

    def feedback(self, task: int, losses: torch.Tensor, aux: AuxLosses | None = None) -> AuxLosses:
        """Per-example losses (B,) of the last ``forward(task, …)`` → the parts' aux losses,
        added into ``aux`` (e.g. the forward's) when given."""
        aux = {} if aux is None else aux
        for part in self._learns_from_loss:
            _merge(part, aux, part.loss_feedback(task, losses))
        return aux

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that more than one task trains: the space's, and those of caps that serve
        several tasks — where gradient-level weighting methods combine the tasks' gradients."""
        shared_caps = {key for key in self.caps if self.task_modalities.count(key) > 1}
        caps = [p for key in sorted(shared_caps) for p in self.caps[key].parameters()]
        return [*caps, *self.space.parameters()]


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
