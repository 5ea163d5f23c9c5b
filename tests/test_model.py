"""What SharedSpaceModel gathers from its parts: aux losses emitted at any depth (summed per
name, nothing left over between forwards), parameter groups, task-specific parameters (which
are not shared), the per-row streams' replay, and weights saved before gates were split."""

import copy

import pytest
import torch
from torch import nn

from sharedspace.config import Component, from_dict
from sharedspace.model import SharedSpaceModel, TaskPath
from sharedspace.parts import ParamGroup, collect
from sharedspace.spaces import BLOCKS, SPACES, build_space
from sharedspace.spaces.blocks import MLP
from sharedspace.spaces.moe import MoELayer


class Cap(nn.Module):
    """The identity on vectors: cap(x, mask) → x (B, D)."""

    aux_losses = ()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return x


class Head(nn.Linear):
    def forward(self, z: torch.Tensor, batch: dict) -> torch.Tensor:
        return super().forward(z)


class TwoMoELayers(nn.Module):
    """A body with two MoE layers in a row, which sums nothing by hand."""

    aux_losses = MoELayer.aux_losses

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        block = Component("mlp", config=MLP.Config(widths=[dim]))
        self.first = MoELayer(block, dim, experts=4, k=2)
        self.second = MoELayer(block, dim, experts=4, k=2)
        self.out_dim = dim

    def forward(self, h: torch.Tensor, task: int) -> torch.Tensor:
        return self.second(self.first(h))


def model_with(space: nn.Module, tasks: int = 2) -> SharedSpaceModel:
    heads = {task: Head(space.out_dim, 3) for task in range(tasks)}
    return SharedSpaceModel({"v": Cap()}, space, heads, [TaskPath("v")] * tasks)


def space(name: str, in_dim: int = 4, num_tasks: int = 2, **params) -> nn.Module:
    cfg = from_dict(SPACES.get(name).Config, params)
    cfg.expert.config = from_dict(BLOCKS.get(cfg.expert.name).Config, {"widths": [in_dim]})
    return build_space(Component(name, config=cfg), in_dim, num_tasks)


def test_two_moe_layers_in_one_body_emit_one_summed_loss_per_name():
    torch.manual_seed(0)
    model = model_with(TwoMoELayers())
    twin = copy.deepcopy(model)  # the same weights and noise streams
    batch = {"x": torch.randn(8, 4)}
    output, aux = model(0, batch)

    body = twin.space
    h = body.first(batch["x"])
    first = collect([body.first])
    z = body.second(h)
    second = collect([body.second])
    assert torch.equal(output, twin.heads["0"](z, batch))
    assert aux.keys() == {"moe_importance", "moe_load"}
    for name in aux:
        assert torch.equal(aux[name], first[name] + second[name])
    aux["moe_load"].backward()  # both layers' gates learn from the one summed loss
    assert model.space.first.gate.w_noise[0].grad.abs().sum() > 0
    assert model.space.second.gate.w_noise[0].grad.abs().sum() > 0


def test_what_a_call_outside_the_model_emitted_never_reaches_a_forward():
    torch.manual_seed(0)
    model = model_with(TwoMoELayers())
    twin = copy.deepcopy(model)
    batch = {"x": torch.randn(8, 4)}
    model.space.first(torch.randn(8, 4) * 100)  # a probe: emits, advances the stream
    twin.space.first.gate.draws.count += 1  # the same stream position, nothing emitted
    _, aux = model(1, batch)
    _, expected = twin(1, batch)
    assert all(torch.equal(aux[name], expected[name]) for name in expected)
    assert collect(model.modules()) == {}  # the forward left nothing behind


def test_the_feedback_refuses_a_name_its_part_does_not_declare():
    model = model_with(space("routing"))
    model.space.loss_feedback = lambda task, losses: {"reward": losses.mean()}
    with pytest.raises(RuntimeError, match="RoutingNetwork emitted the aux loss 'reward'"):
        model.feedback(0, torch.ones(4))


def test_parameter_groups_merge_by_name_and_refuse_two_learning_rates():
    class Fast(nn.Module):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(2))
            self.scale = scale

        def param_groups(self) -> dict[str, ParamGroup]:
            return {"fast": ParamGroup([self.w], self.scale)}

    agreeing = model_with(space("routing", policy_lr_scale=10))
    agreeing.caps["v"].fast = Fast(10.0)
    agreeing.heads["0"].fast = Fast(10.0)
    paths = [TaskPath("v")] * 2
    agreeing = SharedSpaceModel(
        agreeing.caps, agreeing.space, dict(enumerate(agreeing.heads.values())), paths
    )
    groups = agreeing.param_groups()
    assert groups.keys() == {"fast", "routing_policy"}
    assert groups["fast"].params == [agreeing.caps["v"].fast.w, agreeing.heads["0"].fast.w]
    assert groups["fast"].lr_scale == 10 and groups["routing_policy"].lr_scale == 10
    assert groups["routing_policy"].params == list(agreeing.space.logits)

    agreeing.heads["1"].fast = Fast(3.0)
    clashing = SharedSpaceModel(
        agreeing.caps, agreeing.space, dict(enumerate(agreeing.heads.values())), paths
    )
    with pytest.raises(
        ValueError,
        match=r"parameter group 'fast': caps.v.fast asks lr_scale 10.0, heads.1.fast asks 3.0",
    ):
        clashing.param_groups()


@pytest.mark.parametrize(
    ("name", "own"),
    [("mmoe", ["gate_weight", "gate_bias"]), ("moe", ["moe.gate.w_gate", "moe.gate.w_noise"])],
)
def test_per_task_gates_are_task_parameters_not_shared_ones(name, own):
    """Gradient-level weighting combines the tasks' gradients on shared_parameters(): a task's
    own gate is not among them (one task's gradient reaches it, there is nothing to combine)."""
    model = model_with(space(name, num_tasks=3), tasks=3)
    rows = [model.space.get_submodule(path) for path in own]
    assert model.task_parameters() == {t: [r[t] for r in rows] for t in range(3)}
    shared = {id(p) for p in model.shared_parameters()}
    gates = {id(p) for r in rows for p in r}
    experts = {id(p) for n, p in model.space.named_parameters() if "experts" in n}
    assert experts and shared == experts and not shared & gates


def test_a_space_without_task_parameters_shares_them_all():
    model = model_with(space("moe", per_task_gates=False))
    assert model.task_parameters() == {}
    assert model.shared_parameters() == list(model.space.parameters())


def test_replay_redraws_the_forward_that_started_at_the_saved_positions():
    torch.manual_seed(0)
    model = model_with(space("moe")).train()
    batch = {"x": torch.randn(16, 4)}
    positions = model.stream_positions()
    first, _ = model(0, batch)
    second, _ = model(0, batch)
    with model.replay(positions):
        again, _ = model(0, batch)
    assert torch.equal(again, first) and not torch.equal(second, first)
    after, _ = model(0, batch)  # the streams go on from where they stood
    assert not torch.equal(after, first) and not torch.equal(after, second)


def test_weights_saved_with_one_tensor_per_gate_load():
    torch.manual_seed(0)
    saved = model_with(space("multi_clustering", num_tasks=2))
    state = saved.state_dict()
    state["space.logits"] = torch.stack([state.pop(f"space.logits.{t}") for t in (0, 1)])
    state["space.w"] = torch.stack([state.pop(f"space.w.{t}") for t in (0, 1)])
    torch.manual_seed(1)
    loaded = model_with(space("multi_clustering", num_tasks=2))
    loaded.load_state_dict(state)
    assert torch.equal(loaded.space.probabilities(), saved.space.probabilities())
    assert torch.equal(loaded.space.w.stacked(), saved.space.w.stacked())
