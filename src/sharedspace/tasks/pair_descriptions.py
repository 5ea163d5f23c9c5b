"""A pair's description t = [φ_a(a); φ_o(o)]: its attribute's and its object's words, each through
a 2-layer FC net — what zero-shot compositional methods condition on (TFG's generator and critic,
a compatibility classifier's label embedding). The words are learned embeddings of the ids, or
word vectors trained on the offline corpus (``data/word_vectors.py``): both selectable.
"""

import itertools
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sharedspace.config import number
from sharedspace.data.specs import PairsTarget


@dataclass
class Descriptions:
    """How a kind describes pairs (its head's Config derives from it)."""

    # learned embeddings of the attribute and object ids, or corpus word vectors of their names
    words: Literal["learned", "corpus"] = "learned"
    word_dim: int = number(64, gt=0)
    description_hidden: int = number(1024, gt=0)  # φ_a's and φ_o's hidden width
    description: int = number(300, gt=0)  # φ_a's and φ_o's output size: t is twice it


def mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    """FC layers of ``sizes`` with LeakyReLU(0.2) between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers += [nn.Linear(a, b)] + ([nn.LeakyReLU(0.2)] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


class PairDescriptions(nn.Module):
    """t of every pair of ``target``: (P, 2·description)."""

    def __init__(self, target: PairsTarget, cfg: Descriptions) -> None:
        super().__init__()
        if cfg.words == "corpus":
            from sharedspace.data.word_vectors import word_vectors  # reads the corpus: on demand

            self.register_buffer("attribute_words", word_vectors(target.attributes, cfg.word_dim))
            self.register_buffer("object_words", word_vectors(target.objects, cfg.word_dim))
        else:
            self.attribute_words = nn.Parameter(torch.randn(len(target.attributes), cfg.word_dim))
            self.object_words = nn.Parameter(torch.randn(len(target.objects), cfg.word_dim))
        sizes = (cfg.word_dim, cfg.description_hidden, cfg.description)
        self.attribute_net, self.object_net = mlp(sizes), mlp(sizes)
        self.register_buffer("pairs", torch.tensor(target.pairs), persistent=False)  # (P, 2)
        self.out_dim = 2 * cfg.description

    def forward(self) -> torch.Tensor:
        a = self.attribute_net(self.attribute_words)[self.pairs[:, 0]]
        o = self.object_net(self.object_words)[self.pairs[:, 1]]
        return torch.cat([a, o], 1)
