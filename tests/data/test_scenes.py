"""Composed scenes: every box is exactly where its object shows, counts and classes are as asked,
the seed decides everything, occlusion is bounded, a split's scenes hold only its objects."""

import pytest
import torch
from PIL import Image, ImageDraw

from sharedspace.data.captions import Captioned, cutout
from sharedspace.data.scene_objects import Cutouts, gather_objects
from sharedspace.data.scenes import compose_scenes
from sharedspace.errors import ConfigError, DataError
from tests.data.test_scene_objects import hashed_to

BLACK = [torch.zeros(3, 40, 60, dtype=torch.uint8)]  # a photograph: crops of it are black
PHOTO_ONLY = (1.0, 0.0, 0.0)


def shape(kind: int, colour: tuple[int, int, int]) -> torch.Tensor:
    """(4, 16, 16) uint8: a square, a disc or a triangle with soft (partly transparent) edges, of
    exactly ``colour`` wherever it is drawn."""
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    draw, white = ImageDraw.Draw(image), (255, 255, 255, 255)
    if kind == 0:
        draw.rectangle((0, 0, 63, 47), fill=white)
    elif kind == 1:
        draw.ellipse((0, 0, 63, 47), fill=white)
    else:
        draw.polygon([(0, 47), (32, 0), (63, 47)], fill=white)
    picture = torch.from_numpy(cutout(image.rotate(10 * kind, expand=True), 16))
    picture[:3] = torch.tensor(colour, dtype=torch.uint8)[:, None, None]
    return picture


def primaries(labels: list[int]) -> Cutouts:
    """Object i: shape i % 3 in pure red, green or blue (channel i), labelled ``labels[i]``."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    pictures = torch.zeros((len(labels), 4, 16, 16), dtype=torch.uint8)
    for i in range(len(labels)):
        pictures[i] = shape(i % 3, colours[i])
    return Cutouts.of(pictures, torch.tensor(labels), [f"o{i}" for i in range(len(labels))])


def test_every_box_is_exactly_where_its_object_shows():
    objects = primaries([4, 7, 9])
    scenes = compose_scenes(
        objects, BLACK, 600, 24, max_objects=3, scale=(0.3, 0.8), max_hidden=0.9, mix=PHOTO_ONLY
    )
    checked = occluded = 0
    for image, boxes, labels, picked in zip(
        scenes.images, scenes.boxes, scenes.labels, scenes.objects, strict=True
    ):
        used = picked[picked >= 0].tolist()
        if len(set(used)) < len(used):
            continue  # an object twice: its channel holds both
        for g, index in enumerate(used):
            rows, cols = torch.nonzero(image[index] > 0, as_tuple=True)  # object `index`'s channel
            expected = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            assert boxes[g].tolist() == [float(v) for v in expected]
            assert labels[g] == objects.labels[index]
            checked += 1
        assert (labels[len(used) :] == -1).all() and (boxes[len(used) :] == 0).all()
        occluded += bool(len(used) > 1 and (image.bool().sum(0) > 1).any())
    assert checked > 500 and occluded > 100  # overlapping objects were checked too


def test_counts_lie_in_the_range_and_each_is_drawn():
    scenes = compose_scenes(primaries([0, 1, 2]), BLACK, 200, 48, min_objects=2, max_objects=4)
    counts = (scenes.labels >= 0).sum(1)
    assert scenes.labels.shape == scenes.objects.shape == (200, 4)
    assert scenes.boxes.shape == (200, 4, 4) and scenes.images.shape == (200, 3, 48, 48)
    assert set(counts.tolist()) == {2, 3, 4}
    slots = torch.arange(4)
    assert torch.equal(scenes.labels >= 0, slots < counts[:, None])  # objects first, then padding


def test_one_seed_gives_the_same_scenes_another_seed_others():
    objects = primaries([0, 1, 2])
    photos = [torch.randint(0, 256, (3, 50, 70), generator=torch.Generator().manual_seed(0),
                            dtype=torch.uint8)]  # fmt: skip
    first, again, other = (compose_scenes(objects, photos, 20, 24, seed=s) for s in (5, 5, 6))
    for field in ("images", "boxes", "labels", "objects"):
        assert torch.equal(getattr(first, field), getattr(again, field))
    assert not torch.equal(first.images, other.images)


def test_the_backgrounds_mix_photographs_flat_colours_and_gradients():
    objects = primaries([0])
    flat = compose_scenes(objects, [], 50, 32, min_objects=0, max_objects=1, mix=(0, 1, 0))
    blank = flat.labels[:, 0] < 0
    assert blank.any() and all(len(image.reshape(3, -1).unique(dim=1).T) == 1
                               for image in flat.images[blank])  # fmt: skip
    ramp = compose_scenes(objects, [], 50, 32, min_objects=0, max_objects=1, mix=(0, 0, 1))
    blank = ramp.labels[:, 0] < 0
    assert all(len(image.reshape(3, -1).unique(dim=1).T) > 5 for image in ramp.images[blank])


def test_occlusion_leaves_each_object_most_of_its_area():
    square = shape(0, (255, 255, 255))
    square[3] = 255  # opaque 16×16
    pictures = torch.stack([square.clone() for _ in range(3)])
    for i in range(3):
        pictures[i, :3] = 0
        pictures[i, i] = 255
    objects = Cutouts.of(pictures, torch.tensor([0, 1, 2]), ["r", "g", "b"])
    crowded = {}
    for max_hidden in (0.0, 0.25, 0.9):
        scenes = compose_scenes(objects, BLACK, 200, 32, max_objects=3, scale=(0.5, 0.5),
                                max_hidden=max_hidden, mix=PHOTO_ONLY)  # fmt: skip
        crowded[max_hidden] = (scenes.labels >= 0).sum().item()
        for image, picked in zip(scenes.images, scenes.objects, strict=True):
            used = picked[picked >= 0].tolist()
            if len(set(used)) == len(used):
                for index in used:  # each a 16×16 square: at least (1 - max_hidden) × 256 shows
                    assert (image[index] == 255).sum() >= (1 - max_hidden) * 256
    assert crowded[0.0] < crowded[0.25] < crowded[0.9]


def test_a_splits_scenes_hold_only_its_objects():
    found = []
    for split, colour in (
        ("train", (255, 0, 0)),
        ("validation", (0, 255, 0)),
        ("test", (0, 0, 255)),
    ):
        for i in range(3):
            key = hashed_to(split, f"thing {i}")
            found.append(
                ("stamps", Captioned(key, shape(i, colour).numpy(), {"en": key}, "things", key))
            )
    objects = gather_objects(found)
    test = objects.splits["test"]
    scenes = compose_scenes(test, BLACK, 100, 32, mix=PHOTO_ONLY, max_hidden=0.9)
    assert scenes.images[:, :2].max() == 0 and scenes.images[:, 2].max() == 255  # blue only
    used = scenes.objects[scenes.objects >= 0]
    assert used.max() < len(test) and set(used.tolist()) == set(range(len(test)))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"size": 8}, ConfigError, r"^size=8: expected at least 16 pixels$"),
        ({"min_objects": 4, "max_objects": 3}, ConfigError, r"^min_objects=4, max_objects=3: "),
        ({"max_objects": 0, "min_objects": 0}, ConfigError, r"^max_objects=0: expected at least"),
        ({"scale": (0.5, 0.2)}, ConfigError, r"^scale=\(0.5, 0.2\): expected \(low, high\)"),
        ({"max_hidden": 1.0}, ConfigError, r"^max_hidden=1.0: expected 0 <= max_hidden < 1$"),
        ({"n": -1}, ConfigError, r"^n=-1: expected a count of scenes >= 0$"),
        ({"backgrounds": []}, ConfigError, r"asks for photographs; backgrounds is empty$"),
        ({"objects": primaries([])}, DataError, r"^compose_scenes: no objects to paste"),
        ({"objects": Cutouts.of(torch.zeros(1, 4, 8, 8, dtype=torch.uint8), torch.tensor([0]),
                                ["ghost"])}, DataError, r"^compose_scenes: ghost draws nothing"),
        ({"min_objects": 6, "scale": (1.0, 1.0)}, DataError, r"^scene 0: placed 1 of min_objec"),
    ],
)  # fmt: skip
def test_bad_arguments_are_one_line_errors(kwargs, error, message):
    arguments = {"objects": primaries([0, 1]), "backgrounds": BLACK, "n": 3, "size": 32} | kwargs
    with pytest.raises(error, match=message) as raised:
        compose_scenes(**arguments)
    assert "\n" not in str(raised.value)
