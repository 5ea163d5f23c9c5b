"""Score labellings: train tiny networks on each — all of them as one population — and measure
taskness and agreement.

Every labelling is trained with the same ``networks`` initialisations (seeds ``seed``,
``seed + 1``, …) and the same batch order: labellings are then compared under common random
numbers, so a difference in score is the labelling's, not a luckier draw.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from sharedspace.discovery.labellings import Labelling
from sharedspace.discovery.networks import NetConfig, SmallConvNet
from sharedspace.discovery.population import Problems, TrainConfig, train_population
from sharedspace.discovery.scores import agreement, blind_loss, informed_loss, taskness


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    networks: int = 2  # trained per labelling from different initialisations (agreement needs 2)
    train_fraction: float = 0.8  # the rest of a labelling's images is its development part
    net: NetConfig = field(default_factory=NetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class Scores:
    taskness: torch.Tensor  # (L,) mean over the labelling's networks
    agreement: torch.Tensor  # (L,) mean over its pairs of networks, on the probe images
    val_loss: torch.Tensor  # (L, networks, E) validation curves
    baseline: torch.Tensor  # (L,) b: the mean of the blind and the informed baseline's losses


def score_labellings(
    pool: torch.Tensor,
    labellings: Sequence[Labelling],
    probe: torch.Tensor,
    cfg: ScoreConfig,
    statistics: torch.Tensor,
    seed: int = 0,
) -> Scores:
    """``pool`` (M, C, H, W) images; labellings of equally many of them (indices into the pool);
    ``probe`` (Q,) pool indices no labelling uses; ``statistics`` (M, F) per-image statistics for
    the informed baseline (``scores.image_statistics(pool)``, computed once by the caller)."""
    if cfg.networks < 2:
        raise ValueError(f"networks: the agreement score needs 2 or more, not {cfg.networks}")
    sizes = {len(lab.images) for lab in labellings}
    if len(sizes) != 1:
        raise ValueError(f"labellings of different sizes {sorted(sizes)}: one population needs one")
    tr, val = labellings[0].split(cfg.train_fraction)
    rows = [
        torch.stack([getattr(lab, part)[at] for lab in labellings])
        for at in (tr, val)
        for part in ("images", "labels")
    ]
    problems = Problems(pool, *rows)
    k = cfg.networks
    trained = train_population(
        lambda: SmallConvNet(cfg.net, tuple(pool.shape[1:])),
        [seed + i for i in range(k)] * len(labellings),
        problems.repeat(k),
        cfg.train,
        torch.Generator().manual_seed(seed),
        probe=probe,
    )
    b = (blind_loss(rows[1], rows[3]) + informed_loss(statistics, *rows)) / 2  # (L,)
    per_net = taskness(trained.val_loss, b.repeat_interleave(k)).view(-1, k)
    probed = trained.probe_predictions.view(len(labellings), k, -1)
    pairs = itertools.combinations(range(k), 2)
    agree = torch.stack([agreement(probed[:, i], probed[:, j]) for i, j in pairs]).mean(0)
    return Scores(per_net.mean(1), agree, trained.val_loss.view(len(labellings), k, -1), b)
