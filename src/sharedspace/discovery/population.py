"""Train a population of independent tiny models as one batched computation.

Scoring a labelling means training small networks on it: several per labelling (seeds, the two
networks of the agreement score) and many labellings per search step. One such network's step is a
few microseconds of arithmetic and far more of Python. Here the P models' parameters are stacked
(``torch.func.stack_module_state``) and one ``vmap``-ed forward and backward steps all of them, so
one Python step trains P models. Nothing couples the models: the loss is a sum of per-model losses,
Adam is elementwise, and gradient clipping is per model — each model trains exactly as it would
alone (tested against a plain loop).
"""

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

PROBE_CHUNK = 256  # probe images predicted at a time: P × 256 images in memory at once


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    max_grad_norm: float | None = 1.0  # per model, as clip_grad_norm_ would for each alone


@dataclass(frozen=True)
class Problems:
    """P binary (or K-way) problems over one pool of images, each with its own train and
    validation images and labels; row p is what model p trains on."""

    images: torch.Tensor  # (M, C, H, W) float, the pool
    train: torch.Tensor  # (P, Nt) long, indices into the pool
    train_labels: torch.Tensor  # (P, Nt) long
    val: torch.Tensor  # (P, Nv) long
    val_labels: torch.Tensor  # (P, Nv) long

    def __len__(self) -> int:
        return self.train.shape[0]

    def repeat(self, times: int) -> "Problems":
        """Each problem ``times`` times in a row (problem p becomes rows p·times … p·times+times-1):
        several models, e.g. from different seeds, on the same labelling."""
        rows = (self.train, self.train_labels, self.val, self.val_labels)
        return Problems(self.images, *(t.repeat_interleave(times, 0) for t in rows))


@dataclass(frozen=True)
class Trained:
    train_loss: torch.Tensor  # (P, E) mean training loss of each epoch
    val_loss: torch.Tensor  # (P, E) validation loss after each epoch
    val_predictions: torch.Tensor  # (P, Nv) long, after the last epoch
    probe_predictions: torch.Tensor | None  # (P, Q) long on the probe images, after the last epoch


def seeded(make_net: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``make_net()`` initialised from ``seed`` alone, whatever the global RNG holds."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_net()


def train_population(
    make_net: Callable[[], nn.Module],
    seeds: Sequence[int],
    problems: Problems,
    cfg: TrainConfig,
    generator: torch.Generator,
    probe: torch.Tensor | None = None,
) -> Trained:
    """Train model p (initialised from ``seeds[p]``) on problem p, all P at once; every model sees
    its batches in the same order (drawn from ``generator``). ``probe``: (Q,) pool indices of
    images no model trains on, which every model predicts at the end (the agreement score's
    held-out images)."""
    if len(seeds) != len(problems):
        raise ValueError(f"{len(seeds)} seeds for {len(problems)} problems")
    nets = [seeded(make_net, s) for s in seeds]
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")

    def forward(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    per_model = vmap(forward)  # (P, …) parameters, (P, B, C, H, W) → (P, B, K)
    on_shared = vmap(forward, in_dims=(0, 0, None))  # (B, C, H, W) seen by all → (P, B, K)
    # When every model trains and validates on the same images (a search labels one set of
    # images; batches come in one order), each batch is sent once, unbatched: the first layer
    # is then one dense convolution with all models' filters instead of P grouped ones.
    shared = all(bool((rows == rows[:1]).all()) for rows in (problems.train, problems.val))

    def predict(rows: torch.Tensor) -> torch.Tensor:
        """(P, B) pool indices → (P, B, K) logits."""
        if shared:
            return on_shared(params, buffers, problems.images[rows[0]])
        return per_model(params, buffers, problems.images[rows])

    weights = list(params.values())
    optimizer = torch.optim.Adam(weights, lr=cfg.lr)
    n_train = problems.train.shape[1]
    train_loss, val_loss = [], []
    for _ in range(cfg.epochs):
        order = torch.randperm(n_train, generator=generator)
        epoch = torch.zeros(len(problems))
        for start in range(0, n_train, cfg.batch_size):
            at = order[start : start + cfg.batch_size]
            losses = _losses(predict(problems.train[:, at]), problems.train_labels[:, at])
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            if cfg.max_grad_norm is not None:
                _clip_per_model(weights, cfg.max_grad_norm)
            optimizer.step()
            epoch += losses.detach() * len(at)
        train_loss.append(epoch / n_train)
        with torch.no_grad():
            logits = predict(problems.val)  # (P, Nv, K)
        val_loss.append(_losses(logits, problems.val_labels))
    probed = None
    if probe is not None:
        with torch.no_grad():
            chunks = [problems.images[at] for at in probe.split(PROBE_CHUNK)]
            probed = torch.cat([on_shared(params, buffers, x).argmax(-1) for x in chunks], 1)
    return Trained(torch.stack(train_loss, 1), torch.stack(val_loss, 1), logits.argmax(-1), probed)


def _losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(P, B, K) logits, (P, B) labels → (P,) mean cross-entropy of each model."""
    flat = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return flat.view(labels.shape).mean(1)


def _clip_per_model(weights: list[torch.Tensor], max_norm: float) -> None:
    """``clip_grad_norm_`` for each model alone: each model's gradient norm over all its
    parameters, scaled down to ``max_norm`` where above it."""
    grads = [w.grad for w in weights if w.grad is not None]
    norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()  # (P,)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))
