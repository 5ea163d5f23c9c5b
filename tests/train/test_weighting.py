import pytest
import torch

from sharedspace.errors import ConfigError
from sharedspace.train.weighting import WEIGHTINGS, build_weighting


@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_every_weighting_combines_named_losses_into_a_scalar(name):
    w = build_weighting({"name": name}, ["a", "b"])
    out = w({"a": torch.tensor(2.0, requires_grad=True)})
    assert out.shape == ()


def test_fixed_weights_scale_each_task():
    w = build_weighting({"name": "fixed", "weights": {"a": 0.5}}, ["a", "b"])
    assert w({"a": torch.tensor(4.0), "b": torch.tensor(1.0)}).item() == 3.0


def test_fixed_weights_for_unknown_tasks_are_an_error():
    with pytest.raises(ConfigError, match=r"unknown tasks \['c'\]"):
        build_weighting({"name": "fixed", "weights": {"c": 1.0}}, ["a", "b"])
