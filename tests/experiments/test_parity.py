"""The parity benchmark end to end at the smoke budget: both settings × every architecture train
and the table and figure it promises are written."""

from sharedspace.experiments import RunOptions
from sharedspace.experiments.parity import SETTINGS, VARIANTS, reproduce_parity
from sharedspace.tables import read_table_csv


def test_smoke_benchmark_tabulates_both_settings(tmp_path):
    md = reproduce_parity(RunOptions("smoke", out_dir=str(tmp_path)))
    rows = read_table_csv(md.with_suffix(".csv"))
    expected = [(s, a) for s, _ in SETTINGS.values() for a in (v.label for v in VARIANTS.values())]
    assert [(r["Tasks"], r["Architecture"]) for r in rows] == expected
    assert all(0 <= r["n = 64"] <= 1 for r in rows)
    study = tmp_path / "parity-smoke"
    paired = read_table_csv(study / "paired.csv")
    assert [(r["Tasks"], r["Architecture"]) for r in paired] == [
        (s, a) for s, a in expected if a != VARIANTS["single"].label
    ]
    assert all(r["n = 64 ahead"] in ("0/1", "1/1") for r in paired)
    assert (study / "accuracy_vs_size.png").stat().st_size > 0
    assert (study / "shared-cross_stitch-n64-seed0" / "model.safetensors").exists()
