"""The task-discovery study end to end at the smoke budget: every table and figure it promises."""

from sharedspace.experiments import RunOptions
from sharedspace.experiments.discovery import INPUTS, PLANS, reproduce_discovery
from sharedspace.tables import read_table_csv


def test_smoke_study_writes_every_table_and_figure(tiny_data_dir, tmp_path):
    md = reproduce_discovery(RunOptions("smoke", str(tiny_data_dir), str(tmp_path)))
    study = tmp_path / "discovery-smoke"
    plan = PLANS["smoke"]
    rows = read_table_csv(md.with_suffix(".csv"))
    assert [r["value"] for r in rows] == [*plan.fractions, *plan.ratios, *plan.ratios]
    assert all(r["labellings"] == plan.count for r in rows)
    sanity = read_table_csv(study / "sanity.csv")
    assert [r["labellings"] for r in sanity] == ["class splits", "random labellings"]
    assert all(r["count"] == plan.sanity and 0 <= r["agreement mean"] <= 1 for r in sanity)
    assert [r["N"] for r in read_table_csv(study / "reduction.csv")] == [20, 20]
    assert [r["input"] for r in read_table_csv(study / "inputs.csv")] == list(INPUTS)
    for name in ("sanity.png", "learnability.png", "search/results.md", "search/trace.png"):
        assert (study / name).stat().st_size > 0, name
