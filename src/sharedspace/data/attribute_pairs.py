"""Attribute–object pairs split for zero-shot compositional recognition, MIT-States style
(Misra et al. 2017; Purushwalkam et al. 2019): the *pairs* are split into seen (training),
validation-unseen and test-unseen, so a test pair is a combination never trained on whose
attribute and object were each trained on with other partners; the generalised setting scores
a split's unseen pairs beside held-out images of the seen ones.

A split is the same for every training seed (``split_seed`` picks it), as a benchmark's is.
"""

from collections import Counter
from dataclasses import dataclass

import torch

from sharedspace.data.datasets import ImageSplits
from sharedspace.data.states import apply_state

Pair = tuple[int, int]  # (attribute id, object id)
MIN_SEEN = 2  # seen pairs every attribute and every object keeps, so each is learnt twice over
VALIDATION_EVERY = 6  # every 6th official training picture is a validation one (10,000 of 60,000)


@dataclass(frozen=True)
class PairSplit:
    """Every pair of ``attributes`` × ``objects`` in exactly one of the three sets."""

    attributes: tuple[str, ...]
    objects: tuple[str, ...]
    seen: tuple[Pair, ...]
    validation_unseen: tuple[Pair, ...]
    test_unseen: tuple[Pair, ...]

    def name(self, pair: Pair) -> str:
        return f"{self.attributes[pair[0]]} {self.objects[pair[1]]}"


def split_pairs(
    attributes: tuple[str, ...], objects: tuple[str, ...], unseen: int, split_seed: int = 0
) -> PairSplit:
    """``unseen`` validation and ``unseen`` test pairs, drawn in a seeded order among the pairs
    whose attribute and object would each keep MIN_SEEN seen pairs; the rest are seen.
    ValueError when the grid cannot give that many."""
    grid = [(a, o) for a in range(len(attributes)) for o in range(len(objects))]
    order = torch.randperm(len(grid), generator=torch.Generator().manual_seed(split_seed))
    seen_attributes = Counter(a for a, _ in grid)
    seen_objects = Counter(o for _, o in grid)
    held: list[Pair] = []
    for i in order.tolist():
        a, o = grid[i]
        if len(held) < 2 * unseen and min(seen_attributes[a], seen_objects[o]) > MIN_SEEN:
            held.append((a, o))
            seen_attributes[a] -= 1
            seen_objects[o] -= 1
    if len(held) < 2 * unseen:
        raise ValueError(
            f"{len(attributes)} attributes × {len(objects)} objects give {len(held)} unseen "
            f"pairs that leave each attribute and object {MIN_SEEN} seen ones, not {2 * unseen}"
        )
    unseen_pairs = set(held)
    return PairSplit(
        attributes,
        objects,
        seen=tuple(p for p in grid if p not in unseen_pairs),
        validation_unseen=tuple(sorted(held[0::2])),
        test_unseen=tuple(sorted(held[1::2])),
    )


def assign_attributes(
    objects: torch.Tensor, pairs: tuple[Pair, ...], generator: torch.Generator
) -> torch.Tensor:
    """(N,) int64 attribute ids for images of ``objects`` (N,): each image one of its object's
    ``pairs``, drawn evenly; every object of ``objects`` must have a pair."""
    by_object: dict[int, list[int]] = {}
    for a, o in pairs:
        by_object.setdefault(o, []).append(a)
    missing = set(objects.unique().tolist()) - set(by_object)
    if missing:
        raise ValueError(f"objects {sorted(missing)} have no pair among {len(pairs)}")
    draws = torch.rand(len(objects), generator=generator)
    attributes = torch.empty(len(objects), dtype=torch.int64)
    for o, choices in by_object.items():
        rows = objects == o
        pick = (draws[rows] * len(choices)).long().clamp(max=len(choices) - 1)
        attributes[rows] = torch.tensor(choices)[pick]
    return attributes


def compose(images: torch.Tensor, attributes: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """``images`` (N, C, H, W) uint8, each in the state ``names[attributes[i]]``: (N, 3, H, W)."""
    out = torch.empty((len(images), 3, *images.shape[2:]), dtype=torch.uint8)
    for a in attributes.unique().tolist():
        rows = attributes == a
        out[rows] = apply_state(names[a], images[rows])
    return out


@dataclass
class PairImages:
    """Pictures of attribute–object pairs, split by picture and by pair: ``train`` holds pictures
    of the seen pairs only; ``validation`` and ``test`` hold other pictures of the seen pairs and
    those of their own unseen pairs (the generalised setting; the closed world scores the
    unseen ones alone). Every picture is one original in one state, used once."""

    pairs: PairSplit
    images: dict[str, torch.Tensor]  # split → (N, 3, H, W) uint8
    attributes: dict[str, torch.Tensor]  # split → (N,) int64 ids into pairs.attributes
    objects: dict[str, torch.Tensor]  # split → (N,) int64 ids into pairs.objects

    @property
    def train_images(self) -> torch.Tensor:
        """(N, 3, H, W) uint8: the training pictures, whose statistics an image cap reads
        (``tasks.image_data.image_spec``, computed once per dataset)."""
        return self.images["train"]


def pair_images(
    ds: ImageSplits, states: tuple[str, ...], unseen: int, split_seed: int = 0
) -> PairImages:
    """``ds``'s classes as the objects and ``states`` as the attributes: its official training
    pictures (every VALIDATION_EVERY-th held out for validation) and test pictures, each put in
    one state of a pair of its split, drawn evenly among its object's pairs there."""
    split = split_pairs(states, tuple(ds.classes), unseen, split_seed)
    held = torch.arange(len(ds.train_labels)) % VALIDATION_EVERY == VALIDATION_EVERY - 1
    sources = {
        "train": (ds.train_images[~held], ds.train_labels[~held], split.seen),
        "validation": (
            ds.train_images[held],
            ds.train_labels[held],
            split.seen + split.validation_unseen,
        ),
        "test": (ds.test_images, ds.test_labels, split.seen + split.test_unseen),
    }
    generator = torch.Generator().manual_seed(split_seed)
    images, attributes, objects = {}, {}, {}
    for name, (pictures, labels, pairs) in sources.items():
        attributes[name] = assign_attributes(labels, pairs, generator)
        images[name] = compose(pictures, attributes[name], states)
        objects[name] = labels
    return PairImages(split, images, attributes, objects)
