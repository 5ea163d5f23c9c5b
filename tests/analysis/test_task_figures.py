"""The figures of a run's detection, colorization and clip tasks: real PNGs that show what they
say (boxes where the detections are, colours on the input's luma, one clip of each class)."""

from pathlib import Path

import matplotlib.image
import pytest
import torch

from sharedspace.analysis.clips import clip_figure
from sharedspace.analysis.colorization import colorization_grid, on_luma
from sharedspace.analysis.detections import detection_figure
from sharedspace.layers.boxes import Detections
from sharedspace.tasks.scene_data import LUMA


def test_on_luma_keeps_the_inputs_luma_and_the_predictions_chroma():
    g = torch.Generator().manual_seed(0)
    colours = torch.rand(2, 3, 4, 4, generator=g) * 0.5 + 0.25  # no clipping below
    luma = torch.rand(2, 1, 4, 4, generator=g) * 0.2 + 0.4
    out = on_luma(colours, luma.expand(-1, 3, -1, -1))
    weights = torch.tensor(LUMA).view(1, 3, 1, 1)
    assert torch.allclose((out * weights).sum(1, keepdim=True), luma, atol=1e-6)
    assert torch.allclose(out[:, 0] - out[:, 1], colours[:, 0] - colours[:, 1], atol=1e-6)
    up = on_luma(colours[:, :, :2, :2], luma.expand(-1, 3, -1, -1))
    assert up.shape == (2, 3, 4, 4)  # a prediction at 1/2 of the resolution is upsampled


def test_colorization_grid_is_three_images_tall(tmp_path: Path):
    grey = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    path = tmp_path / "colours.png"
    colorization_grid(grey, torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8), path)
    height, width = matplotlib.image.imread(path).shape[:2]
    assert 3 * 64 <= height <= 3 * 64 + 100 and 4 * 64 <= width <= 4 * 64 + 60  # zoom 2


def _boxes_drawn(tmp_path: Path, threshold: float) -> float:
    """How far the figure of one black scene strays from black (its boxes and labels)."""
    images = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    found = Detections(
        torch.tensor([[[4.0, 4.0, 20.0, 20.0], [0.0, 0.0, 8.0, 8.0]]]),
        torch.tensor([[0.9, 0.1]]),
        torch.tensor([[1, -1]]),
    )
    truth = (torch.zeros(1, 1, 4), torch.tensor([[-1]]))
    path = tmp_path / f"det{threshold}.png"
    detection_figure(images, found, truth, ["emoji/a", "stamps/b"], path, threshold=threshold)
    return float(matplotlib.image.imread(path)[..., :3].sum())


def test_detection_figure_draws_the_detections_scored_above_its_threshold(tmp_path: Path):
    assert _boxes_drawn(tmp_path, 0.5) > _boxes_drawn(tmp_path, 0.95)


def test_clip_figure_and_its_refusals(tmp_path: Path):
    clips = torch.randint(0, 256, (3, 4, 3, 16, 16), dtype=torch.uint8)
    clip_figure(clips, ["a", "b", "c"], tmp_path / "clips.png", "t")
    assert matplotlib.image.imread(tmp_path / "clips.png").shape[0] > 3 * 100
    with pytest.raises(ValueError, match="3 labels"):
        clip_figure(clips[:2], ["a", "b", "c"], tmp_path / "x.png", "t")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        detection_figure(clips[0, 0], None, None, [], tmp_path / "x.png")
