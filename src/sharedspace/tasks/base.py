"""A Task names its modality, its data, its head (task cap), its loss and its metrics.

Contract (checked for every kind by the registry-wide tests):
- Data views (``tasks.views.DATA_VIEWS``) register per (task kind, data kind) and make its
  splits, so classification works on images, text and bits; ``targets``: the target kinds
  (``data.specs.TARGET_KINDS``) its head can produce, which ``validate`` checks against the
  view's before any data loads. A head reads its output size from ``data.target``.
- ``accepts``: the representation forms its head reads from the space ("vector", "sequence").
- ``build_head(in_dim)`` → the task's own head, a module called as ``head(z, batch)``; the whole
  batch reaches it, so a sequence head can teacher-force on ``batch["y"]``. A task that names an
  ``output`` (a key of ``model.outputs``) has no head: the output net of that key, shared by every
  task naming it, writes its output in the form its own head would (``sharedspace.outputs``). A
  head returns only its output; it, or a module inside it, emits aux losses with ``parts.emit``,
  and the kind's ``aux_losses`` lists every name its head may emit.
- ``loss(output, batch)`` → ``LossTerms``: per-example loss sums and weights (B,), which the
  training step reduces once, over every process, by the kind's ``reduction``: "example" (the
  mean of the examples' losses sum/weight) or "token" (Σ sums / Σ weights over the global batch,
  as translation systems weigh tokens; a config may choose with ``tasks.<t>.reduction``). Parts
  that learn from the loss get the per-example losses, sum/weight, in batch order through
  ``SharedSpaceModel.feedback``.
- ``critic_loss(output, batch)`` → ``LossTerms`` (optional): what a critic inside the head
  minimises under ``train.step=adversarial``, while ``loss`` is what the rest minimises.
- ``decodes``: the kind's output is a token sequence with a prediction path (its head's
  ``predict(z, decoding) → tokens``, or a decoding space with the task's output net), which
  evaluation uses by the task's ``decoding`` settings (``tasks.<t>.decode``).
- Metrics are kept as sums over a whole split (``metric_sums``) and turned into numbers once
  (``metrics``), so nothing is an average of per-batch averages and DDP simply all-reduces sums.
  A metric that needs every example at once (COCO-style AP ranks all of a split's detections)
  gives per-example rows instead (``metric_rows``: (B, …) tensors of a fixed shape past B, such
  as padded detections), which evaluation joins over the split and every process and hands to
  ``row_metrics`` once; its numbers join those of ``metrics``.
- ``goals``: for every metric the kind reports, whether higher ("max") or lower ("min") is
  better — what ``train.keep_best`` and sign-corrected comparisons (Δm) read.
"""

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from sharedspace.decoding import Decoding
from sharedspace.registry import Registry
from sharedspace.representation import Form
from sharedspace.tasks.data import TaskData

TASKS: Registry[type["Task"]] = Registry("task kind")
Reduction = Literal["example", "token"]


@dataclass
class LossTerms:
    """A batch's loss as each example's summed loss and its weight: its target tokens, or 1."""

    sums: torch.Tensor  # (B,)
    weights: torch.Tensor  # (B,)

    @classmethod
    def per_example(cls, losses: torch.Tensor) -> "LossTerms":
        """Per-example losses (B,), each weighing 1."""
        return cls(losses, torch.ones_like(losses))

    def losses(self) -> torch.Tensor:
        """Each example's loss (B,): its sum over its weight (0 where it weighs nothing)."""
        return self.sums / self.weights.clamp_min(torch.finfo(self.weights.dtype).tiny)

    def totals(self, reduction: Reduction) -> tuple[torch.Tensor, torch.Tensor]:
        """(numerator, denominator): summed over every process, their ratio is the loss."""
        if reduction == "token":
            return self.sums.sum(), self.weights.sum()
        losses = self.losses()
        return losses.sum(), losses.new_tensor(float(len(losses)))

    def mean(self, reduction: Reduction) -> torch.Tensor:
        """The loss of this batch alone."""
        numerator, denominator = self.totals(reduction)
        return numerator / denominator


class Task:
    targets: ClassVar[tuple[str, ...]]  # target kinds its head produces ("classes", "tokens")
    accepts: ClassVar[tuple[Form, ...]] = ("vector",)
    aux_losses: ClassVar[tuple[str, ...]] = ()  # names its head may emit
    decodes: ClassVar[bool] = False
    reduction: ClassVar[Reduction] = "example"  # how the step reduces its LossTerms
    smooths_labels: ClassVar[bool] = False  # its training loss reads ``label_smoothing``
    label_smoothing: float = 0.0  # ε of the training loss (a run's ``tasks.<t>.label_smoothing``)
    task_token: str | None = None  # the command its decoder starts from; None: its name
    goals: ClassVar[dict[str, Literal["max", "min"]]] = {"loss": "min"}  # metric → better way

    @dataclass
    class Config:  # the head's settings; subclasses override
        pass

    def __init__(
        self,
        name: str,
        index: int,
        modality: str,
        head_cfg: Any,
        data: TaskData,
        decoding: Decoding | None = None,
        output: str | None = None,
    ) -> None:
        self.name, self.index, self.modality, self.output = name, index, modality, output
        self.head_cfg, self.data = head_cfg, data
        self.decoding = decoding or Decoding()  # how ``predict`` decodes, when the kind decodes

    def build_head(self, in_dim: int) -> nn.Module:
        raise NotImplementedError

    def loss(self, output: Any, batch: dict[str, torch.Tensor]) -> LossTerms:
        """The batch's training loss terms."""
        raise NotImplementedError

    def metric_sums(
        self, output: Any, batch: dict[str, torch.Tensor], prediction: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Sums over the batch (float64 scalars) that ``metrics`` turns into numbers;
        ``prediction`` is the decoded output when the kind ``decodes``."""
        raise NotImplementedError

    @staticmethod
    def metrics(sums: dict[str, float]) -> dict[str, float]:
        raise NotImplementedError

    def metric_rows(
        self, output: Any, batch: dict[str, torch.Tensor], prediction: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-example rows (B, …) for metrics of the whole split (``row_metrics``); none by
        default, the metrics being sums."""
        return {}

    def row_metrics(self, rows: dict[str, torch.Tensor]) -> dict[str, float]:
        """Numbers from the rows of every example of the split (N, …), in split order."""
        return {}
