"""The routing network: agents that learn from the loss, rows computed only by their experts,
greedy evaluation, the exploration schedule, exact resume, and 2 processes learning as 1."""

import copy

import pytest
import torch

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.parts import collect, split_stacked_rows
from sharedspace.resolve import resolve_component
from sharedspace.spaces import SPACES, build_space, global_batch
from sharedspace.spaces.routing import RoutingNetwork, exploration


def build(in_dim: int = 8, num_tasks: int = 2, widths=(6,), **params) -> RoutingNetwork:
    section = Component("routing", {"expert": {"widths": list(widths)}, **params})
    resolve_component(SPACES, section, "model.space")
    return build_space(section, in_dim, num_tasks)


def forward(space: RoutingNetwork, h: torch.Tensor, task: int) -> tuple[torch.Tensor, dict]:
    """The space's output and the aux losses it emitted."""
    z = space(h, task)
    return z, collect([space])


def normal_(rows: torch.nn.ParameterList) -> None:
    with torch.no_grad():
        for row in rows:
            row.normal_()


def test_each_task_agent_moves_to_the_expert_that_serves_it():
    torch.manual_seed(0)
    space = build(in_dim=4, widths=[4], experts=2, explore_steps=100)
    with torch.no_grad():  # fixed experts: relu(h) and relu(−h)
        for expert, sign in zip(space.layers[0], (1.0, -1.0), strict=True):
            expert[0].weight.copy_(sign * torch.eye(4))
            expert[0].bias.zero_()
    space.layers.requires_grad_(False)
    good = [0, 1]  # task → the expert that gives its targets
    opt = torch.optim.Adam(space.logits, lr=0.05)
    for step in range(100):
        task = step % 2
        h = torch.randn(32, 4)
        z, aux = forward(space, h, task)
        losses = (z - space.layers[0][good[task]](h)).square().mean(1)
        aux |= space.loss_feedback(task, losses)
        opt.zero_grad()
        sum(aux.values()).backward()
        opt.step()
    assert space.policy(0)[0, 0] > 0.9 and space.policy(1)[0, 1] > 0.9


def test_each_expert_computes_only_the_rows_routed_to_it():
    torch.manual_seed(0)
    space = build(widths=[6, 5], experts=3, explore_start=1.0)  # uniform routes
    seen: dict[tuple[int, int], list[torch.Tensor]] = {}
    for layer, experts in enumerate(space.layers):
        for e, expert in enumerate(experts):
            expert.register_forward_hook(
                lambda _m, args, _o, key=(layer, e): seen.setdefault(key, []).append(args[0])
            )
    h = torch.randn(40, 8)
    z = space(h, 0)
    inputs = [[seen.get((layer, e), []) for e in range(3)] for layer in range(2)]
    assert all(len(calls) <= 1 for layer in inputs for calls in layer)  # one call per expert
    assert [sum(len(x) for calls in layer for x in calls) for layer in inputs] == [40, 40]
    layer0 = torch.cat([x for calls in inputs[0] for x in calls])  # (40, 8)
    match = (layer0[:, None] == h[None]).all(-1)  # (40, 40): each row went to one expert
    assert (match.sum(0) == 1).all() and (match.sum(1) == 1).all()
    paths = torch.stack([b(a(h)) for a in space.layers[0] for b in space.layers[1]])  # (9, 40, 5)
    assert ((paths - z).abs().amax(-1) < 1e-6).sum(0).ge(1).all()  # each row took some path


def test_evaluation_is_greedy_and_training_draws_fresh_routes():
    torch.manual_seed(0)
    space = build(widths=[6, 5], experts=3)
    normal_(space.logits)
    h = torch.randn(16, 8)
    space.eval()
    (z1, aux), (z2, _) = forward(space, h, 1), forward(space, h, 1)
    best = space.policy(1).argmax(-1)
    assert torch.equal(z1, z2) and aux == {}
    assert torch.allclose(z1, space.layers[1][best[1]](space.layers[0][best[0]](h)))
    assert int(space.draws.count) == 0 and int(space.explore_step) == 0 and not space.pending
    space.train()
    with torch.no_grad():  # a train-mode forward without gradients keeps nothing
        assert forward(space, h, 1)[1] == {} and not space.pending
        assert int(space.explore_step) == 0
    za, zb = space(h, 1), space(h, 1)
    assert not torch.allclose(za, zb) and int(space.explore_step) == 2 and set(space.pending) == {1}
    assert space.loss_feedback(0, torch.ones(16)) == {}  # task 0 ran no training forward


def test_exploration_falls_linearly_and_the_routes_follow_it():
    cfg = RoutingNetwork.Config(explore_start=0.5, explore_end=0.05, explore_steps=100)
    assert exploration(cfg, 0) == 0.5
    assert exploration(cfg, 50) == pytest.approx(0.275)
    assert exploration(cfg, 100) == pytest.approx(0.05) == exploration(cfg, 1000)
    torch.manual_seed(0)
    space = build(in_dim=4, widths=[4], experts=2, explore_steps=100)
    with torch.no_grad():
        space.logits[0][:, 0] = 30.0  # π puts everything on expert 0
    explored = []
    space.layers[0][1].register_forward_hook(lambda _m, args, _o: explored.append(len(args[0])))
    h = torch.randn(4000, 4)
    space(h, 0)
    space.explore_step.fill_(100)
    space(h, 0)
    assert explored[0] / 4000 == pytest.approx(0.5 / 2, abs=0.03)  # ε/M of the rows
    assert explored[1] / 4000 == pytest.approx(0.05 / 2, abs=0.01)


def test_a_loaded_state_resumes_the_schedule_and_the_routes():
    torch.manual_seed(0)
    first = build(widths=[6, 5], experts=3)
    h = torch.randn(16, 8)
    for _ in range(3):
        first(h, 0)
    state = {k: v.clone() for k, v in first.state_dict().items()}
    torch.manual_seed(1)
    resumed = build(widths=[6, 5], experts=3)
    resumed.load_state_dict(state)
    assert int(resumed.explore_step) == 3
    assert torch.equal(first(h, 0), resumed(h, 0))


def test_weights_saved_with_the_logits_in_one_tensor_still_load():
    """Before the agents' logits were one Parameter per task, the state dict held them as one
    (L, T, M) tensor ``logits``: the model turns it into the rows."""
    torch.manual_seed(0)
    space = build(widths=[6, 5], experts=3, num_tasks=2)
    normal_(space.logits)
    old = space.state_dict()
    old["logits"] = torch.stack([old.pop("logits.0"), old.pop("logits.1")], 1)  # (L, T, M)
    assert old["logits"].shape == (2, 2, 3)
    loaded = build(widths=[6, 5], experts=3, num_tasks=2)
    split_stacked_rows(loaded, old)
    loaded.load_state_dict(old)
    assert torch.equal(loaded.logits.stacked(), space.logits.stacked())
    assert torch.equal(loaded.policy(1), space.policy(1))


def test_two_processes_draw_and_learn_as_one(monkeypatch):
    torch.manual_seed(0)
    space = build(widths=[6], experts=3)
    normal_(space.logits)
    h, target = torch.randn(8, 8), torch.randn(8, 6)
    ranks = [copy.deepcopy(space) for _ in range(2)]
    z, aux = forward(space, h, 0)  # one process: the whole batch
    losses = (z - target).square().mean(1)  # (8,)
    aux |= space.loss_feedback(0, losses.detach())
    (grad,) = torch.autograd.grad(losses.mean() + sum(aux.values()), space.logits[0])
    outputs = []
    for rank, part in enumerate(ranks):  # rank r holds rows 4r … 4r + 3 of the global batch
        monkeypatch.setattr(global_batch, "rank_and_world", lambda rank=rank: (rank, 2))
        outputs.append(forward(part, h[4 * rank : 4 * rank + 4], 0))
    halves = [
        (zr - target[4 * r : 4 * r + 4]).square().mean(1) for r, (zr, _) in enumerate(outputs)
    ]
    both = torch.cat(halves).detach()
    monkeypatch.setattr(
        global_batch, "global_sum", lambda t: torch.stack([both.sum(), both.new_tensor(8)])
    )
    grads = []
    for part, half, (_, aux_rank) in zip(ranks, halves, outputs, strict=True):
        aux_rank |= part.loss_feedback(0, half.detach())
        grads.append(torch.autograd.grad(half.mean() + sum(aux_rank.values()), part.logits[0])[0])
    assert torch.allclose(torch.cat([z_rank for z_rank, _ in outputs]), z)
    assert torch.allclose((grads[0] + grads[1]) / 2, grad, atol=1e-6)


def test_a_bad_config_names_every_problem():
    with pytest.raises(
        ConfigError,
        match=r"explore_start .*; shared must be at least 0.*; policy_lr_scale must be positive",
    ):
        build(explore_start=1.5, experts=0, shared=-1, policy_lr_scale=0)


def test_a_shared_trunk_runs_once_for_every_task_and_the_rest_is_routed():
    """``shared: 2`` of three stages: one copy of the first two (the trunk) and M copies of the
    third, and the output is the chosen expert's last stage on the trunk's features."""
    torch.manual_seed(0)
    space = build(widths=[6, 5, 4], experts=3, shared=2).eval()
    assert len(space.trunk) == 2 and len(space.layers) == 1 and len(space.layers[0]) == 3
    trunk_params = sum(p.numel() for p in space.trunk.parameters())
    assert trunk_params == (8 * 6 + 6) + (6 * 5 + 5)  # one copy, not three
    with torch.no_grad():
        space.logits[1][0, 2] = 1.0  # task 1 prefers expert 2 in its first routed layer
    h = torch.randn(7, 8)
    torch.testing.assert_close(space(h, 1), space.layers[0][2](space.trunk(h)))
    space.train()
    space(h, 0).sum().backward()
    assert all(p.grad is not None for p in space.trunk.parameters())


def test_a_shared_trunk_must_leave_a_stage_to_route():
    with pytest.raises(ConfigError, match="shared must leave a stage to route: 2 of the expert"):
        build(widths=[6, 5], shared=2)


def test_the_agents_learn_at_policy_lr_scale_times_the_network_rate():
    assert build().param_groups()["routing_policy"].lr_scale == 1.0
    fast = build(policy_lr_scale=100)
    assert fast.param_groups().keys() == {"routing_policy"}
    assert fast.param_groups()["routing_policy"].lr_scale == 100
    assert fast.param_groups()["routing_policy"].params == list(fast.logits)
