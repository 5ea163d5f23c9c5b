"""The sparsely-gated MoE: sorted dispatch equals the dense mixture, k·N expert rows, the balance
losses by hand (with tensor2tensor's noise floor), zero-initialised gates with noise only in
training, sequences, fitting, resume."""

import copy
import math
import statistics

import pytest
import torch
from torch import nn

from sharedspace.config import Component
from sharedspace.errors import ConfigError
from sharedspace.parts import collect
from sharedspace.representation import PaddedSequence
from sharedspace.resolve import resolve_component
from sharedspace.spaces import SPACES, build_space, global_batch, moe
from sharedspace.spaces.blocks import MLP
from sharedspace.spaces.dispatch import dense_mixture, dispatch


def moe_layer(in_dim=4, experts=4, k=2, gates=1, widths=(8,)) -> moe.MoELayer:
    block = Component("mlp", config=MLP.Config(widths=list(widths)))
    return moe.MoELayer(block, in_dim, experts, k, gates)


def moe_space(in_dim=4, num_tasks=2, **params) -> nn.Module:
    section = Component("moe", params)
    resolve_component(SPACES, section, "model.space")
    return build_space(section, in_dim, num_tasks)


def normal_(rows: nn.ParameterList, std: float = 1.0) -> None:
    """Draw every row of a gate's weights from N(0, std²)."""
    with torch.no_grad():
        for row in rows:
            row.normal_(std=std)


def aux_of(module: nn.Module) -> dict[str, torch.Tensor]:
    """What ``module`` and its submodules emitted in the forward just run."""
    return collect(module.modules())


class FixedDraws(nn.Module):
    """Stands in for RowDraws: the given ε every time."""

    def __init__(self, eps: torch.Tensor) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, kind: str, rows: int, *shape: int, uneven: bool = False) -> torch.Tensor:
        assert kind == "normal" and (rows, *shape) == tuple(self.eps.shape)
        return self.eps


def test_sorted_dispatch_equals_the_dense_mixture_of_the_gate_matrix():
    torch.manual_seed(0)
    layer = moe_layer(in_dim=5, experts=4, k=2, gates=2, widths=(8, 6)).double()
    normal_(layer.gate.w_gate)
    normal_(layer.gate.w_noise)
    seen = []
    layer.gate.register_forward_hook(lambda module, args, out: seen.append(out))
    x = torch.randn(20, 5, dtype=torch.float64)
    z = layer(x, 1)  # training: noisy routing
    ids, weights, _, _ = seen[0]
    gates = torch.zeros(20, 4, dtype=torch.float64).scatter(1, ids, weights)  # (N, M)
    assert ((gates > 0).sum(1) == 2).all() and torch.allclose(gates.sum(1), torch.ones(20).double())
    assert (z - dense_mixture(x, layer.experts, gates)).abs().max() < 1e-12


def test_sorted_dispatch_gradients_equal_the_dense_mixtures():
    """The gathers' backward (index_add) gives the inputs, gate values and every expert the
    gradients of the dense mixture of the same gate matrix."""
    torch.manual_seed(0)
    layer = moe_layer(in_dim=5, experts=4, k=2, widths=(8, 6)).double()
    x = torch.randn(20, 5, dtype=torch.float64, requires_grad=True)
    ids = torch.rand(20, 4).topk(2, dim=1).indices  # (N, k), distinct per row
    weights = torch.rand(20, 2, dtype=torch.float64, requires_grad=True)
    rows = torch.arange(20).repeat_interleave(2)
    sparse = dispatch(x, layer.experts, rows, ids.flatten(), weights.flatten())
    gates = torch.zeros(20, 4, dtype=torch.float64).scatter(1, ids, weights)  # (N, M)
    params = [x, weights, *layer.experts.parameters()]
    target = torch.randn(20, 6, dtype=torch.float64)
    got = torch.autograd.grad((sparse * target).sum(), params)
    dense = dense_mixture(x, layer.experts, gates)
    want = torch.autograd.grad((dense * target).sum(), params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_the_expert_major_gate_computes_the_row_major_formula():
    """The gate works on (M, N) logits (one transposed matmul for W_g and W_noise); its routes,
    gate values, importance and load, and their gradients, are those of the paper's formula on
    (N, M) rows."""
    torch.manual_seed(0)
    gate = moe.NoisyTopKGate(6, 8, 2).double()
    normal_(gate.w_gate)
    normal_(gate.w_noise)
    x = torch.randn(30, 6, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(30, 8, dtype=torch.float64)
    gate.draws = FixedDraws(eps)
    ids, weights, importance, load = gate(x)
    w_g, w_n = gate.w_gate[0], gate.w_noise[0]
    clean = x @ w_g  # (N, M)
    std = nn.functional.softplus(x @ w_n) + 1e-2
    top, want_ids = (clean + eps * std).topk(3, dim=1)
    want_weights = top[:, :2].softmax(1)
    gates = torch.zeros_like(clean).scatter(1, want_ids[:, :2], want_weights)
    chosen = gates > 0
    threshold = torch.where(chosen, top[:, 2:3], top[:, 1:2])
    want_load = torch.special.ndtr((clean - threshold) / std).sum(0)
    assert torch.equal(ids, want_ids[:, :2])
    got = (weights, importance, load)
    want = (want_weights, gates.sum(0), want_load)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    params = [x, w_g, w_n]
    probe = [torch.randn_like(t) for t in got]

    def gradients(outputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return torch.autograd.grad(
            sum((t * p).sum() for t, p in zip(outputs, probe, strict=True)), params
        )

    grads, want_grads = gradients(got), gradients(want)
    for g, w in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_each_row_runs_exactly_k_experts():
    torch.manual_seed(0)
    layer = moe_layer(experts=6, k=2)
    rows = []
    for expert in layer.experts:
        expert.register_forward_pre_hook(lambda module, args: rows.append(len(args[0])))
    layer(torch.randn(20, 4))
    assert sum(rows) == 2 * 20
    rows.clear()
    mask = torch.arange(5) < torch.tensor([5, 2, 3])[:, None]  # 10 real positions
    layer(PaddedSequence(torch.randn(3, 5, 4), mask))
    assert sum(rows) == 2 * 10


def phi(v: float) -> float:
    return 0.5 * (1 + math.erf(v / math.sqrt(2)))


def cv2(values: list[float]) -> float:
    return statistics.pvariance(values) / (statistics.fmean(values) ** 2 + 1e-10)


@pytest.mark.parametrize("training", [True, False])
def test_balance_losses_by_hand(training):
    """CV² of importance Σ G(x) and of load: Σ Φ((clean − kth_excluding(H)) / σ) in training,
    σ = softplus(noise) + 1e-2 (the noise's own scale), rows per expert in evaluation —
    computed here in plain Python."""
    k, m = 2, 4
    layer = moe_space(in_dim=2, num_tasks=1, experts=m, k=k, balance=0.5).moe.double()
    w_g = [[0.5, -1.0, 0.2, 0.0], [1.0, 0.3, -0.4, 0.8]]  # (D, M)
    w_n = [[0.1, 0.4, -0.3, 0.0], [-0.2, 0.5, 0.6, -1.0]]
    x = [[1.0, 0.5], [-0.3, 2.0], [0.7, -1.2]]  # (N, D)
    eps = [[0.3, -1.1, 0.8, 0.05], [-0.6, 0.2, 1.5, -0.4], [1.0, -0.9, 0.0, 0.7]]
    with torch.no_grad():
        layer.gate.w_gate[0].copy_(torch.tensor(w_g, dtype=torch.float64))
        layer.gate.w_noise[0].copy_(torch.tensor(w_n, dtype=torch.float64))
    layer.gate.draws = FixedDraws(torch.tensor(eps, dtype=torch.float64))
    layer.train(training)
    layer(torch.tensor(x, dtype=torch.float64))
    aux = aux_of(layer)

    importance, load = [0.0] * m, [0.0] * m
    for row, e in zip(x, eps, strict=True):
        clean = [sum(xd * w[i] for xd, w in zip(row, w_g, strict=True)) for i in range(m)]
        raw = [sum(xd * w[i] for xd, w in zip(row, w_n, strict=True)) for i in range(m)]
        std = [math.log1p(math.exp(r)) + 1e-2 for r in raw]
        noisy = [c + ei * s for c, ei, s in zip(clean, e, std, strict=True)] if training else clean
        ranked = sorted(range(m), key=lambda i: -noisy[i])
        top = ranked[:k]
        total = sum(math.exp(noisy[i]) for i in top)
        for i in top:
            importance[i] += math.exp(noisy[i]) / total
        for i in range(m):
            if not training:
                load[i] += i in top
                continue
            others = sorted((noisy[j] for j in range(m) if j != i), reverse=True)
            load[i] += phi((clean[i] - others[k - 1]) / std[i])  # k-th largest of the others
    assert aux["moe_importance"].item() == pytest.approx(0.5 * cv2(importance), rel=1e-9)
    assert aux["moe_load"].item() == pytest.approx(0.5 * cv2(load), rel=1e-9)


def test_the_noise_weights_learn_from_the_load_loss():
    torch.manual_seed(0)
    space = moe_space()
    space(torch.randn(16, 4), 0)
    aux_of(space)["moe_load"].backward()
    assert space.moe.gate.w_noise[0].grad.abs().sum() > 0


def test_two_processes_balance_the_global_batch_as_one_does(monkeypatch):
    """Each of 2 processes holds half the rows; the balance losses sum importance and load over
    both, and the average of the two processes' gradients is the one process's gradient."""
    torch.manual_seed(0)
    layer = moe_layer(in_dim=3, experts=4, k=2).double()
    normal_(layer.gate.w_gate)
    normal_(layer.gate.w_noise)
    x, eps = torch.randn(12, 3).double(), torch.randn(12, 4).double()
    halves = [slice(0, 6), slice(6, 12)]
    params = [*layer.gate.w_gate, *layer.gate.w_noise]

    def balance(rows: slice) -> tuple[torch.Tensor, list[torch.Tensor]]:
        layer.gate.draws = FixedDraws(eps[rows])
        layer(x[rows])
        aux = aux_of(layer)
        total = aux["moe_importance"] + aux["moe_load"]
        return total.detach(), list(torch.autograd.grad(total, params))

    one, one_grads = balance(slice(None))
    sums = []
    for rows in halves:
        layer.gate.draws = FixedDraws(eps[rows])
        sums.append(torch.stack(layer.gate(x[rows])[2:]).detach())  # (2, M) importance, load
    grads = []
    for rank, rows in enumerate(halves):
        monkeypatch.setattr(global_batch, "rank_and_world", lambda rank=rank: (rank, 2))
        monkeypatch.setattr(global_batch, "global_sum", lambda t, rank=rank: t + sums[1 - rank])
        value, g = balance(rows)
        assert value.item() == pytest.approx(one.item(), rel=1e-12)
        grads.append(g)
    for p_one, p_0, p_1 in zip(one_grads, *grads, strict=True):
        torch.testing.assert_close((p_0 + p_1) / 2, p_one, rtol=1e-10, atol=1e-12)


def test_gates_start_at_zero_and_noise_acts_only_in_training():
    torch.manual_seed(0)
    space = moe_space(experts=8, k=2)
    gate = space.moe.gate
    assert not gate.w_gate.stacked().any() and not gate.w_noise.stacked().any()
    x = torch.randn(16, 4)
    z1 = space(x, 0)
    z2 = space(x, 0)
    assert not torch.equal(z1, z2) and gate.draws.count == 2  # a fresh draw each training forward
    space.eval()
    normal_(gate.w_gate)
    normal_(gate.w_noise, std=10)
    with torch.no_grad():
        z3 = space(x, 0)
        for row in gate.w_noise:
            row.zero_()
        z4 = space(x, 0)
    assert torch.equal(z3, z4) and gate.draws.count == 2  # no noise, no draw


def test_a_sequence_routes_its_real_positions_only():
    torch.manual_seed(0)
    layer = moe_layer()
    normal_(layer.gate.w_gate)
    mask = torch.arange(5) < torch.tensor([5, 2, 3])[:, None]  # (B, T)
    values = torch.randn(3, 5, 4)
    start = copy.deepcopy(layer.state_dict())
    z = layer(PaddedSequence(values, mask))
    aux = aux_of(layer)
    assert z.mask is mask and z.values.shape == (3, 5, 8) and not z.values[~mask].any()
    layer.load_state_dict(start)  # the same noise again
    rows = layer(values[mask])
    rows_aux = aux_of(layer)
    assert torch.equal(z.values[mask], rows) and aux == rows_aux
    layer.load_state_dict(start)
    garbage = values.masked_fill(~mask.unsqueeze(-1), 1e6)
    z2 = layer(PaddedSequence(garbage, mask))
    aux2 = aux_of(layer)
    assert torch.equal(z2.values, z.values) and aux2 == aux


def test_the_space_fits_a_tiny_batch_with_its_balance_losses():
    torch.manual_seed(0)
    space = moe_space(in_dim=8, experts=4, k=2, expert={"widths": [32]})
    heads = nn.ModuleList(nn.Linear(space.out_dim, 1) for _ in range(2))
    x, y = torch.randn(2, 32, 8), torch.randn(2, 32, 1)
    optimizer = torch.optim.Adam([*space.parameters(), *heads.parameters()], lr=1e-2)
    objective = []
    for _ in range(300):  # the objective, balance losses included, falls by 90% within 300 steps
        total = torch.zeros(())
        for t in range(2):
            z = space(x[t], t)
            total = total + nn.functional.mse_loss(heads[t](z), y[t]) + sum(aux_of(space).values())
        objective.append(total.item())
        if objective[-1] < 0.1 * objective[0]:
            break
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert objective[-1] < 0.1 * objective[0], f"{objective[0]:.3f} → {objective[-1]:.3f}"


def test_a_loaded_state_resumes_the_noise_stream():
    torch.manual_seed(0)
    space = moe_space()
    x = torch.randn(16, 4)
    for _ in range(3):
        space(x, 1)
    saved = copy.deepcopy(space.state_dict())
    expected = space(x, 1)
    torch.manual_seed(1)  # another seed, other weights: the state dict restores them all
    resumed = moe_space()
    resumed.load_state_dict(saved)
    assert torch.equal(resumed(x, 1), expected)


def test_per_task_or_shared_gates():
    torch.manual_seed(0)
    per_task = moe_space(num_tasks=3)
    shared = moe_space(num_tasks=3, per_task_gates=False)
    assert per_task.moe.gate.w_gate.stacked().shape == (3, 4, 8)
    assert shared.moe.gate.w_gate.stacked().shape == (1, 4, 8)
    assert len(per_task.task_parameters()) == 3 and shared.task_parameters() == {}
    shared.eval()
    normal_(shared.moe.gate.w_gate)
    x = torch.randn(6, 4)
    assert torch.equal(shared(x, 0), shared(x, 2))


def test_the_expert_block_comes_from_the_config():
    space = moe_space(in_dim=6, experts=3, k=1, expert={"widths": [12, 5]})
    assert space.out_dim == 5 and len(space.moe.experts) == 3
    assert all(isinstance(e, MLP) and e.out_dim == 5 for e in space.moe.experts)


def test_the_noise_floor_keeps_the_noise_and_the_load_estimate_alive():
    """softplus(x·W_noise) underflows to 0 where W_noise is very negative: with the floor
    (tensor2tensor's 1e-2) the gate still explores and P(x, i) stays finite; without it the
    noise vanishes (the tied clean logits always pick the same expert) and P(x, i) is 0/0."""
    x = torch.randn(16, 4).abs() + 0.5
    for floor in (1e-2, 0.0):
        gate = moe_space(experts=4, k=1, noise_epsilon=floor).moe.gate  # W_g = 0: a tie
        with torch.no_grad():
            gate.w_noise[0].fill_(-1000.0)  # softplus(x·W_noise) = 0 in float32
        draws = [gate(x) for _ in range(5)]
        varies = any(not torch.equal(ids, draws[0][0]) for ids, *_ in draws)
        finite = all(torch.isfinite(load).all() for *_, load in draws)
        assert varies == finite == (floor > 0)


def test_noise_epsilon_must_not_be_negative():
    with pytest.raises(ConfigError, match=r"model\.space: noise_epsilon: must be ≥ 0, got -0\.1"):
        moe_space(noise_epsilon=-0.1)


@pytest.mark.parametrize("params", [{"experts": 2, "k": 3}, {"k": 0}])
def test_k_must_lie_between_1_and_the_experts(params):
    with pytest.raises(ConfigError, match=r"model\.space: k: each row runs k of the"):
        moe_space(**params)
