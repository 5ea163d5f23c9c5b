"""Bit strings labelled by a boolean function of a few of their bits: the synthetic parity tasks
that show when sharing helps (Caruana 1997; Yan et al. 2020, Fig. 1.1).

A task's label is the parity (XOR) of the bits at ``parity``, optionally combined with one more
bit by ``op`` — Caruana's tasks "B1 ∨ parity(B2…B6)", "¬B1 ∧ parity(B2…B6)" are
``{parity: [1, 2, 3, 4, 5], op: or, bit: 0}`` and ``{…, op: and, bit: 0, negate: true}``. Tasks
whose functions read the same parity share a feature worth learning once; tasks on disjoint
bits share nothing. Every task of a run with the same ``source``, ``bits`` and sizes reads the
same strings (drawn from the run seed, one stream per split), each with its own labels.
"""

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from sharedspace.data import DATASETS
from sharedspace.data.specs import BitsSpec, ClassesTarget
from sharedspace.errors import ConfigError
from sharedspace.tasks.data import SPLITS, DataView, LabelledSplit, Sizes, TaskData


@dataclass(kw_only=True)
class BitsConfig(Sizes):
    positive: ClassVar[tuple[str, ...]] = (*Sizes.positive, "bits", "val_size", "test_size")

    parity: list[int]  # positions (0-based) whose parity is the label, or its hidden feature
    op: Literal["and", "or"] | None = None  # combine the parity with the bit at ``bit``
    bit: int | None = None
    negate: bool = False  # use the bit's negation (¬B)
    bits: int = 20  # string length
    train_size: int = 1000  # strings per split (eval_size caps validation/test)
    val_size: int = 1000
    test_size: int = 10000

    def __post_init__(self) -> None:
        super().__post_init__()
        used = [*self.parity, *([] if self.bit is None else [self.bit])]
        where = f"parity {self.parity}, bit {self.bit}"
        if not self.parity or len(set(used)) != len(used):
            raise ConfigError(f"{where}: need distinct positions")
        if any(not 0 <= i < self.bits for i in used):
            raise ConfigError(f"{where}: need positions 0 ≤ i < bits ({self.bits})")
        if (self.op is None) != (self.bit is None) or (self.negate and self.op is None):
            raise ConfigError("op and bit (and negate) go together: both or neither")


def label(strings: torch.Tensor, cfg: BitsConfig) -> torch.Tensor:
    """(N, bits) uint8 → (N,) int64 labels in {0, 1}."""
    y = strings[:, cfg.parity].sum(1) % 2
    if cfg.op is not None:
        other = strings[:, cfg.bit] ^ int(cfg.negate)
        y = y & other if cfg.op == "and" else y | other
    return y.long()


class BitStrings(DataView):
    """Bit strings and a 0/1 label from ``parity`` (and ``op`` with one ``bit``)."""

    kind = "bits"
    target = "classes"
    name = "bit_strings"
    Config = BitsConfig

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        draw = DATASETS.get(source).load
        counts = {"train": cfg.train_size, "validation": cfg.val_size, "test": cfg.test_size}
        splits = {}
        for i, split in enumerate(SPLITS):  # one stream per (seed, split): nested sizes
            strings = draw(counts[split], cfg.bits, 3 * seed + i)
            splits[split] = LabelledSplit(strings, label(strings, cfg))
        for split in ("validation", "test"):
            splits[split] = splits[split].first(cfg.eval_size)
        return TaskData(splits, BitsSpec(cfg.bits), ClassesTarget(("0", "1")))
