"""Transfer probes on a toy linear model whose gradients are known in closed form: the cosine and
TAG's affinity against independent formulas, and the probes leave training untouched."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from sharedspace.collectives import SINGLE, Processes
from sharedspace.spaces.global_batch import RowDraws, replay, stream_positions
from sharedspace.tasks import LossTerms
from sharedspace.train.transfer import gradient_cosine, lookahead_affinity, task_gradients


class Toy(nn.Module):
    """Task i predicts dropout(x) @ w + h_i (+ u for task 0 only): w and u are shared (u by name
    only — task 1 never uses it), h_i is task i's own. ``model(i, batch) -> (output (B,), {})``."""

    def __init__(self, dtype: torch.dtype = torch.float64, dropout: float = 0.0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(3, generator=g, dtype=dtype))
        self.u = nn.Parameter(torch.tensor([0.3], dtype=dtype))
        self.heads = nn.ParameterList(
            [nn.Parameter(torch.tensor(v, dtype=dtype)) for v in (0.2, -0.1)]
        )
        self.drop = nn.Dropout(dropout)
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))  # like running statistics

    def forward(self, i: int, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        if self.training:
            self.seen += len(batch["x"])
        z = self.drop(batch["x"]) @ self.w + self.heads[i]  # (B,)
        return (z + self.u if i == 0 else z), {}

    def shared(self) -> list[nn.Parameter]:
        return [self.w, self.u]

    def stream_positions(self):
        return stream_positions(self)

    def replay(self, positions):
        return replay(positions)


class Squared:
    """A task whose per-example loss is the squared error, (B,)."""

    reduction = "example"

    def loss(self, output: torch.Tensor, batch: dict[str, torch.Tensor]) -> LossTerms:
        return LossTerms.per_example((output - batch["y"]).square())


TASKS = [Squared(), Squared()]


def make_batches(dtype: torch.dtype = torch.float64, n: int = 8) -> dict[int, dict]:
    g = torch.Generator().manual_seed(1)
    return {
        i: {
            "x": torch.randn(n, 3, generator=g, dtype=dtype),
            "y": torch.randn(n, generator=g, dtype=dtype),
        }
        for i in (0, 1)
    }


def closed_form(model: Toy, batches: dict[int, dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """The Jacobian (2, 4) on [w, u] and the mean losses (2,), by hand: for L = mean((z − y)²),
    ∇_w L = 2·mean((z − y)·x) and ∇_u L = 2·mean(z − y) where u is used."""
    rows, losses = [], []
    with torch.no_grad():
        for i in (0, 1):
            x, y = batches[i]["x"], batches[i]["y"]
            r = x @ model.w + model.heads[i] + (model.u if i == 0 else 0) - y  # (B,)
            du = 2 * r.mean(0, keepdim=True) if i == 0 else torch.zeros(1, dtype=r.dtype)
            rows.append(torch.cat([2 * (r[:, None] * x).mean(0), du]))
            losses.append(r.square().mean())
    return torch.stack(rows), torch.stack(losses)


def test_jacobian_and_cosine_match_the_closed_form():
    model, batches = Toy(), make_batches()
    jacobian = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
    expected, _ = closed_form(model, batches)
    torch.testing.assert_close(jacobian, expected)
    a, b = expected
    cos = (a @ b / (a.norm() * b.norm())).item()
    torch.testing.assert_close(
        gradient_cosine(jacobian), torch.tensor([[1.0, cos], [cos, 1.0]], dtype=torch.float64)
    )


def test_a_task_that_does_not_use_a_shared_parameter_has_zeros_there():
    model, batches = Toy(), make_batches()
    jacobian = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
    assert jacobian.shape == (2, 4)
    assert jacobian[1, 3] == 0 and jacobian[0, 3] != 0  # u: used by task 0 only
    assert (jacobian[:, :3] != 0).all()


def test_cosine_of_an_all_zero_row_is_zero():
    cos = gradient_cosine(torch.tensor([[1.0, 2.0], [0.0, 0.0], [-2.0, -4.0]]))
    expected = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]])
    torch.testing.assert_close(cos, expected.double())


def test_affinity_is_first_order_lr_times_gradient_products_over_the_loss():
    """For a small lr, Z[i, j] ≈ lr·g_i·g_j / L_j (Taylor): a self-affinity is positive, and
    dividing by L_j (the target's loss, not the source's) fixes which index is which."""
    model, batches = Toy(), make_batches()
    shared = model.shared()
    jacobian = task_gradients(model, TASKS, batches, shared, SINGLE)
    lr = 1e-5
    z = lookahead_affinity(model, TASKS, batches, shared, jacobian, lr, SINGLE)
    grads, losses = closed_form(model, batches)
    assert not torch.isclose(losses[0], losses[1], rtol=0.1)  # else i/j swaps go unnoticed
    torch.testing.assert_close(z, lr * (grads @ grads.T) / losses, rtol=1e-3, atol=0.0)
    assert (z.diagonal() > 0).all()


def test_a_step_on_a_task_lowers_its_own_loss_at_a_practical_lr():
    model, batches = Toy(), make_batches()
    jacobian = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
    z = lookahead_affinity(model, TASKS, batches, model.shared(), jacobian, 0.05, SINGLE)
    assert (z.diagonal() > 0).all()


def test_opposite_targets_on_a_shared_parameter_hurt_each_other():
    model = Toy()
    with torch.no_grad():
        model.w.zero_()
        model.u.zero_()
        for h in model.heads:
            h.zero_()
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    target = x.sum(1)
    batches = {0: {"x": x, "y": target}, 1: {"x": x, "y": -target}}
    shared = [model.w]  # the one both tasks use
    jacobian = task_gradients(model, TASKS, batches, shared, SINGLE)
    z = lookahead_affinity(model, TASKS, batches, shared, jacobian, 0.05, SINGLE)
    assert gradient_cosine(jacobian)[0, 1] == pytest.approx(-1.0)
    assert z[0, 1] < 0 and z[1, 0] < 0
    assert z[0, 0] > 0 and z[1, 1] > 0


@pytest.mark.parametrize("training", [True, False])
def test_probes_leave_parameters_grads_rng_and_mode_untouched(training):
    """With dropout in the forward, a buffer the forward updates, float32 weights (where stepping
    back would round) and set ``.grad`` fields: parameters, buffers and gradients are bit-identical
    afterwards and the global RNG has not moved."""
    torch.manual_seed(123)
    model = Toy(torch.float32, dropout=0.5).train(training)
    batches = make_batches(torch.float32)
    shared = model.shared()
    with torch.no_grad():  # small next to lr·g, so w − lr·g + lr·g rounds away their low digits
        model.w.copy_(torch.tensor([1.1e-3, 0.0371, -0.0293]))
    model.w.grad = torch.full_like(model.w, 7.0)
    model.seen.fill_(5)
    state = {name: t.clone() for name, t in model.state_dict().items()}
    rng = torch.get_rng_state()

    jacobian = task_gradients(model, TASKS, batches, shared, SINGLE)
    z = lookahead_affinity(model, TASKS, batches, shared, jacobian, 0.3, SINGLE)

    w, g = state["w"], 0.3 * jacobian[-1, :3]
    assert not torch.equal(w - g + g, w)  # so undoing the last lookahead by a step would show
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training is training
    for name, t in model.state_dict().items():
        assert torch.equal(t, state[name]), name
    assert torch.equal(model.w.grad, torch.full_like(model.w, 7.0))
    assert all(p.grad is None for name, p in model.named_parameters() if name != "w")
    # the same seed every time: dropout masks repeat, so the probes are deterministic
    torch.testing.assert_close(
        task_gradients(model, TASKS, batches, shared, SINGLE), jacobian, rtol=0, atol=0
    )
    again = lookahead_affinity(model, TASKS, batches, shared, jacobian, 0.3, SINGLE)
    torch.testing.assert_close(again, z, rtol=0, atol=0)


def test_probes_do_not_depend_on_the_training_rng():
    """Every probe forward draws its dropout mask from the fixed seed, not from the caller's RNG."""
    model, batches = Toy(torch.float32, dropout=0.5), make_batches(torch.float32)
    results = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        jacobian = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
        z = lookahead_affinity(model, TASKS, batches, model.shared(), jacobian, 0.1, SINGLE)
        results.append((jacobian, z))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


class Sampling(Toy):
    """The toy with each row scaled by a per-row random draw, as gates and routes are drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.draws = RowDraws()

    def forward(self, i: int, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        scale = self.draws("uniform", len(batch["x"]), 1).double()  # (B, 1)
        return super().forward(i, batch | {"x": batch["x"] * scale})


def test_every_lookahead_sees_the_same_per_row_draws():
    """A step of size 0 changes no loss, so every affinity is 0 — only if the loss before and
    after each lookahead is measured with the same gates (else it is sampling noise)."""
    model, batches = Sampling(), make_batches()
    jacobian = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
    z = lookahead_affinity(model, TASKS, batches, model.shared(), jacobian, 0.0, SINGLE)
    assert torch.equal(z, torch.zeros(2, 2, dtype=z.dtype))
    assert model.draws.count == 0  # and the run's stream has not moved


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_the_cuda_rng_is_forked_too():
    device = torch.device("cuda")
    model = Toy(torch.float32, dropout=0.5).to(device)
    batches = {
        i: {k: v.to(device) for k, v in b.items()} for i, b in make_batches(torch.float32).items()
    }
    rng = torch.cuda.get_rng_state(device)
    jacobian = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
    z = lookahead_affinity(model, TASKS, batches, model.shared(), jacobian, 0.1, SINGLE)
    assert torch.equal(torch.cuda.get_rng_state(device), rng)
    torch.cuda.manual_seed(7)  # the probes draw from their own seed, not from this one
    again = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
    torch.testing.assert_close(again, jacobian, rtol=0, atol=0)
    assert z.device == device


def test_a_jacobian_of_the_wrong_shape_is_refused():
    model, batches = Toy(), make_batches()
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        lookahead_affinity(model, TASKS, batches, model.shared(), torch.zeros(2, 3), 0.1, SINGLE)


def _two_process_worker(rank: int, init: str, global_jacobian: torch.Tensor, out: str) -> None:
    """One of two processes (gloo, CPU): the Jacobian from half of every batch each, and the
    affinity of the one-process Jacobian from uneven parts (5 and 3 of 8 examples)."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        model, batches, procs = Toy(), make_batches(), Processes(rank, 2, rank)
        half = {i: {k: v.chunk(2)[rank] for k, v in b.items()} for i, b in batches.items()}
        uneven = {i: {k: v.split([5, 3])[rank] for k, v in b.items()} for i, b in batches.items()}
        jacobian = task_gradients(model, TASKS, half, model.shared(), procs)
        z = lookahead_affinity(model, TASKS, uneven, model.shared(), global_jacobian, 0.05, procs)
        if rank == 0:
            torch.save({"jacobian": jacobian, "affinity": z}, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_match_one_process_on_the_global_batch(tmp_path):
    model, batches = Toy(), make_batches()
    jacobian = task_gradients(model, TASKS, batches, model.shared(), SINGLE)
    z = lookahead_affinity(model, TASKS, batches, model.shared(), jacobian, 0.05, SINGLE)
    out = tmp_path / "two.pt"
    init = f"file://{tmp_path / 'store'}"
    mp.spawn(_two_process_worker, args=(init, jacobian, str(out)), nprocs=2, join=True)
    two = torch.load(out)
    torch.testing.assert_close(two["jacobian"], jacobian)
    torch.testing.assert_close(two["affinity"], z)
