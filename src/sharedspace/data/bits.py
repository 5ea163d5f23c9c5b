"""Bit strings drawn on the fly: synthetic inputs whose labels each task defines (the parity
tasks of Yan et al. 2020, Fig. 1.1, after Caruana 1997).

A source is a ``DATASETS`` entry of kind bits whose loader draws ``(count, bits, seed) →
(count, bits) uint8``; the same arguments give the same strings on every machine, and — for
``random_bits`` — the first n strings of a larger draw are a draw of n, so training sets of
growing size are nested.
"""

import torch

from sharedspace.data.datasets import dataset


@dataset("random_bits", kind="bits", splits=torch.Tensor)
def random_bits(count: int, bits: int, seed: int) -> torch.Tensor:
    """Independent fair bits: (count, bits) uint8 in {0, 1}."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (count, bits), generator=generator, dtype=torch.uint8)
