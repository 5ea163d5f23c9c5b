"""Features of attribute–object pairs' pictures (``data/pair_features.PairFeatures``) as a
zero-shot compositional task reads them: ``x`` the features, ``y`` the pair, whose description
the task writes from the pair's names (``PairsTarget``).

The training split holds the seen pairs' features only (checked here as well as in the data: a
real feature of an unseen pair never reaches training), each with ``peers``: K other training
features of its pair, for the generator's cluster loss. Validation and test hold the seen pairs'
other pictures and their own unseen pairs'. Every row carries its split's ``phase`` (0 training,
1 validation, 2 test), so the metrics know which unseen pairs the split scores.
"""

from dataclasses import dataclass

import torch

from sharedspace.config import number
from sharedspace.data.pair_features import PairFeatures
from sharedspace.data.specs import FeatureSpec, PairsTarget
from sharedspace.errors import DataError
from sharedspace.tasks.data import DataView, Sizes, TaskData, load_dataset

PHASES = {"train": 0, "validation": 1, "test": 2}  # ``phase`` of a split's rows
SETS = ("seen", "validation", "test")  # PairsTarget.sets, in the order of PairSplit's sets


@dataclass
class FeatureSplit:
    """Features (N, D) float32 and pair ids (N,) int64 of one split (``phase``); a training
    split gives each row ``k`` peers: rows of its pair drawn once (``draw_peers``, by ``seed``)."""

    features: torch.Tensor
    labels: torch.Tensor
    phase: int
    k: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        training = self.phase == PHASES["train"]
        self.peers = draw_peers(self.labels, self.k, self.seed) if training else None

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = {
            "x": self.features[idx],
            "y": self.labels[idx],
            "phase": torch.full((len(idx),), self.phase, dtype=torch.int64),
        }
        if self.peers is not None:
            batch["peers"] = self.features[self.peers[idx]]  # (B, K, D)
        return batch

    def first(self, n: int | None) -> "FeatureSplit":
        return FeatureSplit(self.features[:n], self.labels[:n], self.phase, self.k, self.seed)


def draw_peers(labels: torch.Tensor, k: int = 4, seed: int = 0) -> torch.Tensor:
    """(N, k) row indices: for each row, k rows of its own label drawn uniformly (itself among
    them), fixed by ``seed``, so a batch's peers are the same in every process and on resume."""
    order = torch.argsort(labels, stable=True)
    _, counts = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts  # where each label's rows begin in ``order``
    group = torch.repeat_interleave(torch.arange(len(counts)), counts)  # (N,) in ``order``
    first, size = torch.empty_like(labels), torch.empty_like(labels)
    first[order], size[order] = starts[group], counts[group]
    draws = torch.rand(len(labels), k, generator=torch.Generator().manual_seed(seed))
    offsets = (draws * size[:, None]).long().clamp(max=size[:, None] - 1)
    return order[first[:, None] + offsets]


class FeaturePairs(DataView):
    """Every pair of the split's pictures, by its id in ``PairsTarget`` (seen pairs first, then
    the validation-unseen and test-unseen ones)."""

    kind = "features"
    target = "pairs"
    name = "pairs"
    reads = PairFeatures

    @dataclass
    class Config(Sizes):
        peers: int = number(4, gt=0)  # K real features of its pair beside each training one

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        ds: PairFeatures = load_dataset(source, data_dir)
        split = ds.pairs
        listed = (split.seen, split.validation_unseen, split.test_unseen)
        pairs = tuple(p for group in listed for p in group)
        sets = tuple(s for s, group in zip(SETS, listed, strict=True) for _ in group)
        ids = torch.full((len(split.attributes), len(split.objects)), -1, dtype=torch.int64)
        for i, (a, o) in enumerate(pairs):
            ids[a, o] = i  # (A, O): the pair's id, −1 where no set holds it
        splits = {}
        for name, n in cfg.per_split().items():
            labels = ids[ds.attributes[name], ds.objects[name]]
            if name == "train" and ((labels < 0) | (labels >= len(split.seen))).any():
                raise DataError(f"{key}: {source} trains on pictures of unseen pairs")
            features, labels = ds.features[name][:n], labels[:n]
            splits[name] = FeatureSplit(features, labels, PHASES[name], cfg.peers, seed)
        nonnegative = bool((ds.features["train"] >= 0).all())
        target = PairsTarget(split.attributes, split.objects, pairs, sets)
        return TaskData(splits, FeatureSpec(ds.dim, nonnegative), target)
