"""The seed's learnability studies and the sanity check: what a labelling needs to be learnable.

Each study draws labellings of a dataset's images setting by setting, ``count`` per setting (each
from its own draw), scores them all in one population call, and reports per setting the mean
and standard deviation of taskness and agreement over the labellings:

- sanity: real class splits (class A against class B, balanced) against random balanced
  labellings of as many images — the scores must tell them apart;
- label ablation: class splits with a fraction of their labels flipped (the seed kept 20%);
- class ratio: class A against the other classes at 1:R, a fixed number of images;
- fixed positives: a fixed number of class-A images against R times as many others.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sharedspace.discovery.images import Images
from sharedspace.discovery.labellings import (
    Labelling,
    class_split,
    flipped,
    random_labelling,
)
from sharedspace.discovery.scoring import ScoreConfig, Scores, score_labellings
from sharedspace.errors import ConfigError


def ratio_split(
    classes: torch.Tensor, positive: int, ratio: int, n: int, generator: torch.Generator
) -> Labelling:
    """``n`` images: n // (ratio + 1) of class ``positive`` labelled 1, the rest drawn from every
    other class at random and labelled 0, shuffled (1:R with any R, beyond the number of
    classes)."""
    p = n // (ratio + 1)
    mine, others = (classes == positive).nonzero()[:, 0], (classes != positive).nonzero()[:, 0]
    if p < 1 or p > len(mine) or n - p > len(others):
        raise ConfigError(f"1:{ratio} of {n} images: class {positive} has {len(mine)} images")
    pick = [
        mine[torch.randperm(len(mine), generator=generator)[:p]],
        others[torch.randperm(len(others), generator=generator)[: n - p]],
    ]
    labels = (torch.arange(n) < p).long()
    order = torch.randperm(n, generator=generator)
    return Labelling(torch.cat(pick)[order], labels[order])


@dataclass(frozen=True)
class Setting:
    """One point of a study: its value and its labellings (all of one size)."""

    value: float
    labellings: list[Labelling]


def score_settings(images: Images, settings: Sequence[Setting], cfg: ScoreConfig) -> list[dict]:
    """Rows ``value, labellings, taskness, taskness_std, agreement, agreement_std``; settings
    whose labellings have one size are scored in one population call."""
    by_size: dict[int, list[Labelling]] = {}
    for s in settings:
        by_size.setdefault(len(s.labellings[0].images), []).extend(s.labellings)
    scored = {
        n: score_labellings(images.pool, labs, images.probe, cfg, images.statistics)
        for n, labs in by_size.items()
    }
    taken = dict.fromkeys(by_size, 0)
    rows = []
    for s in settings:
        n = len(s.labellings[0].images)
        at = slice(taken[n], taken[n] + len(s.labellings))
        taken[n] = at.stop
        t, a = scored[n].taskness[at], scored[n].agreement[at]
        rows.append(
            {
                "value": s.value,
                "labellings": len(s.labellings),
                "taskness": t.mean().item(),
                "taskness_std": t.std().item() if len(t) > 1 else 0.0,
                "agreement": a.mean().item(),
                "agreement_std": a.std().item() if len(a) > 1 else 0.0,
            }
        )
    return rows


def class_pairs(classes: torch.Tensor, count: int, generator: torch.Generator) -> list[tuple]:
    """``count`` (positive, negative) class pairs, cycling through the classes."""
    names = classes.unique().tolist()
    order = torch.randperm(len(names) * (len(names) - 1), generator=generator).tolist()
    pairs = [(a, b) for a in names for b in names if a != b]
    return [pairs[order[i % len(order)]] for i in range(count)]


def sanity(
    images: Images, cfg: ScoreConfig, n: int, count: int, seed: int
) -> tuple[Scores, Scores]:
    """Scores of ``count`` class splits (A against B, n/2 each) and of ``count`` random balanced
    labellings of n images."""
    g = torch.Generator().manual_seed(seed)
    classes = images.candidates
    real = [class_split(classes, a, [b], n // 2, g) for a, b in class_pairs(classes, count, g)]
    everyone = torch.arange(len(classes))
    noise = [
        random_labelling(everyone[torch.randperm(len(classes), generator=g)[:n]], n // 2, g)
        for _ in range(count)
    ]
    scores = score_labellings(images.pool, real + noise, images.probe, cfg, images.statistics)
    half = slice(0, count), slice(count, 2 * count)
    return tuple(
        Scores(scores.taskness[h], scores.agreement[h], scores.val_loss[h], scores.baseline[h])
        for h in half
    )


def label_ablation(
    images: Images, cfg: ScoreConfig, fractions: Sequence[float], n: int, count: int, seed: int
) -> list[dict]:
    """Balanced class splits (A against B) of n images with each fraction of labels flipped."""
    g = torch.Generator().manual_seed(seed)
    classes = images.candidates
    splits = [class_split(classes, a, [b], n // 2, g) for a, b in class_pairs(classes, count, g)]
    settings = [Setting(f, [flipped(s, f, g) for s in splits]) for f in fractions]
    return score_settings(images, settings, cfg)


def class_ratio(
    images: Images, cfg: ScoreConfig, ratios: Sequence[int], n: int, count: int, seed: int
) -> list[dict]:
    """Class A against the other classes at each 1:R, always n images."""
    return _ratio_study(images, cfg, {r: n for r in ratios}, count, seed)


def fixed_positives(
    images: Images,
    cfg: ScoreConfig,
    positives: int,
    ratios: Sequence[int],
    count: int,
    seed: int,
) -> list[dict]:
    """``positives`` images of class A against R times as many of the other classes."""
    return _ratio_study(images, cfg, {r: positives * (r + 1) for r in ratios}, count, seed)


def _ratio_study(
    images: Images, cfg: ScoreConfig, sizes: dict[int, int], count: int, seed: int
) -> list[dict]:
    """``count`` labellings of class A (cycling through the classes) against the others at
    each ratio R of ``sizes``, of ``sizes[R]`` images."""
    g = torch.Generator().manual_seed(seed)
    classes = images.candidates
    names = classes.unique().tolist()
    settings = [
        Setting(r, [ratio_split(classes, names[i % len(names)], r, n, g) for i in range(count)])
        for r, n in sizes.items()
    ]
    return score_settings(images, settings, cfg)
