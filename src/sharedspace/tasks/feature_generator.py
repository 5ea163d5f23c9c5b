"""TFG's feature generator G(t, n) and the ways its task description t and noise n enter it —
the report's ablation (Yan et al. 2020, §5; Wang et al., "Task-aware feature generation"):

- ``ss`` (single sampling): [t; n] at the input only;
- ``uds`` (uniform deep sampling): t at the input, fresh noise through E_n^i added at every layer;
- ``ss_mtc_add`` (SS-MTC+): [t; n] at the input, t through E_t^i added at every layer;
- ``ss_mtc_film`` (SS-MTC*): [t; n] at the input, every layer's output scaled and shifted by
  affine maps of t (FiLM, Perez et al. 2018; the scale is 1 + γ(t), so it starts near identity);
- ``tds`` (task-aware deep sampling): t at the input, E_t^i(t) ⊙ E_n^i(n_i) added at every layer —
  noise whose directions the task chooses. With E_t^i ≡ 1 it is ``uds`` exactly (a test checks).

E_n^i is 2 FC layers (noise → hidden → the layer's width), E_t^i one FC without bias. Noise comes
from a per-row stream (``RowDraws``): 2 processes draw what 1 does, a resume draws on exactly.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.registry import Registry
from sharedspace.spaces.global_batch import RowDraws

Noise = Callable[[], torch.Tensor]  # a fresh (B, noise) draw of N(0, I) per call
CONDITIONINGS: Registry[type["Conditioning"]] = Registry("generator conditioning")


@dataclass(frozen=True)
class Shape:
    """Sizes a conditioning is built for: t's, the noise's, and each layer's output width."""

    task: int
    noise: int
    widths: tuple[int, ...]


def noise_net(shape: Shape, width: int) -> nn.Module:
    """E_n: noise (B, noise) → (B, width) through 2 FC layers, the first as wide as the
    generator's hidden layers."""
    return nn.Sequential(
        nn.Linear(shape.noise, shape.widths[0]),
        nn.LeakyReLU(0.2),
        nn.Linear(shape.widths[0], width),
    )


class Conditioning(nn.Module):
    """Where t and the noise enter: ``input`` makes the first layer's input, ``layer`` changes
    layer i's output h (B, widths[i]) before its activation."""

    takes_noise: bool = True  # the input is [t; n] (else t alone)

    @dataclass
    class Config:  # nothing to set: what a config names is the variant
        pass

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self.in_dim = shape.task + (shape.noise if self.takes_noise else 0)

    def input(self, t: torch.Tensor, noise: Noise) -> torch.Tensor:
        return torch.cat([t, noise()], 1) if self.takes_noise else t

    def layer(self, i: int, h: torch.Tensor, t: torch.Tensor, noise: Noise) -> torch.Tensor:
        return h


@CONDITIONINGS.register("ss")
class SingleSampling(Conditioning):
    """[t; n] at the input; the layers as they are."""


@CONDITIONINGS.register("uds")
class UniformDeepSampling(Conditioning):
    """t at the input; h_i + E_n^i(n_i) at every layer, n_i fresh."""

    takes_noise = False

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.noise_nets = nn.ModuleList(noise_net(shape, w) for w in shape.widths)

    def layer(self, i, h, t, noise):
        return h + self.added(i, t, noise())

    def added(self, i: int, t: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """(B, widths[i]): what noise n (B, noise) adds to layer i's output — the same for
        every task here (the report's Fig. 5.7 draws it)."""
        return self.noise_nets[i](n)


@CONDITIONINGS.register("tds")
class TaskAwareDeepSampling(UniformDeepSampling):
    """t at the input; h_i + E_t^i(t) ⊙ E_n^i(n_i) at every layer, n_i fresh."""

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.task_nets = nn.ModuleList(nn.Linear(shape.task, w, bias=False) for w in shape.widths)

    def added(self, i, t, n):
        return self.task_nets[i](t) * self.noise_nets[i](n)


@CONDITIONINGS.register("ss_mtc_add")
class AddedTask(Conditioning):
    """[t; n] at the input; h_i + E_t^i(t) at every layer."""

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.task_nets = nn.ModuleList(nn.Linear(shape.task, w, bias=False) for w in shape.widths)

    def layer(self, i, h, t, noise):
        return h + self.task_nets[i](t)


@CONDITIONINGS.register("ss_mtc_film")
class AffineTask(Conditioning):
    """[t; n] at the input; (1 + γ_i(t)) ⊙ h_i + β_i(t) at every layer (FiLM)."""

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.affine = nn.ModuleList(nn.Linear(shape.task, 2 * w) for w in shape.widths)

    def layer(self, i, h, t, noise):
        scale, shift = self.affine[i](t).chunk(2, dim=1)
        return (1 + scale) * h + shift


class Generator(nn.Module):
    """G: t (B, task) → features (B, out): ``layers`` FC layers (``hidden`` wide, the last
    ``out``), LeakyReLU(0.2) between them, a ReLU after the last when the real features are
    non-negative; ``conditioning`` (a CONDITIONINGS name) puts t and noise in."""

    def __init__(
        self,
        conditioning: str,
        task: int,
        noise: int,
        hidden: int,
        layers: int,
        out: int,
        nonnegative: bool,
    ) -> None:
        super().__init__()
        widths = (hidden,) * (layers - 1) + (out,)
        self.noise, self.nonnegative = noise, nonnegative
        self.conditioning = CONDITIONINGS.get(conditioning)(Shape(task, noise, widths))
        dims = (self.conditioning.in_dim, *widths)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.draws = RowDraws()

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        noise = lambda: self.draws("normal", len(t), self.noise)  # noqa: E731
        h = self.conditioning.input(t, noise)
        for i, layer in enumerate(self.layers):
            h = self.conditioning.layer(i, layer(h), t, noise)
            if i < len(self.layers) - 1:
                h = F.leaky_relu(h, 0.2)
        return h.relu() if self.nonnegative else h
