"""Relative motion: the frames are the detection task's scenes seen by the drawn camera, each
label the exact bin of its motion, the angle and distance tasks read the same frames, the motions
of evaluation never change; the clip head joins the frames in order."""

from dataclasses import replace

import pytest
import torch

from sharedspace.config import ExperimentConfig, from_dict
from sharedspace.data.camera import bins_of, draw_motions, render_views
from sharedspace.errors import ConfigError
from sharedspace.modalities.resnet import ImageResNet
from sharedspace.model import build_model
from sharedspace.resolve import load_config
from sharedspace.tasks import build_tasks
from sharedspace.tasks.clip_classification import ClipClassification, ClipHead
from sharedspace.tasks.motion_data import MOTION_SEED, SceneMotions
from sharedspace.tasks.scene_data import EVAL_SEEDS, Scenes
from tests.data.cutout_files import write_cutouts

FIELDS = {"scenes": 12, "eval_scenes": 4, "size": 32}
ANGLES, ZOOMS = (-40, -24, -8, 8, 24, 40), (1.0, 1.15, 1.32, 1.52, 1.75)  # the default bins


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    return str(write_cutouts(tmp_path_factory.mktemp("objects")))


def motions(data_dir: str, seed: int = 3, **fields):
    cfg = from_dict(SceneMotions.Config, {**FIELDS, **fields})
    return SceneMotions.prepare("object_cutouts", cfg, data_dir, seed, "t", {})


def test_the_frames_are_the_scenes_seen_by_the_camera_and_the_labels_its_exact_bins(data_dir):
    scenes = Scenes.prepare(
        "object_cutouts", from_dict(Scenes.Config, FIELDS), data_dir, 3, "t", {}
    )
    angle, distance = motions(data_dir, label="angle"), motions(data_dir, label="distance")
    # the scenes' statistics at the frames' size: image_resnet reads both
    assert angle.spec == replace(scenes.spec, height=16, width=16) and angle.frames == 4
    assert angle.target.classes == ("-40–-24", "-24–-8", "-8–8", "8–24", "24–40")
    assert len(distance.target.classes) == 4
    for split, seed in (("train", 3), *EVAL_SEEDS.items()):
        pictures = scenes.splits[split].images
        motion, angles, zooms = draw_motions(
            len(pictures), 32, width=(0.45 * 32, 0.7 * 32), seed=seed + MOTION_SEED
        )
        everything = torch.arange(len(pictures))
        a, d = angle.splits[split].get(everything), distance.splits[split].get(everything)
        assert torch.equal(a["x"], render_views(pictures, motion, 4, 16))
        assert torch.equal(d["x"], a["x"]) and a["x"].shape == (len(pictures), 4, 3, 16, 16)
        assert torch.equal(a["y"], angles) and torch.equal(a["y"], bins_of(motion.angle, ANGLES))
        assert torch.equal(d["y"], zooms) and torch.equal(d["y"], bins_of(motion.zoom, ZOOMS))


def test_training_motions_follow_the_seed_and_evaluation_motions_never_change(data_dir):
    one, other = motions(data_dir, seed=3), motions(data_dir, seed=4)
    first = torch.arange(4)
    assert not torch.equal(
        one.splits["train"].get(first)["x"], other.splits["train"].get(first)["x"]
    )
    for split in ("validation", "test"):
        assert torch.equal(one.splits[split].get(first)["x"], other.splits[split].get(first)["x"])


def test_train_size_keeps_the_first_sequences_and_frame_size_sets_the_pixels(data_dir):
    every, few = motions(data_dir), motions(data_dir, train_size=5)
    assert len(few.splits["train"]) == 5
    assert torch.equal(few.splits["train"].inputs, every.splits["train"].inputs[:5])
    assert motions(data_dir, frame_size=24, frames=3).splits["test"].inputs.shape[1:] == (
        3, 3, 24, 24,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("width", [0.5, 0.9], r"width: expected \[low, high\] with 0 < low ≤ high ≤ 1/√2"),
        ("angle_edges", [0, 0], r"angle_edges: expected ≥ 2 increasing edges, got \[0.0, 0.0\]"),
        ("zoom_edges", [0.5, 2], "zoom_edges"),
        ("frames", 1, "frames"),
        ("label", "speed", "label"),
    ],
)
def test_the_motions_view_refuses_bad_settings_when_the_config_is_read(field, value, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(SceneMotions.Config, {**FIELDS, field: value})


def test_the_clip_head_joins_each_examples_frames_in_order():
    torch.manual_seed(0)
    head = ClipHead(8, 3, 5, 16)
    z = torch.randn(6, 8, 4, 4)  # 2 examples of 3 frames, as the model reads them: B·F maps
    logits = head(z, {})
    assert logits.shape == (2, 5)
    swapped = z.unflatten(0, (2, 3))[:, [2, 1, 0]].flatten(0, 1)  # the frames in reverse
    assert not torch.allclose(head(swapped, {}), logits)  # a turn left is not a turn right
    torch.testing.assert_close(head(z[3:], {}), logits[1:])  # examples stay apart


@pytest.mark.slow
def test_the_backbone_and_head_learn_the_turn_of_a_few_sequences(data_dir):
    """From the frames alone: 24 sequences memorised (the views never show the label)."""
    data = motions(data_dir, scenes=24)
    task = ClipClassification("angle", 0, "image", from_dict(ClipClassification.Config, {}), data)
    sizes = {"stem": 8, "channels": [8, 16], "blocks": [1, 1], "strides": [1, 2]}
    torch.manual_seed(0)
    cap = ImageResNet(from_dict(ImageResNet.Config, sizes), 16, data.spec)
    head = task.build_head(16)
    batch = data.splits["train"].get(torch.arange(24))
    optimizer = torch.optim.Adam([*cap.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(150):
        logits = head(cap(batch["x"].flatten(0, 1)), batch)
        loss = task.loss(logits, batch).mean("example")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (logits.argmax(1) == batch["y"]).float().mean() == 1


def frames_config(data_dir: str, tmp_path, space: object) -> ExperimentConfig:
    data = {**FIELDS, "view": "motions", "source": "object_cutouts"}
    return load_config(
        data={
            "name": "frames",
            "data_dir": data_dir,
            "out_dir": str(tmp_path),
            "tasks": {"turn": {"kind": "clip_classification", "modality": "image", "data": data}},
            "model": {"width": 8, "modalities": {"image": "pixels"}, "space": space},
        }
    )


def test_the_model_reads_each_frame_as_an_input_and_the_head_joins_them(data_dir, tmp_path):
    cfg = frames_config(data_dir, tmp_path, "none")
    tasks = build_tasks(cfg)
    model = build_model(cfg, tasks)
    batch = tasks[0].data.splits["train"].get(torch.arange(3))  # x (3, 4, 3, 16, 16)
    logits, _ = model(0, batch)
    assert logits.shape == (3, 5) and model.paths[0].frames == 4
    z, _ = model.embed(0, batch)
    assert z.shape == (12, 8)  # B·F inputs through the cap and the space
    one = model.caps["image"](batch["x"][1, 2:3])  # example 1's third frame alone
    torch.testing.assert_close(z[1 * 4 + 2], one[0])


def test_a_space_that_learns_from_each_examples_loss_refuses_frames(data_dir, tmp_path):
    cfg = frames_config(data_dir, tmp_path, "routing")
    with pytest.raises(ConfigError, match=r"model\.space: routing learns from each example's"):
        build_model(cfg, build_tasks(cfg))
