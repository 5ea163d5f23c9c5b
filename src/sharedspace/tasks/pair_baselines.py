"""Baselines of zero-shot compositional recognition on the same features as TFG, trained on the
seen pairs' real features alone (``feature_data``):

- ``pair_compatibility``: a compatibility classifier, score(z, c) = g(z) · h(t_c), the image
  feature and the pair's description (``pair_descriptions``) mapped to one space (LabelEmbed in
  Misra et al. 2017, after Akata et al.'s label embedding); softmax over the seen pairs. An unseen
  pair is scored through its description, its attribute's and object's words learnt with other
  partners.
- ``seen_pairs_classifier``: a linear classifier over every pair trained on the seen pairs (the
  softmax over them): f without generated features. Its unseen pairs' scores are never trained —
  what generating their features buys.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sharedspace.config import number
from sharedspace.data.specs import PairsTarget
from sharedspace.tasks.base import TASKS, LossTerms
from sharedspace.tasks.pair_descriptions import Descriptions, PairDescriptions
from sharedspace.tasks.pair_scores import PairScoring


def seen_loss(scores: torch.Tensor, batch: dict[str, torch.Tensor], seen: int) -> LossTerms:
    """Cross-entropy of (B, P) scores over the first ``seen`` pairs (the seen ones)."""
    return LossTerms.per_example(F.cross_entropy(scores[:, :seen], batch["y"], reduction="none"))


def seen_count(target: PairsTarget) -> int:
    return sum(s == "seen" for s in target.sets)


class Compatibility(nn.Module):
    """(B, D) features → (B, P) scores g(z) · h(t_c) for every pair c."""

    def __init__(self, cfg: "PairCompatibility.Config", target: PairsTarget, in_dim: int):
        super().__init__()
        self.describe = PairDescriptions(target, cfg)
        self.image = nn.Linear(in_dim, cfg.embedding)
        self.label = nn.Linear(self.describe.out_dim, cfg.embedding)

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.image(z) @ self.label(self.describe()).T


@TASKS.register("pair_compatibility")
class PairCompatibility(PairScoring):
    @dataclass
    class Config(Descriptions):
        embedding: int = number(300, gt=0)  # the joint space of g(z) and h(t)

    def build_head(self, in_dim: int) -> nn.Module:
        return Compatibility(self.head_cfg, self.data.target, in_dim)

    def loss(self, output, batch):
        return seen_loss(output, batch, seen_count(self.data.target))


class Scores(nn.Module):
    """(B, D) → (B, P): one FC layer, the batch aside."""

    def __init__(self, in_dim: int, pairs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, pairs)

    def forward(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(z)


@TASKS.register("seen_pairs_classifier")
class SeenPairsClassifier(PairScoring):
    def build_head(self, in_dim: int) -> nn.Module:
        return Scores(in_dim, len(self.data.target.pairs))

    def loss(self, output, batch):
        return seen_loss(output, batch, seen_count(self.data.target))
