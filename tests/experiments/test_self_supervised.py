"""The self-supervised study end to end at the smoke budget, on a user's cutouts: every arm in
both regimes, the learned candidates, the tables with paired differences."""

import pytest

from sharedspace.config import load_yaml
from sharedspace.experiments import RunOptions
from sharedspace.experiments.self_supervised import (
    ARMS,
    CONFIG,
    REGIMES,
    STUDIES,
    arm_config,
    reproduce_self_supervised,
    run_configs,
)
from sharedspace.tables import read_table_csv
from tests.data.cutout_files import write_cutouts

CUTOUTS = [f"tasks.{t}.data.source=object_cutouts" for t in ("detect", *ARMS["all"][1])]


def test_an_arm_keeps_its_tasks_their_branch_and_the_regimes_labels():
    base = load_yaml(CONFIG)
    raw = arm_config(base, "motion", "labelled10", "fixed", 2)
    assert list(raw["tasks"]) == ["detect", "angle", "distance"] and raw["seed"] == 2
    assert raw["tasks"]["detect"]["data"]["train_size"] == 800  # 10 % of 8,000 scenes
    assert raw["train"]["epochs"] == 100  # 2,500 steps of 32 even on the 800 scenes alone
    assert "train_size" not in raw["tasks"]["angle"]["data"]  # the aux tasks read every scene
    assert raw["model"]["space"]["groups"] == {"aux": ["angle", "distance"]}
    assert raw["train"]["weighting"]["weights"] == {"detect": 1.0, "angle": 0.1, "distance": 0.1}
    alone = arm_config(base, "none", "labelled100", "famo", 0)
    assert list(alone["tasks"]) == ["detect"] and alone["model"]["space"]["groups"] == {}
    assert alone["train"]["weighting"] == "famo" and "train_size" not in alone["tasks"]["detect"]
    assert "rotation" in base["tasks"]  # the config itself is left as it was


def test_overrides_change_the_config_before_the_arms_and_regimes_are_cut(tmp_path):
    overrides = ["tasks.detect.data.scenes=1000", "train.max_steps=100", "train.lr=0.01"]
    run = RunOptions("default", None, str(tmp_path), overrides=overrides)
    runs = [("none", "labelled10", "fixed", 0), ("all", "labelled100", "famo", 1)]
    alone, every = run_configs(runs, STUDIES["default"], tmp_path, run).values()
    assert alone.tasks["detect"].data.config.train_size == 100  # 10 % of the 1,000 scenes
    assert alone.train.epochs == 32 and alone.train.max_steps == 100  # 100 batches of 32
    assert every.train.epochs == 4 and every.train.weighting.name == "famo"
    assert every.train.lr == alone.train.lr == 0.01
    assert list(every.tasks) == ["detect", *ARMS["all"][1]]


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
    figures = sorted(p.name for p in (study / "all-labelled10-fixed-seed0").glob("*.png"))
    drawn = ("angle", "colour", "detect", "distance")  # (rotation's classes: no figure)
    assert figures == ["space_pca.png", *(f"task-{t}.png" for t in drawn)]
