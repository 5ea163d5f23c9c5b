"""Task multi-clustering: the score-function gradient is the gradient of the expected loss, only
the picked experts run, evaluation uses round(k(t)) fixed experts, and the draws resume exactly."""

import itertools

import pytest
import torch

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.resolve import resolve_component
from sharedspace.spaces import SPACES, build_space


def build(num_tasks: int = 2, in_dim: int = 4, **params):
    section = Component("multi_clustering", params)
    resolve_component(SPACES, section, "model.space")
    return build_space(section, in_dim, num_tasks)


def rows_per_expert(space, h, task):
    """How many rows each expert ran on in one forward."""
    counts = [0] * len(space.experts)
    hooks = [
        e.register_forward_hook(
            lambda m, args, out, i=i: counts.__setitem__(i, counts[i] + len(args[0]))
        )
        for i, e in enumerate(space.experts)
    ]
    space(h, task)
    for hook in hooks:
        hook.remove()
    return counts


def test_the_score_function_gradient_is_the_gradient_of_the_expected_loss():
    """Two constant experts (f_0 = 1, f_1 = 2), weights 1: z(b) = b_0 + 2 b_1 and L = (z − 1.5)².
    E[L] = Σ_b P(b) L(z(b)) is enumerable; its gradient in the gate logits must be what the
    surrogate's gradient estimates from the per-example losses of many rows."""
    torch.manual_seed(0)
    space = build(num_tasks=1, in_dim=1, experts=2, density=0.0, expert={"widths": [1]})
    with torch.no_grad():
        for expert, value in zip(space.experts, (1.0, 2.0), strict=True):
            expert[0][0].weight.zero_()
            expert[0][0].bias.fill_(value)  # relu(0·x + value) = value
        space.w[0].fill_(1.0)
        space.logits[0].copy_(torch.tensor([0.3, -0.4]))

    p = torch.sigmoid(space.logits[0])
    expected = sum(
        torch.prod(torch.where(torch.tensor(b, dtype=torch.bool), p, 1 - p))
        * (b[0] + 2 * b[1] - 1.5) ** 2
        for b in itertools.product((0, 1), repeat=2)
    )
    (exact,) = torch.autograd.grad(expected, space.logits[0])

    space.train()
    z = space(torch.ones(200_000, 1), 0)
    losses = (z.squeeze(1) - 1.5) ** 2
    (estimate,) = torch.autograd.grad(
        space.loss_feedback(0, losses.detach())["mc_score"], space.logits[0]
    )
    assert exact.abs().min() > 0.05  # a gradient worth estimating
    # per-row terms are bounded by 2.25·1, so the standard error is below 0.005
    torch.testing.assert_close(estimate, exact, atol=0.02, rtol=0)


def test_evaluation_uses_the_round_k_most_likely_experts_and_computes_only_those():
    space = build(num_tasks=2, experts=6).eval()
    with torch.no_grad():  # p(0) ≈ .95 .9 .8 .6 .1 .05: k(0) = 3.4 → the experts 0, 1, 2
        space.logits[0].copy_(torch.logit(torch.tensor([0.8, 0.95, 0.6, 0.05, 0.9, 0.1])))
        space.logits[1].copy_(torch.logit(torch.tensor([0.1, 0.1, 0.1, 0.1, 0.1, 0.2])))  # k → 1
    h = torch.randn(5, 4)
    assert space.chosen(0).tolist() == [1, 4, 0]
    assert rows_per_expert(space, h, 0) == [5, 5, 0, 0, 5, 0]
    assert rows_per_expert(space, h, 1) == [0, 0, 0, 0, 0, 5]  # at least one expert
    z = space(h, 0)
    expected = sum(space.w[0][i] * space.experts[i](h) for i in (1, 4, 0))
    torch.testing.assert_close(z, expected)
    torch.testing.assert_close(space(h, 0), z, rtol=0, atol=0)  # deterministic
    space.cfg.eval_experts = "all"
    assert rows_per_expert(space, h, 0) == [5] * 6
    space.cfg.eval_experts = "mean"  # k = (3.4 + 0.7) / 2 = 2.05 → 2
    assert sum(rows_per_expert(space, h, 1)) == 10


def test_training_runs_each_row_only_through_the_experts_it_picked():
    torch.manual_seed(0)
    space = build(num_tasks=1, experts=8).train()
    with torch.no_grad():
        space.logits[0].copy_(torch.logit(torch.tensor([0.9, 0.1] * 4)))  # k = 4
    counts = rows_per_expert(space, torch.randn(2000, 4), 0)
    assert sum(counts) == pytest.approx(2000 * 4, rel=0.05)
    assert min(counts[0::2]) > 1700 and max(counts[1::2]) < 300


def test_the_draws_resume_from_a_state_dict_and_evaluation_keeps_nothing_for_feedback():
    torch.manual_seed(0)
    space = build().train()
    h = torch.randn(16, 4)
    space(h, 0)
    state = {k: v.clone() for k, v in space.state_dict().items()}
    first = space(h, 1)
    space.load_state_dict(state)
    torch.testing.assert_close(space(h, 1), first, rtol=0, atol=0)
    assert not torch.equal(space(h, 1), first)  # the next draw is another
    space.loss_feedback(1, torch.ones(16))  # consumes the pending forward
    with torch.no_grad():
        space(h, 1)
    space.eval()(h, 1)
    assert space.loss_feedback(1, torch.ones(16)) == {}


def test_the_gates_learn_at_gate_lr_scale_times_the_network_rate():
    assert build().param_groups()["mc_gates"].lr_scale == 1.0
    fast = build(gate_lr_scale=30)
    assert fast.param_groups().keys() == {"mc_gates"}
    assert fast.param_groups()["mc_gates"].lr_scale == 30
    assert fast.param_groups()["mc_gates"].params == list(fast.logits)
    with pytest.raises(ConfigError, match=r"gate_lr_scale > 0 expected, got 8, 0\.01 and 0"):
        build(gate_lr_scale=0)
