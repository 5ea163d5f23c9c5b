"""The spaces whose gates are dense compute what their formulas say: separate, the ungated
mixture, MMoE and cross-stitch (one stitch per stage of deep experts)."""

import pytest
import torch

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.resolve import resolve_component
from sharedspace.spaces import SPACES, build_space


def build(name: str, num_tasks: int = 3, in_dim: int = 8, **params):
    section = Component(name, params)
    resolve_component(SPACES, section, "model.space")
    return build_space(section, in_dim, num_tasks)


def test_separate_runs_only_the_tasks_own_block():
    space = build("separate", expert={"widths": [5]})
    h = torch.randn(4, 8)
    torch.testing.assert_close(space(h, 1), space.experts[1](h))
    space(h, 1).sum().backward()
    assert [e[0][0].weight.grad is not None for e in space.experts] == [False, True, False]
    assert space.task_parameters()[1] == list(space.experts[1].parameters())


def test_the_ungated_mixture_is_the_mean_of_its_experts_for_every_task():
    space = build("mixture", experts=3)
    h = torch.randn(4, 8)
    mean = sum(e(h) for e in space.experts) / 3
    torch.testing.assert_close(space(h, 0), mean)
    torch.testing.assert_close(space(h, 2), mean)


def test_mmoe_mixes_the_experts_by_each_tasks_softmax_gate_of_the_input():
    torch.manual_seed(0)
    space = build("mmoe", experts=3)
    h = torch.randn(4, 8)
    torch.testing.assert_close(space(h, 1), sum(e(h) for e in space.experts) / 3)  # zero gates
    with torch.no_grad():
        for row in space.gate_weight:
            row.normal_()
    g = torch.softmax(h @ space.gate_weight[1] + space.gate_bias[1], -1)  # (4, 3)
    expected = sum(g[:, i : i + 1] * e(h) for i, e in enumerate(space.experts))
    torch.testing.assert_close(space(h, 1), expected)
    assert not torch.allclose(space(h, 0), space(h, 1))  # each task its own gate


def test_cross_stitch_mixes_the_experts_after_every_stage():
    torch.manual_seed(0)
    shallow = build("cross_stitch", experts=2, expert={"widths": [6]})
    h = torch.randn(4, 8)
    w = shallow.w[2][0]  # (M,) of task 2, stage 0
    torch.testing.assert_close(
        shallow(h, 2), w[0] * shallow.experts[0](h) + w[1] * shallow.experts[1](h)
    )

    deep = build("cross_stitch", experts=2, expert={"widths": [6, 5]})
    assert deep.w.stacked().shape == (2, 3, 2)  # (stages, tasks, experts)
    w = deep.w.stacked()
    (a1, a2), (b1, b2) = deep.experts
    h1 = w[0, 2, 0] * a1(h) + w[0, 2, 1] * b1(h)
    torch.testing.assert_close(deep(h, 2), w[1, 2, 0] * a2(h1) + w[1, 2, 1] * b2(h1))
    uniform = build("cross_stitch", experts=4, init="uniform")
    assert torch.equal(uniform.w.stacked(), torch.full((1, 3, 4), 0.25))


def test_cross_stitch_weights_are_a_group_at_lr_scale_and_each_tasks_own():
    fast = build("cross_stitch", lr_scale=100)
    (group,) = fast.param_groups().values()
    assert fast.param_groups().keys() == {"cross_stitch"} and group.lr_scale == 100
    assert (
        group.params == list(fast.w)
        and build("cross_stitch").param_groups()["cross_stitch"].lr_scale == 1
    )
    assert {t: p for t, (p,) in fast.task_parameters().items()} == dict(enumerate(fast.w))


def test_cross_stitch_refuses_a_non_positive_lr_scale():
    with pytest.raises(ConfigError, match=r"model.space: lr_scale: expected a positive number"):
        build("cross_stitch", lr_scale=0)
