"""Bit-string sources: values in {0, 1}, reproducible from the seed, nested across sizes."""

import torch

from sharedspace.data import DATASETS


def test_random_bits_are_fair_reproducible_and_nested():
    draw = DATASETS.get("random_bits").load
    big, small = draw(4000, 20, 7), draw(100, 20, 7)
    assert big.dtype == torch.uint8 and set(big.unique().tolist()) == {0, 1}
    assert torch.equal(big[:100], small) and not torch.equal(small, draw(100, 20, 8))
    assert abs(big.float().mean().item() - 0.5) < 0.01  # 80,000 fair bits: std 0.0018
