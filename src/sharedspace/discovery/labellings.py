"""Labellings of images: the seed's class-split tasks, random ones, and their ablations.

A labelling is a set of images and a binary label for each, shuffled so that its first
``train_fraction`` is the training part and the rest the development part (80/20 in the seed).
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Labelling:
    images: torch.Tensor  # (N,) long, indices into the dataset's images
    labels: torch.Tensor  # (N,) long, 0 or 1

    def split(self, train_fraction: float = 0.8) -> tuple[slice, slice]:
        """The training and development positions: the first ``train_fraction``, the rest."""
        n_train = round(train_fraction * len(self.images))
        return slice(0, n_train), slice(n_train, None)


def class_split(
    classes: torch.Tensor,
    positive: int,
    negatives: list[int],
    per_class: int,
    generator: torch.Generator,
) -> Labelling:
    """The seed's task: ``per_class`` images of class ``positive`` labelled 1 and as many of each
    class in ``negatives`` labelled 0, shuffled. ``classes``: (M,) the dataset's class of each
    image; N = per_class · (1 + len(negatives))."""
    if positive in negatives:
        raise ValueError(f"class {positive} is both the positive class and a negative one")
    picked = []
    for c in [positive, *negatives]:
        members = (classes == c).nonzero().squeeze(1)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} images, {per_class} wanted")
        picked.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    images = torch.cat(picked)
    labels = (torch.arange(len(images)) < per_class).long()
    order = torch.randperm(len(images), generator=generator)
    return Labelling(images[order], labels[order])


def random_labelling(images: torch.Tensor, positives: int, generator: torch.Generator) -> Labelling:
    """``positives`` of ``images`` (shuffled) chosen at random and labelled 1: noise, the
    baseline every score must separate real tasks from."""
    if not 0 <= positives <= len(images):
        raise ValueError(f"{positives} positives among {len(images)} images")
    labels = torch.zeros(len(images), dtype=torch.long)
    labels[torch.randperm(len(images), generator=generator)[:positives]] = 1
    order = torch.randperm(len(images), generator=generator)
    return Labelling(images[order], labels[order])


def top_k_labelling(images: torch.Tensor, scores: torch.Tensor, ratio: int) -> Labelling:
    """The search's labelling from a vector in [0, 1]^N: its top N / (ratio + 1) entries are the
    positives (1 positive to ``ratio`` negatives); ties go to the earlier image."""
    positives = len(scores) // (ratio + 1)
    labels = torch.zeros(len(scores), dtype=torch.long)
    labels[torch.sort(scores, descending=True, stable=True).indices[:positives]] = 1
    return Labelling(images, labels)


def flipped(labelling: Labelling, fraction: float, generator: torch.Generator) -> Labelling:
    """``labelling`` with round(fraction · N) labels, chosen at random, flipped: the seed's label
    ablation (a task should tolerate about 20%)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} outside [0, 1]")
    n = round(fraction * len(labelling.labels))
    labels = labelling.labels.clone()
    at = torch.randperm(len(labels), generator=generator)[:n]
    labels[at] = 1 - labels[at]
    return Labelling(labelling.images, labels)
