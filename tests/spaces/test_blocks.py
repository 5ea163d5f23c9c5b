"""Expert blocks: every registered block maps rows stage by stage; the conv expert is the report's;
a space's expert is configured, checked and saved like any part."""

import pytest
import torch

from sharedspace.config import Component, to_dict
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config, resolve_component
from sharedspace.spaces import BLOCKS, build_block

IN_DIMS = {"mlp": 12, "conv": 784}


def block(name: str, in_dim: int, **params):
    section = Component(name, params)
    resolve_component(BLOCKS, section, "model.space.expert")
    return build_block(section, in_dim)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_contract(name):
    b = block(name, IN_DIMS.get(name, 12))
    assert isinstance(b, torch.nn.Sequential) and len(b) >= 1
    x = torch.randn(5, IN_DIMS.get(name, 12), requires_grad=True)
    h = x
    for stage in b:  # each stage maps rows to rows
        h = stage(h)
        assert h.shape[0] == 5 and h.dim() == 2
    assert h.shape == (5, b.out_dim) and torch.equal(h, b(x))
    h.sum().backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is not None for p in b.parameters())
    rows = b(x[[3, 1]])  # rows are independent: an expert may run on any subset
    torch.testing.assert_close(rows, b(x)[[3, 1]])


def test_conv_is_the_reports_expert():
    b = block("conv", 784)  # four conv layers of 32 filters, 2×2 max-pool: 28 → 14 → 7 → 3 → 1
    convs = [m for m in b.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (1, 32),
        (32, 32),
        (32, 32),
        (32, 32),
    ]
    assert b.out_dim == 32
    assert block("conv", 3072, shape=[3, 32, 32]).out_dim == 32 * 2 * 2
    with pytest.raises(ConfigError, match=r"shape \[1, 28, 28\] .* 3072 input values"):
        block("conv", 3072)
    with pytest.raises(ConfigError, match="shrink"):
        block("conv", 16, shape=[1, 4, 4], channels=[8, 8, 8])


def test_a_spaces_expert_is_configured_checked_and_saved_like_a_part():
    task = {"kind": "classification", "modality": "image", "data": {"source": "fashion_mnist"}}
    raw = {"name": "x", "tasks": {"a": task}, "model": {"space": {"name": "mmoe"}}}
    cfg = load_config(data=raw, overrides=["model.space.expert.widths=[32,16]"])
    assert cfg.model.space.config.expert.config.widths == [32, 16]
    saved = to_dict(cfg)["model"]["space"]
    expert = {"name": "mlp", "widths": [32, 16], "negative_slope": 0.0, "linear_output": False}
    assert saved["expert"] == expert
    with pytest.raises(ConfigError, match=r"model.space.expert.name: unknown block 'mpl'.*'mlp'"):
        load_config(data=raw, overrides=["model.space.expert.name=mpl"])
    with pytest.raises(ConfigError, match=r"model.space.expert.widht: unknown key .*'widths'"):
        load_config(data=raw, overrides=["model.space.expert.widht=[3]"])
