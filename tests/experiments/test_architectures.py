"""The architectures benchmark end to end at the smoke budget, on the tiny data in the real
formats: every architecture trains, the tables and figures it promises are written."""

import pytest

from sharedspace.experiments import RunOptions
from sharedspace.experiments.architectures import VARIANTS, reproduce_architectures
from sharedspace.tables import read_table_csv


@pytest.mark.slow
def test_smoke_benchmark_tabulates_every_architecture(tiny_data_dir, tmp_path):
    md = reproduce_architectures(RunOptions("smoke", str(tiny_data_dir), str(tmp_path)))
    rows = read_table_csv(md.with_suffix(".csv"))
    assert [r["Architecture"] for r in rows] == [v.label for v in VARIANTS.values()]
    assert all(0 <= r["n = 64"] <= 1 for r in rows)
    study = tmp_path / "architectures-smoke"
    experts = read_table_csv(study / "experts.csv")
    mc = [v.label for v in VARIANTS.values() if v.space["name"] == "multi_clustering"]
    assert [r["Architecture"] for r in experts] == mc
    assert all(1 <= r["Experts a task uses"] <= 8 for r in experts)
    assert all(0 <= r["all 8"] <= 1 for r in experts)
    for name in ("accuracy_vs_size.png", "gates-mc0.1.png"):
        assert (study / name).stat().st_size > 0
    assert (study / "routing-n64-seed0" / "model.safetensors").exists()
