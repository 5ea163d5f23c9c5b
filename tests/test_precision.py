"""Mixed precision's parts: autocast reaches the model's layers but not its outputs or the
losses, the noisy top-k gate stays float32, and auto picks bf16 only where it is faster."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from sharedspace import precision
from sharedspace.model import build_model
from sharedspace.precision import pick_precision, to_float32
from sharedspace.spaces.moe import NoisyTopKGate
from sharedspace.tasks import build_tasks
from tests.tiny import tiny_config


@dataclass
class Pair:
    a: torch.Tensor
    rest: dict


def test_to_float32_reaches_tensors_inside_containers_and_dataclasses():
    half = torch.ones(2, dtype=torch.bfloat16)
    ids = torch.arange(3)
    value = Pair(half, {"x": [half.half(), (half,)], "ids": ids, "name": "n"})
    out = to_float32(value)
    assert out.a.dtype == torch.float32
    assert out.rest["x"][0].dtype == torch.float32 and out.rest["x"][1][0].dtype == torch.float32
    assert out.rest["ids"] is ids and out.rest["name"] == "n"  # integers and the rest as they were


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_reaches_the_layers_not_the_outputs_nor_the_loss(tiny_data_dir, tmp_path, dtype):
    cfg = tiny_config(tiny_data_dir, tmp_path, tasks=("classification", "next_word"))
    tasks = build_tasks(cfg)
    model = build_model(cfg, tasks)
    model.compute_dtype = dtype
    seen = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.dtype))
    for task in tasks:
        batch = task.data.splits["train"].get(torch.arange(8))
        output, _ = model(task.index, batch)
        assert output.dtype == torch.float32
        assert task.loss(output, batch).losses().dtype == torch.float32
    assert seen and set(seen.values()) == {dtype}, seen  # every matmul of the model ran in dtype
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
    z, _ = model.embed(0, tasks[0].data.splits["train"].get(torch.arange(8)))
    assert z.dtype == torch.float32


def test_the_noisy_top_k_gate_computes_in_float32_under_autocast():
    gate = NoisyTopKGate(8, experts=4, k=2).eval()  # no noise: two calls comparable
    nn.init.normal_(gate.w_gate[0])
    x = torch.randn(16, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ids, weights, importance, load = gate(x.bfloat16())
    assert weights.dtype == importance.dtype == load.dtype == torch.float32
    reference = gate(x.bfloat16().float())  # the same rows, outside autocast
    assert torch.equal(ids, reference[0])
    torch.testing.assert_close(weights, reference[1])


def test_auto_takes_bf16_only_where_it_is_measured_faster(monkeypatch):
    cpu = torch.device("cpu")
    assert pick_precision("fp16", cpu) == "fp16"  # a named precision is taken as it is
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: False)
    monkeypatch.setattr(precision, "gemm_rates", lambda *a, **k: pytest.fail("measured"))
    assert pick_precision("auto", cpu) == "fp32"  # emulated bf16: not even timed
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: True)
    for bf16, chosen in ((3.5e11, "bf16"), (1.1e11, "fp32")):
        rates = {"fp32": 1e11, "bf16": bf16}
        monkeypatch.setattr(precision, "gemm_rates", lambda *a, rates=rates, **k: rates)
        assert pick_precision("auto", cpu) == chosen


def test_gemm_rates_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    rates = precision.gemm_rates(torch.device("cpu"), n=64, repeats=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert set(rates) == {"fp32", "bf16"} and min(rates.values()) > 0
