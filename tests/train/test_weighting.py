import math

import pytest
import torch

from sharedspace.config import Component, from_dict
from sharedspace.errors import ConfigError
from sharedspace.train.distributed import SINGLE
from sharedspace.train.weighting import WEIGHTINGS, StepContext, build_weighting


def weighting(name, tasks=("a", "b"), **params):
    cfg = from_dict(WEIGHTINGS.get(name).Config, params)
    return build_weighting(Component(name, config=cfg), list(tasks))


def step(w, losses_of, extra=0.0):
    """One backward of ``w`` on losses made from a fresh parameter x = 1; returns (total,
    weights, x.grad)."""
    x = torch.ones((), requires_grad=True)
    losses = {name: fn(x) for name, fn in losses_of.items()}
    ctx = StepContext(0, [x], [x, *w.parameters()], SINGLE)
    total, weights = w.backward(losses, torch.tensor(extra), ctx)
    return total, weights, x.grad


@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_every_weighting_leaves_gradients_and_names_each_weight(name):
    w = weighting(name)
    total, weights, grad = step(w, {"a": lambda x: 2 * x, "b": lambda x: x.square()})
    assert total.shape == () and not total.requires_grad
    assert set(weights) == {"a", "b"} and grad is not None and grad != 0
    for p in w.parameters():
        assert p.grad is not None  # learned weightings learn


def test_a_step_with_one_task_weighs_only_that_task():
    total, weights, grad = step(weighting("equal"), {"b": lambda x: 3 * x}, extra=0.5)
    assert set(weights) == {"b"} and total.item() == 3.5 and grad.item() == 3.0


def test_fixed_weights_scale_each_task():
    w = weighting("fixed", weights={"a": 0.5})
    total, weights, grad = step(w, {"a": lambda x: 4 * x, "b": lambda x: x})
    assert total.item() == 3.0 and weights["a"].item() == 0.5 and grad.item() == 3.0


def test_fixed_weights_for_unknown_tasks_are_an_error():
    with pytest.raises(ConfigError, match=r"unknown tasks \['c'\]"):
        weighting("fixed", weights={"c": 1.0})


def test_uncertainty_weighting_matches_a_hand_computation():
    w = weighting("uncertainty")
    with torch.no_grad():
        w.log_vars.copy_(torch.tensor([0.3, -0.2]))
    total, weights, grad = step(w, {"a": lambda x: 2 * x, "b": lambda x: 3 * x})
    expected = 0.5 * math.exp(-0.3) * 2 + 0.15 + 0.5 * math.exp(0.2) * 3 - 0.1
    assert total.item() == pytest.approx(expected)
    assert weights["a"].item() == pytest.approx(0.5 * math.exp(-0.3))
    assert grad.item() == pytest.approx(0.5 * math.exp(-0.3) * 2 + 0.5 * math.exp(0.2) * 3)
    # d/ds_a (½ e^(−s_a) L_a + ½ s_a) = ½ − ½ e^(−s_a) L_a
    assert w.log_vars.grad[0].item() == pytest.approx(0.5 - 0.5 * math.exp(-0.3) * 2)


def test_uncertainty_learns_the_log_of_a_constant_loss():
    """The optimum of ½ e^(−s) L + ½ s is s = log L: the weight settles at 1 / (2L)."""
    w = weighting("uncertainty")
    opt = torch.optim.SGD(w.parameters(), lr=0.2)
    for _ in range(300):
        opt.zero_grad()
        step(w, {"a": lambda x: 4 * x, "b": lambda x: 0.25 * x})
        opt.step()
    assert w.log_vars.detach().tolist() == pytest.approx([math.log(4), math.log(0.25)], abs=1e-3)
