"""Every registered space keeps the contract: each form it declares maps to the declared form,
gradients reach the input and every parameter."""

import pytest
import torch

from sharedspace.config import Component, from_dict
from sharedspace.representation import FORMS, PaddedSequence, form_of
from sharedspace.spaces import SPACES, build_space


def build(name: str, in_dim: int = 64, num_tasks: int = 3, **params):
    cls = SPACES.get(name)
    return build_space(Component(name, config=from_dict(cls.Config, params)), in_dim, num_tasks)


def representation(form: str) -> tuple[torch.Tensor, object]:
    values = torch.randn(6, 64, requires_grad=True) if form == "vector" else None
    if form == "sequence":
        values = torch.randn(6, 4, 64, requires_grad=True)
        return values, PaddedSequence(
            values, torch.arange(4) < torch.tensor([4, 3, 2, 1, 4, 2])[:, None]
        )
    return values, values


@pytest.mark.parametrize("name", list(SPACES))
@pytest.mark.parametrize("form", FORMS)
def test_space_contract(name, form):
    space = build(name)
    assert set(space.forms) <= set(FORMS) and set(space.forms.values()) <= set(FORMS)
    if form not in space.forms:
        pytest.skip(f"{name} does not take {form}s")
    leaf, h = representation(form)
    result = space(h, 2)
    z, aux = result if space.aux_losses else (result, {})
    assert form_of(z) == space.forms[form] and set(aux) <= set(space.aux_losses)
    values = z.values if isinstance(z, PaddedSequence) else z
    assert values.shape[0] == 6 and values.shape[-1] == space.out_dim
    (values.sum() + sum(aux.values(), torch.zeros(()))).backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0
    for p in space.parameters():
        assert p.grad is not None


def test_sus_is_three_dense_layers_2048_to_512_by_default():
    space = build("sus", in_dim=2048, num_tasks=1)
    linears = [m for m in space.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2048, 1024),
        (1024, 1024),
        (1024, 512),
    ]
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in space.modules()) == 3


def test_sus_maps_a_sequence_position_by_position():
    space = build("sus", hidden=[16], out_dim=8)
    _, seq = representation("sequence")
    z = space(seq, 0)
    assert torch.allclose(z.values[2, 1], space.layers(seq.values[2, 1])) and z.mask is seq.mask


def test_none_space_is_the_identity():
    space = build("none", in_dim=10, num_tasks=2)
    h = torch.randn(3, 10)
    assert space(h, 0) is h and space.out_dim == 10
