"""Dynamic loss scaling for ``train.precision=fp16`` (Micikevicius et al. 2018).

float16 gradients below ~6e-8 flush to zero, so the backward starts from the loss times a large
scale S and every gradient is divided by S as it reaches its (float32) parameter. S halves when a
step's gradients overflow (the step is skipped) and doubles after ``interval`` good steps — the
schedule and defaults of ``torch.amp.GradScaler``. Why not GradScaler itself: it unscales at the
optimizer, after the whole backward, but here the weighting owns the backward and a
gradient-level weighting combines the tasks' gradients nonlinearly (MGDA, Nash-MTL, …) before any
optimizer sees them, so each gradient must be unscaled as it is made
(``StepContext.backward``, ``weighting.base.task_jacobian``).
"""

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn


@dataclass
class LossScale:
    """S and its schedule; ``update`` after every step's backward. Its state is in the
    checkpoint, so a resumed fp16 run scales as the uninterrupted one."""

    scale: float = 2.0**16
    growth: float = 2.0
    backoff: float = 0.5
    interval: int = 2000  # good steps before S grows
    good_steps: int = 0  # since the last change of S

    def update(self, params: list[nn.Parameter]) -> bool:
        """Were the gradients of ``params`` finite? Grows or backs off S accordingly; a False
        means the step must be skipped. The gradients are averaged over processes already, so
        every process decides alike."""
        grads = [p.grad for p in params if p.grad is not None]
        finite = not grads or bool(torch.stack([g.sum() for g in grads]).isfinite().all())
        if not finite:
            self.scale, self.good_steps = self.scale * self.backoff, 0
        elif self.good_steps + 1 == self.interval:
            self.scale, self.good_steps = self.scale * self.growth, 0
        else:
            self.good_steps += 1
        return finite

    def state_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        for f in fields(self):
            setattr(self, f.name, type(getattr(self, f.name))(state[f.name]))
