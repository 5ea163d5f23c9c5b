"""Colorization: grey is the luma in every channel, the target the colours at 1/f of the
resolution, the grey scenes are the detection task's pictures read by its image cap unchanged and
without a box; hypercolumns join every stage; the cap and head overfit a few scenes."""

import pytest
import torch

from sharedspace.config import from_dict
from sharedspace.data.specs import ImageSpec
from sharedspace.errors import ConfigError
from sharedspace.modalities.resnet import ImageResNet
from sharedspace.tasks.colorization import Colorization
from sharedspace.tasks.scene_data import GreySplit, SceneColours, Scenes, grey
from tests.data.cutout_files import write_cutouts

FIELDS = {"scenes": 12, "eval_scenes": 4, "size": 32}
SMALL = {"stem": 8, "channels": [8, 16], "blocks": [1, 1], "strides": [1, 2]}


def test_grey_is_the_luma_in_every_channel():
    pixels = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], dtype=torch.uint8)
    images = pixels.T.reshape(1, 3, 2, 2)  # four pixels, one of each colour
    expected = torch.tensor([76, 150, 29, 18], dtype=torch.uint8)  # round(.299 R + .587 G + .114 B)
    assert torch.equal(grey(images), expected.reshape(1, 1, 2, 2).expand(1, 3, 2, 2))


def test_a_grey_split_gives_grey_inputs_and_the_mean_colour_of_each_block():
    images = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    batch = GreySplit(images, 4).get(torch.tensor([2, 0]))
    assert set(batch) == {"x", "y"} and torch.equal(batch["x"], grey(images[[2, 0]]))
    assert batch["y"].shape == (2, 3, 2, 2) and batch["y"].dtype == torch.float32
    block = images[2, :, 4:, :4].double().mean((1, 2)) / 255  # bottom-left 4 × 4 of image 2
    torch.testing.assert_close(batch["y"][0, :, 1, 0].double(), block)


def test_the_grey_scenes_are_the_detection_scenes_without_their_boxes(tmp_path):
    data_dir = str(write_cutouts(tmp_path))
    boxes = Scenes.prepare("object_cutouts", from_dict(Scenes.Config, FIELDS), data_dir, 3, "t", {})
    colours = SceneColours.prepare(
        "object_cutouts",
        from_dict(SceneColours.Config, {**FIELDS, "downscale": 4}),
        data_dir,
        3,
        "t",
        {},
    )
    assert colours.spec == boxes.spec  # the colour scenes' statistics: one image cap for both
    assert colours.target.shape == (3, 8, 8)
    for split in ("train", "validation", "test"):
        pictures = boxes.splits[split].images
        batch = colours.splits[split].get(torch.arange(len(pictures)))
        assert set(batch) == {"x", "y"} and torch.equal(batch["x"], grey(pictures))
        pooled = torch.nn.functional.avg_pool2d(pictures.float() / 255, 4)
        torch.testing.assert_close(batch["y"], pooled)


def test_the_target_resolution_must_divide_the_scenes():
    with pytest.raises(ConfigError, match=r"downscale: expected a divisor of size \(32\), got 5"):
        from_dict(SceneColours.Config, {**FIELDS, "downscale": 5})
    with pytest.raises(ConfigError, match="downscale"):
        from_dict(SceneColours.Config, {**FIELDS, "downscale": 0})


def test_a_hypercolumn_joins_the_stem_and_every_stage_at_the_last_stages_cells():
    spec = ImageSpec.toy()  # 32 px, 3 channels
    torch.manual_seed(0)
    cap = ImageResNet(from_dict(ImageResNet.Config, {**SMALL, "hypercolumn": True}), 12, spec)
    x = spec.example(2)["x"]
    z = cap(x)
    assert z.shape == (2, 12, 8, 8) and cap.proj.in_channels == 8 + 8 + 16
    z.square().mean().backward()
    missing = [n for n, p in cap.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing
    # the stem's features reach the map directly, not only through the stages
    plain = ImageResNet(from_dict(ImageResNet.Config, SMALL), 12, spec)
    assert plain.proj.in_channels == 16


@pytest.mark.slow
def test_the_cap_and_head_overfit_the_colours_of_a_few_scenes(tmp_path):
    data_dir = str(write_cutouts(tmp_path))
    cfg = from_dict(SceneColours.Config, {**FIELDS, "scenes": 8})
    data = SceneColours.prepare("object_cutouts", cfg, data_dir, 0, "t", {})
    task = Colorization("colour", 0, "image", from_dict(Colorization.Config, {}), data)
    torch.manual_seed(0)
    cap_cfg = from_dict(ImageResNet.Config, {**SMALL, "hypercolumn": True})
    cap, head = ImageResNet(cap_cfg, 32, data.spec), task.build_head(32)
    batch = data.splits["train"].get(torch.arange(8))
    params = [*cap.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    # the loss of predicting each scene's mean colour everywhere: what grey alone cannot beat
    flat = batch["y"].mean((2, 3), keepdim=True).expand_as(batch["y"])
    baseline = (flat - batch["y"]).square().mean()
    for _ in range(300):
        loss = task.loss(head(cap(batch["x"]), batch), batch).mean("example")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss < 0.1 * baseline
