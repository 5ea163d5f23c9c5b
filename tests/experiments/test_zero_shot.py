"""The zero-shot study end to end at the smoke budget, on the tiny Fashion-MNIST in its format:
the encoder, its exported features, every TFG variant and both baselines, tables and figures."""

import pytest

from sharedspace.experiments import RunOptions
from sharedspace.experiments.zero_shot import BASELINES, VARIANTS, reproduce_zero_shot
from sharedspace.tables import read_table_csv


@pytest.mark.slow
def test_smoke_study_has_every_method_table_and_figure(tiny_data_dir, tmp_path):
    md = reproduce_zero_shot(RunOptions("smoke", str(tiny_data_dir), str(tmp_path)))
    folder = tmp_path / "zero_shot-smoke"
    rows = read_table_csv(md.with_suffix(".csv"))
    assert [r["Method"] for r in rows] == [*VARIANTS.values(), *BASELINES.values()]
    assert all(0 <= r["Unseen top-1, test"] <= 1 for r in rows)
    general = read_table_csv(folder / "generalised.csv")
    assert len(general) == len(rows) * 2 * 3  # methods × splits × top-1/2/3
    assert all(r["HM"] <= max(r["Seen"], r["Unseen"]) + 1e-9 for r in general)
    assert (folder / "encoder" / "features" / "features.safetensors").is_file()
    assert (folder / "noise.png").is_file()
    for conditioning in VARIANTS:
        assert (folder / f"{conditioning}-seed0" / "task-pairs.png").is_file()
    # resumed, the finished study trains nothing again and writes the same table
    again = reproduce_zero_shot(RunOptions("smoke", str(tiny_data_dir), str(tmp_path), resume=True))
    assert read_table_csv(again.with_suffix(".csv")) == rows
