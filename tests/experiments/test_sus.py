"""The SUS table end to end at the smoke budget, on the tiny data in the real formats."""

import pytest

from sharedspace.errors import ConfigError
from sharedspace.experiments import RunOptions
from sharedspace.experiments.sus import SETTINGS, reproduce_sus, setting_configs
from sharedspace.tables import read_table_csv
from tests.tiny import tiny_config

# the README's CIFAR-10 + WikiText-2 command
OTHER_DATA = [
    "tasks.classification.data.source=cifar10",
    "tasks.reconstruction.data.source=cifar10",
    "tasks.next_word.data.source=wikitext2",
]


def test_a_task_override_goes_to_the_settings_that_have_the_task():
    configs = setting_configs(list(SETTINGS), "default", "runs", None, OTHER_DATA)
    assert configs["classification"].tasks["classification"].data.name == "cifar10"
    assert list(configs["classification"].tasks) == ["classification"]
    assert configs["next_word"].tasks["next_word"].data.name == "wikitext2"
    assert configs["all_three"].tasks["reconstruction"].data.name == "cifar10"
    with pytest.raises(ConfigError, match="no configuration has task 'clasification'"):
        setting_configs(list(SETTINGS), "default", "runs", None, ["tasks.clasification.kind=x"])


@pytest.mark.slow
def test_smoke_table_has_every_configuration_and_figure(tiny_data_dir, tmp_path):
    md = reproduce_sus(RunOptions("smoke", str(tiny_data_dir), str(tmp_path)))
    rows = read_table_csv(md.with_suffix(".csv"))
    assert [r["Configuration"] for r in rows] == list(SETTINGS.values())
    by_name = dict(zip(SETTINGS, rows, strict=True))
    assert by_name["classification"]["Accuracy"] is not None
    assert by_name["classification"]["Perplexity"] is None
    assert by_name["next_word"]["Perplexity"] > 1
    assert by_name["all_three"]["MSE per pixel, 0–255"] == pytest.approx(
        by_name["all_three"]["MSE per pixel, 0–1"] * 255**2
    )
    for setting in SETTINGS:
        run = tmp_path / "sus-smoke" / setting
        assert (run / "space_pca.png").exists()
        has_reconstruction = setting not in ("classification", "next_word")
        assert (run / "task-reconstruction.png").exists() == has_reconstruction
    assert "| Configuration |" in md.read_text()

    # the finished runs' resume checkpoints are pruned; the study resumes from what is left
    for setting in SETTINGS:
        run = tmp_path / "sus-smoke" / setting
        assert not (run / "checkpoints").exists() and (run / "model.safetensors").is_file()
    table = md.read_text()
    again = reproduce_sus(RunOptions("smoke", str(tiny_data_dir), str(tmp_path), resume=True))
    assert again.read_text() == table  # the stored results, not trained again


def test_keep_checkpoints_keeps_them(tiny_data_dir, tmp_path):
    run = RunOptions("smoke", str(tiny_data_dir), str(tmp_path), keep_checkpoints=True)
    result = run.train(tiny_config(tiny_data_dir, tmp_path, max_steps=2))
    assert list((result.run_dir / "checkpoints").glob("step_*.pt"))
