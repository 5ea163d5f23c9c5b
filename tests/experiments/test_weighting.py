"""The weighting study end to end at the smoke budget, on the tiny data in the real formats."""

import pytest

from sharedspace.experiments import RunOptions
from sharedspace.experiments.weighting import delta_m, reproduce_weighting
from sharedspace.tables import read_table_csv


def test_delta_m_is_the_sign_corrected_mean_relative_change():
    single = {"classification": 0.8, "reconstruction": 0.02, "next_word": 100.0}
    joint = {"classification": 0.88, "reconstruction": 0.03, "next_word": 90.0}
    # accuracy +10 %, MSE +50 % (worse: −50), perplexity −10 % (better: +10) → mean −10 %
    assert delta_m(joint, single) == pytest.approx(-10.0)
    assert delta_m(single, single) == 0.0


@pytest.mark.slow
def test_smoke_study_tabulates_each_method_against_single_task(tiny_data_dir, tmp_path):
    run = RunOptions("smoke", str(tiny_data_dir), str(tmp_path))
    md = reproduce_weighting(run, methods=["equal", "pcgrad"])
    rows = read_table_csv(md.with_suffix(".csv"))
    assert [r["Method"] for r in rows] == ["single-task", "equal", "pcgrad"]
    study = tmp_path / "weighting-smoke"
    assert 0 <= rows[0]["Accuracy"] <= 1 and rows[0]["MSE per pixel, 0–1"] > 0
    for row in rows[1:]:
        assert isinstance(row["Every task ≥ single"], bool)
        assert row["Δm%"] == pytest.approx(
            100 / 3 * (
                (row["Accuracy"] - rows[0]["Accuracy"]) / rows[0]["Accuracy"]
                - (row["MSE per pixel, 0–1"] - rows[0]["MSE per pixel, 0–1"])
                / rows[0]["MSE per pixel, 0–1"]
                - (row["Perplexity"] - rows[0]["Perplexity"]) / rows[0]["Perplexity"]
            )
        )  # fmt: skip
        assert (study / f"transfer-{row['Method']}.png").stat().st_size > 0
        assert (study / f"{row['Method']}-seed0" / "metrics.jsonl").exists()
