"""Every registered space keeps the contract: space(h, task) → ((B, out_dim), aux-loss dict)."""

import pytest
import torch

from sharedspace.spaces import SPACES, build_space


@pytest.mark.parametrize("name", list(SPACES))
def test_space_contract(name):
    space = build_space({"name": name}, in_dim=64, num_tasks=3)
    h = torch.randn(6, 64, requires_grad=True)
    z, aux = space(h, 2)
    assert z.shape == (6, space.out_dim) and isinstance(aux, dict)
    (z.sum() + sum(aux.values(), torch.zeros(()))).backward()
    assert h.grad is not None and h.grad.abs().sum() > 0
    for p in space.parameters():
        assert p.grad is not None


def test_sus_is_three_dense_layers_2048_to_512_by_default():
    space = build_space({"name": "sus"}, in_dim=2048, num_tasks=1)
    linears = [m for m in space.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2048, 1024),
        (1024, 1024),
        (1024, 512),
    ]
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in space.modules()) == 3


def test_none_space_is_the_identity():
    space = build_space({"name": "none"}, in_dim=10, num_tasks=2)
    h = torch.randn(3, 10)
    z, aux = space(h, 0)
    assert z is h and aux == {} and space.out_dim == 10
