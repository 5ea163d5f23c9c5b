"""benchmarks/train_throughput.py on the tiny data: each row's hand-written twin is the trainer's
model (the same parameter shapes) and both loops give a time per step."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its twin as a sibling module
    try:
        spec = importlib.util.spec_from_file_location(
            "train_throughput", BENCHMARKS / "train_throughput.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


IMAGE_TASKS = ("classification", "reconstruction")


def shapes(model: torch.nn.Module) -> list[tuple[int, ...]]:
    return sorted(tuple(p.shape) for p in model.parameters())


@pytest.mark.parametrize("label", ["classification", "all_three, sampler all"])
def test_each_rows_twin_is_the_trainers_model_and_both_give_a_step_time(
    bench, label, tiny_data_dir, tmp_path
):
    setting, extra = bench.SETTINGS[label]
    tiny = [f"tasks.{t}.data.{k}=100" for t in IMAGE_TASKS for k in ("train_size", "val_size")]
    if setting in IMAGE_TASKS:
        tiny = [o for o in tiny if o.startswith(f"tasks.{setting}.")]
    if setting == "all_three":
        tiny += ["tasks.next_word.data.vocab_size=50"]
    result, seconds = bench.trainer_run(
        setting, 8, str(tiny_data_dir), str(tmp_path), (*extra, *tiny)
    )
    twin, splits = bench.twin_of(result)
    assert shapes(twin) == shapes(result.model)
    assert len(splits) == len(result.tasks)
    twin_seconds = bench.twin_run(result, bench.trains_every_task(label), 2, "fp32")
    assert 0 < seconds < 60 and 0 < twin_seconds < 60
