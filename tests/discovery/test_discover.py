import json

import pytest

from sharedspace.discovery import discover as discover_module
from sharedspace.discovery.discover import STATE, DiscoverConfig, discover
from sharedspace.discovery.search import Search
from sharedspace.errors import Interrupted, SharedSpaceError
from tests.data.data_formats import write_cifar10
from tests.test_cli import run_cli

SMALL = [
    "images=20",
    "probe=40",
    "features={channels: 3, size: 4, width: 8, blocks: 1}",
    "score.net={channels: [4, 8], hidden: [16, 8]}",
    "score.train.epochs=3",
    "search.budget=8",
    "search.batch=4",
]


def settings(data_dir, tmp_path, *extra) -> list[str]:
    return [*SMALL, f"data_dir={data_dir}", f"out_dir={tmp_path}", *extra]


def config(data_dir, tmp_path, *extra) -> DiscoverConfig:
    from sharedspace.config import from_dict
    from sharedspace.overrides import read_config

    return from_dict(DiscoverConfig, read_config(None, settings(data_dir, tmp_path, *extra)))


def trace(run_dir) -> list:
    return json.loads((run_dir / STATE).read_text())["traces"]


def test_the_cli_writes_results_figures_and_the_search_state(capsys, tiny_data_dir, tmp_path):
    status, out, err = run_cli(capsys, "discover", *settings(tiny_data_dir, tmp_path, "tasks=2"))
    assert status == 0, err
    run_dir = tmp_path / "discover"
    assert "| 1 | TwoPointsDE | 1 |" in out and "| 2 | RandomSearch | 1 |" in out
    assert "| 3 | TwoPointsDE | 2 |" in out
    for name in ("results.md", "trace.png", "task_1.png", "task_2.png"):
        assert (run_dir / name).stat().st_size > 0, name
    traces = trace(run_dir)
    assert [len(t) for t in traces] == [8, 8, 8]
    assert all(r["overlap"] == 0 for t in traces[:2] for r in t)  # nothing found before task 1
    assert any(r["overlap"] > 0 for r in traces[2])  # task 2 is measured against task 1
    status, _, err = run_cli(capsys, "discover", *settings(tiny_data_dir, tmp_path, "tasks=2"))
    assert status == 2 and "already holds a run; pass --resume" in err  # never overwritten


def test_too_many_images_is_refused_before_a_run_folder_is_made(capsys, tiny_data_dir, tmp_path):
    status, _, err = run_cli(capsys, "discover", *settings(tiny_data_dir, tmp_path, "images=10000"))
    assert status == 2 and "10040 images (40 of them the probe)" in err
    assert not (tmp_path / "discover").exists()


def test_an_interrupted_search_resumes_where_it_stopped(tiny_data_dir, tmp_path, monkeypatch):
    whole = trace(discover(config(tiny_data_dir, tmp_path / "a"), progress=False))
    real, calls = Search.step, []

    def step(self, evaluate):  # Ctrl-C while the third batch (the baseline's first) is scored
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, evaluate)

    monkeypatch.setattr(Search, "step", step)
    cfg = config(tiny_data_dir, tmp_path / "b")
    with pytest.raises(Interrupted, match="stopped after 8 of 16 labellings"):
        discover(cfg, progress=False)
    assert [len(t) for t in trace(tmp_path / "b" / "discover")] == [8]  # saved per batch
    monkeypatch.undo()
    resumed = trace(discover(cfg, resume=True, progress=False))
    assert resumed == whole  # the same candidates, the same scores: nothing lost or redone


def test_resuming_with_other_settings_is_refused(tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(discover_module, "_write_results", lambda *args: None)
    discover(config(tiny_data_dir, tmp_path), progress=False)
    with pytest.raises(SharedSpaceError, match=r"saved with other settings \(ratio\)"):
        discover(config(tiny_data_dir, tmp_path, "ratio=3"), resume=True, progress=False)


def test_cifar10_colour_images_are_searched_too(tmp_path):
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=30)  # 150 train images
    cfg = config(tmp_path / "data", tmp_path, "dataset=cifar10", "features=null")
    run_dir = discover(cfg, progress=False)
    assert [len(t) for t in trace(run_dir)] == [8, 8]
    assert (run_dir / "task_1.png").stat().st_size > 0
