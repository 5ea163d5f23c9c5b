"""The self-supervised study end to end at the smoke budget, on a user's cutouts: every arm in
both regimes, the learned candidates, the tables with paired differences."""

import pytest

from sharedspace.config import load_yaml
from sharedspace.experiments import RunOptions
from sharedspace.experiments.self_supervised import (
    ARMS,
    CONFIG,
    REGIMES,
    arm_config,
    reproduce_self_supervised,
)
from sharedspace.tables import read_table_csv
from tests.data.cutout_files import write_cutouts

CUTOUTS = [f"tasks.{t}.data.source=object_cutouts" for t in ("detect", *ARMS["all"][1])]


def test_an_arm_keeps_its_tasks_their_branch_and_the_regimes_labels():
    base = load_yaml(CONFIG)
    raw = arm_config(base, "motion", "labelled10", "fixed", 2)
    assert list(raw["tasks"]) == ["detect", "angle", "distance"] and raw["seed"] == 2
    assert raw["tasks"]["detect"]["data"]["train_size"] == 800  # 10 % of 8,000 scenes
    assert "train_size" not in raw["tasks"]["angle"]["data"]  # the aux tasks read every scene
    assert raw["model"]["space"]["groups"] == {"aux": ["angle", "distance"]}
    assert raw["train"]["weighting"]["weights"] == {"detect": 1.0, "angle": 0.1, "distance": 0.1}
    alone = arm_config(base, "none", "labelled100", "famo", 0)
    assert list(alone["tasks"]) == ["detect"] and alone["model"]["space"]["groups"] == {}
    assert alone["train"]["weighting"] == "famo" and "train_size" not in alone["tasks"]["detect"]
    assert "rotation" in base["tasks"]  # the config itself is left as it was


@pytest.mark.slow
def test_smoke_study_tabulates_each_arm_against_detection_alone(tmp_path):
    data_dir = write_cutouts(tmp_path / "objects")
    run = RunOptions("smoke", str(data_dir), str(tmp_path), overrides=CUTOUTS)
    md = reproduce_self_supervised(run, arms=["colour"])
    rows = read_table_csv(md.with_suffix(".csv"))
    assert [r["Arm"] for r in rows] == ["detection alone", "+ colorization", "+ all four"]
    for regime, _ in REGIMES.values():
        assert 0 <= rows[0][f"AP, {regime}"] <= 1 and rows[0][f"Δ AP, {regime}"] is None
        for row in rows[1:]:
            assert row[f"Δ AP, {regime}"] == pytest.approx(
                row[f"AP, {regime}"] - rows[0][f"AP, {regime}"]
            )  # one seed: the paired difference is the difference
    learned = read_table_csv(md.with_name("learned.csv"))
    assert [r["Arm"] for r in learned] == ["+ all four"]
    study = tmp_path / "self_supervised-smoke"
    assert (study / "all-labelled10-famo-seed0" / "metrics.jsonl").exists()
