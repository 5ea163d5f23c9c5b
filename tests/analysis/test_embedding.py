"""The PCA figure is a real PNG and reports sensible explained-variance ratios."""

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from sharedspace.analysis.embedding import pca_figure


def embeddings(n: int = 60, d: int = 8) -> tuple[np.ndarray, list[str], list[str]]:
    """Two modalities offset along one axis, three tasks: enough structure for PC1 to dominate."""
    rng = np.random.default_rng(0)
    modality = ["image" if i % 2 else "text" for i in range(n)]
    task = [("classify", "reconstruct", "lm")[i % 3] for i in range(n)]
    vectors = rng.normal(size=(n, d)) * np.linspace(2.0, 0.5, d)
    vectors[:, 0] += np.where(np.array(modality) == "image", 5.0, -5.0)
    return vectors, modality, task


def test_writes_a_two_panel_png(tmp_path: Path) -> None:
    vectors, modality, task = embeddings()
    path = tmp_path / "figures" / "pca.png"
    pca_figure(vectors, modality, task, path, title="shared space")
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert 300 <= height <= 1000 and width > 1.5 * height  # two panels side by side
    assert image.std() > 0.05  # not blank


def test_ratios_in_unit_interval_and_decreasing(tmp_path: Path) -> None:
    vectors, modality, task = embeddings()
    ratios = pca_figure(vectors, modality, task, tmp_path / "pca.png")
    assert ratios.shape == (2,)
    assert np.all((ratios > 0) & (ratios <= 1))
    assert ratios[0] >= ratios[1]
    assert ratios.sum() <= 1 + 1e-9
    assert ratios[0] > 0.5  # the modality offset dominates


def test_many_tasks_still_draw(tmp_path: Path) -> None:
    vectors, modality, _ = embeddings(n=48)
    pca_figure(vectors, modality, [f"task{i % 24}" for i in range(48)], tmp_path / "pca.png")
    assert (tmp_path / "pca.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("shape", "labels", "match"),
    [((10,), 10, "shape"), ((1, 4), 1, "shape"), ((10, 4), 9, "one modality and one task")],
)
def test_bad_input_is_refused(tmp_path: Path, shape: tuple, labels: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pca_figure(np.zeros(shape), ["m"] * labels, ["t"] * labels, tmp_path / "pca.png")
    assert not (tmp_path / "pca.png").exists()
