"""Detection: the residual backbone and the CenterNet head overfit a few scenes to AP ≥ 0.9;
evaluation scores AP on the rows of every batch of a split joined; the scenes view keeps each
split's objects apart and refuses bad sizes before any data loads."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from sharedspace.collectives import Processes
from sharedspace.config import from_dict
from sharedspace.data.scene_objects import Cutouts
from sharedspace.data.scenes import Scenes as ComposedScenes
from sharedspace.data.scenes import compose_scenes
from sharedspace.data.specs import BoxesTarget
from sharedspace.errors import ConfigError
from sharedspace.modalities.resnet import ImageResNet
from sharedspace.tasks.box_data import BoxedSplit
from sharedspace.tasks.data import TaskData
from sharedspace.tasks.detection import Detection
from sharedspace.tasks.image_data import images_spec
from sharedspace.tasks.scene_data import Scenes, SceneTurns, TurnedSplit
from sharedspace.train.evaluation import evaluate
from tests.data.cutout_files import write_cutouts

CLASSES = ("square", "bar")


def cutouts() -> Cutouts:
    """Opaque red squares (class 0) and blue bars (class 1), 4 of each in shades."""
    pictures = torch.zeros(8, 4, 16, 16, dtype=torch.uint8)
    for i in range(8):
        h, w = (12, 12) if i < 4 else (5, 14)
        colour = (255 - 20 * i, 0, 0) if i < 4 else (0, 0, 255 - 20 * i)
        pictures[i, :3, :h, :w] = torch.tensor(colour, dtype=torch.uint8)[:, None, None]
        pictures[i, 3, :h, :w] = 255
    labels = torch.tensor([0] * 4 + [1] * 4)
    return Cutouts.of(pictures, labels, [f"o{i}" for i in range(8)])


def separable(scenes: ComposedScenes, stride: int = 4) -> torch.Tensor:
    """Which scenes (N,) a CenterNet head can get all right: no two objects of a class centred
    in the same or neighbouring cells, which its 3×3 peak rule would merge into one."""
    centres = ((scenes.boxes[..., :2] + scenes.boxes[..., 2:]) / 2 / stride).floor()  # (N, G, 2)
    apart = (centres[:, :, None] - centres[:, None]).abs().amax(-1) >= 2  # (N, G, G)
    same = (scenes.labels[:, :, None] == scenes.labels[:, None]) & (scenes.labels[:, None] >= 0)
    same &= ~torch.eye(scenes.labels.shape[1], dtype=torch.bool)
    return (apart | ~same).flatten(1).all(1)


def task_on(n: int, size: int = 32, **head) -> Detection:
    """A detection task on ``n`` scenes of flat colours (``separable`` ones): training and
    validation the same scenes, test ``n`` others of the same objects."""
    splits = {}
    for split, seed in (("train", 0), ("test", 1)):
        scenes = compose_scenes(cutouts(), [], 3 * n, size, max_objects=3, mix=(0, 1, 0), seed=seed)
        kept = separable(scenes).nonzero().flatten()[:n]
        images, labels, boxes = scenes.images[kept], scenes.labels[kept], scenes.boxes[kept]
        splits[split] = BoxedSplit(images, labels, boxes)
    splits["validation"] = splits["train"]
    data = TaskData(splits, images_spec(splits["train"].images), BoxesTarget(CLASSES, 3))
    return Detection("detect", 0, "image", from_dict(Detection.Config, head), data)


class Detector(nn.Module):
    """Cap → head, called as the model is by evaluation: ``model(task, batch) → (output, aux)``."""

    def __init__(self, task: Detection) -> None:
        super().__init__()
        sizes = {"stem": 16, "channels": [16, 32], "blocks": [1, 1], "strides": [1, 2]}
        cfg = from_dict(ImageResNet.Config, sizes)
        self.cap = ImageResNet(cfg, 32, task.data.spec)
        self.head = task.build_head(32)

    def forward(self, task: int, batch: dict[str, torch.Tensor]):
        return self.head(self.cap(batch["x"]), batch), {}


@pytest.fixture(scope="module")
def overfit() -> tuple[Detection, Detector]:
    """A detector trained for 700 full-batch steps on 8 scenes."""
    torch.manual_seed(0)
    task = task_on(8)
    model = Detector(task)
    batch = task.data.splits["train"].get(torch.arange(8))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    decay = torch.optim.lr_scheduler.MultiStepLR(optimizer, [500], 0.1)  # boxes to the pixel
    for _ in range(700):
        output, _ = model(0, batch)
        loss = task.loss(output, batch).mean("example")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
    return task, model


@pytest.mark.slow
def test_backbone_and_head_overfit_a_few_scenes_to_ap_09(overfit):
    task, model = overfit
    scores = evaluate(model, task, "train", batch_size=3, device=torch.device("cpu"))
    assert scores["ap"] >= 0.9, scores
    assert scores["ap/square"] >= 0.9 and scores["ap/bar"] >= 0.9


@pytest.mark.slow
def test_evaluation_scores_the_rows_of_every_batch_joined(overfit):
    """AP is not a mean of per-batch APs: scored in batches of 3 it equals one batch of all."""
    task, model = overfit
    whole = evaluate(model, task, "test", batch_size=8, device=torch.device("cpu"))
    batched = evaluate(model, task, "test", batch_size=3, device=torch.device("cpu"))
    assert 0.05 < whole["ap"] < 0.95, whole  # scenes it was not trained on: partly right
    assert set(whole) >= {"loss", "ap", "ap50", "ap75", "ap/square", "ap/bar"}
    assert batched == pytest.approx(whole, rel=1e-5, nan_ok=True)
    scenes = task.data.splits["test"]
    first = task.row_metrics(
        task.metric_rows(model(0, scenes.get(torch.arange(3)))[0], scenes.get(torch.arange(3)))
    )
    assert first["ap50"] != pytest.approx(whole["ap50"])  # the first batch alone scores otherwise


@pytest.mark.parametrize(
    ("field", "value"),
    [("size", 8), ("min_objects", 7), ("scale", [0.5, 0.2]), ("scale", [0.2, 1.5])],
)
def test_the_scenes_view_refuses_bad_settings_when_the_config_is_read(field, value):
    with pytest.raises(ConfigError, match=field):
        from_dict(Scenes.Config, {field: value})


def test_the_head_reads_its_stride_from_the_input():
    """One head serves 32 and 64 px inputs of one map stride: the boxes scale with the input."""
    task = task_on(2)
    torch.manual_seed(0)
    head = task.build_head(8)
    z = torch.randn(1, 8, 8, 8)
    small = task.detect(head(z, {"x": torch.zeros(1, 3, 32, 32)}), {"x": torch.zeros(1, 3, 32, 32)})
    large = task.detect(head(z, {"x": torch.zeros(1, 3, 64, 64)}), {"x": torch.zeros(1, 3, 64, 64)})
    torch.testing.assert_close(large.boxes, small.boxes * 2)
    assert torch.equal(large.labels, small.labels) and large.boxes.shape == (1, 100, 4)


def test_a_turned_split_turns_each_image_by_its_class():
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.tensor([1, 2])  # a mark in the top-left corner
    split = TurnedSplit(images)
    batch = split.get(torch.arange(8))
    assert len(split) == 8 and batch["y"].tolist() == [0, 1, 2, 3] * 2
    # counter-clockwise: top-left → bottom-left → bottom-right → top-right
    corners = [(0, 0), (3, 0), (3, 3), (0, 3)]
    for i, (row, col) in enumerate(corners * 2):
        assert batch["x"][i, 0, row, col] == 1 + i // 4 and batch["x"][i].sum() == 1 + i // 4
    assert len(split.first(5)) == 8  # whole images: ⌈5 / 4⌉ in their four turns


def test_rotation_and_detection_on_one_config_read_the_same_scenes(tmp_path):
    """The rotation task sees the pictures the detection task is labelled on, never a box, and
    a detection task labelled on the first n scenes reads the same first n pictures."""
    data_dir = str(write_cutouts(tmp_path))
    fields = {"scenes": 12, "eval_scenes": 4, "size": 32}
    boxes = Scenes.prepare("object_cutouts", from_dict(Scenes.Config, fields), data_dir, 3, "t", {})
    turns = SceneTurns.prepare(
        "object_cutouts", from_dict(SceneTurns.Config, fields), data_dir, 3, "t", {}
    )
    few = Scenes.prepare(
        "object_cutouts",
        from_dict(Scenes.Config, {**fields, "train_size": 5}),
        data_dir,
        3,
        "t",
        {},
    )
    for split in ("train", "validation", "test"):
        pictures = boxes.splits[split].images
        turned = turns.splits[split].get(torch.arange(0, len(turns.splits[split]), 4))
        assert set(turned) == {"x", "y"} and torch.equal(turned["x"], pictures)
    assert torch.equal(few.splits["train"].images, boxes.splits["train"].images[:5])
    assert few.spec == boxes.spec  # the statistics of all 12: the tasks share the image cap
    assert turns.target.classes == ("0", "90", "180", "270") and turns.spec == boxes.spec


def _evaluate_on_two(rank: int, init: str, state: dict, out: str) -> None:
    """One of two processes (gloo, CPU): the overfit detector scored on its shard of the test
    scenes (4 and 4 of 8), the rows of both gathered."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        task = task_on(8)
        model = Detector(task)
        model.load_state_dict(state)
        procs = Processes(rank, 2, rank)
        scores = evaluate(model, task, "test", 3, torch.device("cpu"), procs)
        if rank == 0:
            torch.save(scores, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_score_the_ap_one_does(overfit, tmp_path):
    """Each process detects on its shard; AP is scored on every shard's rows gathered."""
    task, model = overfit
    one = evaluate(model, task, "test", 3, torch.device("cpu"))
    out, init = tmp_path / "two.pt", f"file://{tmp_path / 'store'}"
    mp.spawn(_evaluate_on_two, args=(init, model.state_dict(), str(out)), nprocs=2, join=True)
    two = torch.load(out)
    assert 0.05 < one["ap"] < 0.95 and set(two) == set(one)
    assert two == pytest.approx(one, rel=1e-6, nan_ok=True)
