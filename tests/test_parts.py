"""The part protocol: aux losses emitted from any module (summed per name, declared names only,
cleared when collected) and per-task parameters kept as one Parameter per row."""

import pytest
import torch
from torch import nn

from sharedspace.parts import ParameterRows, collect, emit, emitters, split_stacked_rows


class Penalised(nn.Module):
    aux_losses = ("l2",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emit(self, "l2", x.square().mean())
        return x


def test_a_name_emitted_twice_sums_and_collecting_clears_it():
    part = Penalised()
    part(torch.tensor([1.0, 3.0]))
    part(torch.tensor([2.0]))
    assert collect([part]) == {"l2": torch.tensor(5.0 + 4.0)}
    assert collect([part]) == {}


def test_one_name_from_several_parts_sums_and_only_declaring_modules_emit():
    body = nn.Sequential(Penalised(), nn.Linear(2, 2), Penalised())
    assert emitters(body) == [body[0], body[2]]
    body(torch.ones(1, 2))
    aux = collect(emitters(body))
    expected = torch.ones(()) + body[1](torch.ones(1, 2)).square().mean()
    assert aux.keys() == {"l2"} and torch.equal(aux["l2"], expected)


def test_an_undeclared_aux_loss_is_refused_naming_the_part_and_its_names():
    with pytest.raises(
        RuntimeError,
        match=r"Penalised emitted the aux loss 'l1', which it does not declare "
        r"\(aux_losses = \('l2',\)\)",
    ):
        emit(Penalised(), "l1", torch.zeros(()))
    with pytest.raises(RuntimeError, match="Linear emitted the aux loss 'l2'"):
        emit(nn.Linear(1, 1), "l2", torch.zeros(()))


def test_parameter_rows_are_one_parameter_per_index_of_dim():
    values = torch.randn(2, 3, 4)
    rows = ParameterRows(values, dim=1)
    assert len(rows) == 3 and all(isinstance(r, nn.Parameter) for r in rows)
    assert torch.equal(rows[1], values[:, 1]) and torch.equal(rows.stacked(), values)
    rows[2].sum().backward()
    assert rows[0].grad is None and rows[2].grad is not None  # an unused row: no gradient
    assert list(rows.state_dict()) == ["0", "1", "2"]


def test_weights_saved_as_one_stacked_tensor_load_into_the_rows():
    class Owner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gates = ParameterRows(torch.zeros(3, 2, 5), dim=1)
            self.other = nn.Linear(2, 2)

    saved = torch.randn(3, 2, 5)  # (L, T, M), as one Parameter held it
    state = {
        "inner.gates": saved,
        **{f"inner.other.{k}": v for k, v in Owner().other.state_dict().items()},
    }
    holder = nn.Module()
    holder.inner = Owner()
    split_stacked_rows(holder, state)
    assert sorted(state) == [
        "inner.gates.0",
        "inner.gates.1",
        "inner.other.bias",
        "inner.other.weight",
    ]
    holder.load_state_dict(state)
    assert torch.equal(holder.inner.gates.stacked(), saved)
