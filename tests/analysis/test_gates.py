"""Gate maps and size curves: the task–task correlation is Pearson's over experts, and the
figures are written."""

import numpy as np

from sharedspace.analysis.gates import gates_figure, task_correlation
from sharedspace.analysis.scaling import metric_vs_size_figure


def test_tasks_that_prefer_the_same_experts_correlate():
    p = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.5], [0.1, 0.9, 0.5], [0.5, 0.5, 0.5]])
    corr = task_correlation(p)
    assert abs(corr[0, 1] - 1) < 1e-12  # the same preferences, shifted
    assert abs(corr[0, 2] + 1) < 1e-12  # opposite preferences
    assert corr[3, 0] == 0 and corr[3, 3] == 1  # no preference: uncorrelated
    np.testing.assert_allclose(corr[:3, :3], np.corrcoef(p[:3]))


def test_the_figures_are_written(tmp_path):
    gates_figure(np.random.default_rng(0).random((10, 8)), [f"t{i}" for i in range(10)],
                 tmp_path / "g.png", title="gates")  # fmt: skip
    series = {"a": ([250, 1000], [0.8, 0.9], [0.01, float("nan")]), "b": ([250], [0.7], [0.02])}
    metric_vs_size_figure({"one": series, "two": series}, tmp_path / "s.png", "accuracy")
    assert (tmp_path / "g.png").stat().st_size > 10_000 and (tmp_path / "s.png").stat().st_size > 0
