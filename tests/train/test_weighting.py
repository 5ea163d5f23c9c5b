import math

import pytest
import torch

from sharedspace.collectives import SINGLE
from sharedspace.config import Component, from_dict
from sharedspace.errors import ConfigError
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


# --- hand-computed cases on tiny tensors -------------------------------------------------------


def gradient_step(name, grads, **params):
    """Losses L_t = g_t · x on a shared x = 0: the task gradients are exactly ``grads``; returns
    (weights, x.grad)."""
    w = weighting(name, tasks=[f"t{i}" for i in range(len(grads))], **params)
    x = torch.zeros(len(grads[0]), requires_grad=True)
    losses = {f"t{i}": torch.tensor(g) @ x + 1.0 for i, g in enumerate(grads)}
    ctx = StepContext(0, [x], [x, *w.parameters()], SINGLE)
    _, weights = w.backward(losses, torch.tensor(0.0), ctx)
    return weights, x.grad


def test_pcgrad_projects_each_conflicting_gradient_off_the_other():
    # g1·g2 = −1 < 0: g1 − (g1·g2/‖g2‖²) g2 = (½, ½), g2 − (g2·g1/‖g1‖²) g1 = (0, 1)
    _, grad = gradient_step("pcgrad", [[1.0, 0.0], [-1.0, 1.0]])
    torch.testing.assert_close(grad, torch.tensor([0.5, 1.5]))
    _, grad = gradient_step("pcgrad", [[1.0, 0.0], [1.0, 1.0]])  # no conflict: the plain sum
    torch.testing.assert_close(grad, torch.tensor([2.0, 1.0]))


def test_mgda_finds_the_closed_form_min_norm_point_of_two_gradients():
    g1, g2 = torch.tensor([1.0, 0.2]), torch.tensor([-0.3, 1.0])
    alpha = ((g2 - g1) @ g2 / (g1 - g2).square().sum()).clamp(0, 1)
    expected = alpha * g1 + (1 - alpha) * g2
    weights, grad = gradient_step("mgda", [g1.tolist(), g2.tolist()], epsilon=1e-7, max_iters=10000)
    torch.testing.assert_close(grad, expected, atol=1e-4, rtol=0)
    assert weights["t0"].item() == pytest.approx(alpha.item(), abs=1e-4)


def test_dwa_weights_follow_the_ratio_of_the_last_two_window_means():
    w = weighting("dwa", window=2, temperature=2.0)
    x = torch.ones((), requires_grad=True)
    history = [(4.0, 1.0), (2.0, 1.0), (1.0, 0.9), (1.0, 0.7)]  # two windows of two steps
    for step, (a, b) in enumerate(history):
        ctx = StepContext(step, [x], [x], SINGLE)
        _, weights = w.backward({"a": a * x, "b": b * x}, torch.tensor(0.0), ctx)
        assert weights["a"].item() == weights["b"].item() == 1.0  # equal until two windows
    # window means: a 3 → 1, b 1 → 0.8; r = (1/3, 0.8); w = 2·softmax(r / 2)
    _, weights = w.backward({"a": x, "b": x}, torch.tensor(0.0), StepContext(4, [x], [x], SINGLE))
    expected = 2 * torch.softmax(torch.tensor([1 / 3, 0.8]) / 2, dim=0)
    assert [weights["a"].item(), weights["b"].item()] == pytest.approx(expected.tolist())


def test_dwa_weighs_by_global_losses_not_this_process_slice():
    w = weighting("dwa", window=1)
    x = torch.ones((), requires_grad=True)
    for step, (a, b) in enumerate([(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]):
        glob = {"a": torch.tensor(2.0**-step), "b": torch.tensor(1.0)}  # a falls, b doesn't
        ctx = StepContext(step, [x], [x], SINGLE, global_losses=glob)
        _, weights = w.backward({"a": a * x, "b": b * x}, torch.tensor(0.0), ctx)
    assert weights["b"] > weights["a"]  # b improves slower: more weight


def test_gradnorm_update_matches_a_hand_computation():
    """Gradient norms ‖g‖ = (3, 1), losses at their initial values (r = 1, target = Ḡ):
    weights (1, 1) → G = (3, 1), Ḡ = 2, balance |3 − 2| + |1 − 2|; d/dG = (1, −1); with
    w = 2·softmax(a), dw/da = [[½, −½], [−½, ½]] so d/da = (1·3·½ + 1·1·½, −(…)) = (2, −2)."""
    w = weighting("gradnorm", alpha=1.5)
    x = torch.zeros(2, requires_grad=True)
    losses = {"a": torch.tensor([3.0, 0.0]) @ x + 1, "b": torch.tensor([0.0, 1.0]) @ x + 1}
    _, weights = w.backward(losses, torch.tensor(0.0), StepContext(0, [x], [x], SINGLE))
    assert weights["a"].item() == weights["b"].item() == 1.0
    torch.testing.assert_close(w.logits.grad, torch.tensor([2.0, -2.0]))
    torch.testing.assert_close(x.grad, torch.tensor([3.0, 1.0]))


def test_gradnorm_pulls_up_the_task_whose_loss_falls_slower():
    w = weighting("gradnorm", alpha=1.5)
    x = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD(w.parameters(), lr=0.05)
    for step in range(30):
        opt.zero_grad()
        scale = {"a": 0.9**step, "b": 1.0}  # a's loss falls, b's stays; equal gradient norms
        losses = {
            "a": torch.tensor([1.0, 0.0]) @ x + scale["a"],
            "b": torch.tensor([0.0, 1.0]) @ x + scale["b"],
        }
        glob = {k: torch.tensor(v) for k, v in scale.items()}
        ctx = StepContext(step, [x], [x, *w.parameters()], SINGLE, global_losses=glob)
        _, weights = w.backward(losses, torch.tensor(0.0), ctx)
        opt.step()
    assert weights["b"] > 1.2 > 0.8 > weights["a"]
    assert (weights["a"] + weights["b"]).item() == pytest.approx(2.0)


def test_famo_weights_and_logit_update():
    w = weighting("famo")
    x = torch.ones((), requires_grad=True)
    losses = {"a": 2.0 * x, "b": 0.5 * x}
    ctx = StepContext(0, [x], [x], SINGLE)
    _, weights = w.backward(losses, torch.tensor(0.0), ctx)
    # z = (½, ½), c = 1 / (½/2 + ½/0.5) = 0.8 → weights c·z/L = (0.2, 0.8): d(Σ c z log L)/dL
    assert [weights["a"].item(), weights["b"].item()] == pytest.approx([0.2, 0.8])
    assert x.grad.item() == pytest.approx(0.2 * 2 + 0.8 * 0.5)
    # a's loss halves, b's stays: the logit of b (the lagging task) must rise
    ctx.recompute = lambda: {"a": torch.tensor(1.0), "b": torch.tensor(0.5)}
    w.after_step(ctx)
    assert w.logits[1] > 0 > w.logits[0]
    assert w.logits[1].item() == pytest.approx(0.025, rel=1e-3)  # Adam's first step: ±lr


def test_rlw_weights_are_random_positive_sum_to_the_task_count_and_resume():
    w = weighting("rlw", tasks=("a", "b", "c"))
    x = torch.ones((), requires_grad=True)
    ctx = StepContext(0, [x], [x], SINGLE)
    first = w.backward({n: x for n in "abc"}, torch.tensor(0.0), ctx)[1]
    assert sum(first.values()).item() == pytest.approx(3.0) and min(first.values()) > 0
    state = w.state_dict()
    second = w.backward({n: x for n in "abc"}, torch.tensor(0.0), ctx)[1]
    assert second != first
    restored = weighting("rlw", tasks=("a", "b", "c"))
    restored.load_state_dict(state)
    again = restored.backward({n: x for n in "abc"}, torch.tensor(0.0), ctx)[1]
    assert {k: v.item() for k, v in again.items()} == {k: v.item() for k, v in second.items()}


def test_gradient_methods_leave_task_specific_parameters_their_plain_gradient():
    """Only the shared trunk is arbitrated: a head keeps ∇ of its own task's loss, and a shared
    parameter no task reached keeps no gradient (the optimizer leaves it alone)."""
    w = weighting("upgrad")
    shared, unused = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    head_a, head_b = torch.ones((), requires_grad=True), torch.ones((), requires_grad=True)
    losses = {
        "a": head_a * 3 * (torch.tensor([1.0, -1.0]) @ shared),
        "b": head_b * (torch.tensor([-1.0, 2.0]) @ shared),
    }
    ctx = StepContext(0, [shared, unused], [shared, unused, head_a, head_b], SINGLE)
    w.backward(losses, torch.tensor(0.0), ctx)
    assert head_a.grad.item() == 0.0 and head_b.grad.item() == pytest.approx(1.0)
    assert unused.grad is None


@pytest.mark.parametrize("name", ["upgrad", "mgda", "imtl_g", "pcgrad", "cagrad", "aligned_mtl"])
def test_the_adapter_matches_a_direct_torchjd_call(name):
    """Our per-task-graph Jacobian + the aggregator's weights = torchjd's own backward +
    jac_to_grad on the shared parameters of a toy two-task model."""
    from torchjd.autojac import backward, jac_to_grad

    def toy():
        torch.manual_seed(0)
        trunk, heads = torch.nn.Linear(4, 3), [torch.nn.Linear(3, 1) for _ in range(2)]
        inputs = [torch.randn(5, 4), torch.randn(5, 4)]
        losses = [heads[t](trunk(inputs[t]).tanh()).square().mean() for t in range(2)]
        return trunk, losses

    trunk, losses = toy()
    w = weighting(name)
    ctx = StepContext(0, list(trunk.parameters()), list(trunk.parameters()), SINGLE)
    torch.manual_seed(1)  # PCGrad's random order
    w.backward(dict(zip("ab", losses, strict=True)), torch.tensor(0.0), ctx)
    ours = [p.grad.clone() for p in trunk.parameters()]

    trunk, losses = toy()
    backward(losses, inputs=list(trunk.parameters()))
    torch.manual_seed(1)
    jac_to_grad(list(trunk.parameters()), w.aggregator)
    for got, want in zip(ours, [p.grad for p in trunk.parameters()], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_a_missing_solver_is_a_one_line_error_naming_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cvxpy" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"needs cvxpy.*pip install 'sharedspace\[cvxpy\]'"):
        weighting("cagrad")


@pytest.mark.parametrize(("name", "params"), [("cagrad", {"c": -1.0}), ("mgda", {"max_iters": 0})])
def test_an_aggregator_setting_torchjd_refuses_is_a_config_error(name, params):
    with pytest.raises(ConfigError, match=r"train.weighting: .*(non-negative|positive)"):
        weighting(name, **params)


@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_every_weighting_resumes_from_its_state_dict(name):
    """What a checkpoint keeps: a weighting loaded with another's state after a few steps weighs
    the next step as that one does (learned weights, loss histories, random draws)."""

    def step_at(w, n):  # step n, with losses that change from step to step
        x = torch.ones((), requires_grad=True)
        losses = {"a": 2 * x / (n + 1), "b": x.square() * (n + 1)}
        _, weights = w.backward(losses, torch.tensor(0.0), StepContext(n, [x], [x], SINGLE))
        return {**{k: float(v) for k, v in weights.items()}, "grad": float(x.grad)}

    first, second = weighting(name), weighting(name)
    for n in range(4):
        step_at(first, n)
    second.load_state_dict(first.state_dict())
    assert step_at(second, 4) == pytest.approx(step_at(first, 4))
