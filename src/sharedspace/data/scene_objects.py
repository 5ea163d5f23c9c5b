"""Objects with transparent backgrounds, to paste into scenes for object detection (``scenes``):
Tux Paint's stamps (``tuxpaint``: photographs, cartoons and symbols) and Noto Color Emoji
(``emoji``), each cut out with its alpha (``captions.cutout``: (4, 64, 64) uint8 RGBA, the object
cropped to what it draws, its longer side 64 (62–64 where faint edges fade), at the top left, its
(h, w) in ``sizes``); and the two photographs scikit-learn ships (``photographs``), offline
backgrounds for the scenes.

Classes are the sources' own categories, prefixed by the source: a stamp's top-level folder
(``stamps/animals``) and an emoji's Unicode group (``emoji/Flags``). Objects are split by identity
with the captions' rule (``split_of`` of the item's key: a stamp's English caption, an emoji's name
without skin tones, 90 / 5 / 5 %), so a test object, and every skin tone of it, is never seen in
training. A class without an object in every split could be neither learnt nor measured: it is
dropped, its objects counted in ``skipped``.

Measured with Debian 12's packages (tuxpaint-stamps-default 2022.06.04, fonts-noto-color-emoji
2.042, unicode-data 15.0): **4,434 objects in 18 classes** (of 950 stamps and 3,655 emoji). Dropped
for lack of an object in some split: the stamps of ``medical`` (6), ``military`` (11),
``naturalforces`` (3), ``people`` (30), ``space`` (23) and ``sports`` (13), and the emoji of
``Activities`` (85); two stamp captions have no picture.

| class                       | train | validation | test |
|-----------------------------|------:|-----------:|-----:|
| `emoji/Animals & Nature`    |   135 |          7 |   10 |
| `emoji/Flags`               |   244 |         10 |   15 |
| `emoji/Food & Drink`        |   121 |          7 |    5 |
| `emoji/Objects`             |   232 |         12 |   17 |
| `emoji/People & Body`       | 1,924 |         67 |  157 |
| `emoji/Smileys & Emotion`   |   142 |         12 |   12 |
| `emoji/Symbols`             |   195 |         14 |   14 |
| `emoji/Travel & Places`     |   195 |         18 |    5 |
| `stamps/animals`            |   140 |          5 |    9 |
| `stamps/clothes`            |    41 |          5 |    2 |
| `stamps/food`               |    67 |          5 |    2 |
| `stamps/hobbies`            |    15 |          1 |    1 |
| `stamps/household`          |    65 |          5 |    3 |
| `stamps/plants`             |    36 |          1 |    3 |
| `stamps/seasonal`           |    60 |          9 |    2 |
| `stamps/symbols`            |   222 |         14 |   13 |
| `stamps/town`               |    63 |          7 |   10 |
| `stamps/vehicles`           |    51 |          2 |    5 |
| all                         | 3,948 |        201 |  285 |

The validation and test splits are small (5 % each; some classes hold 1–2 objects there): report
detection metrics on many scenes of them, knowing they sample few identities. ``People & Body``
counts each skin tone; ``scenes.compose_scenes`` picks a class before an object, so it does not
crowd the scenes. Loading takes 6–9 s on the 2-core machine with a training run beside it, 10–12
s the first time: drawing the 3,655 emoji with Pillow takes 4–6 s, decoding the 702 PNG stamps
1.5–2 s, and the 248 SVG stamps are drawn by rsvg-convert once and read from the cache
(``svg.render_all``, their own file ``tuxpaint_stamps_rgba-*.npz``) after.

A user's own objects (``object_cutouts``) plug in alike: a folder ``cutouts/<class>/<name>.png``
of PNG pictures with transparency, one folder per class, split by a hash of the file's stem (the
same 90 / 5 / 5 % rule), read as untrusted files (``captions.decode_image``: bounded sizes, the PNG
decoder only).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sharedspace.data.captions import (
    IMAGE_FILE_LIMIT,
    OBJECT_SIZE,
    SPLIT_NAMES,
    Captioned,
    cutout,
    decode_image,
)
from sharedspace.data.datasets import dataset
from sharedspace.data.emoji import emoji_items
from sharedspace.data.locate import find_dataset
from sharedspace.data.parallel import split_of
from sharedspace.data.tuxpaint import stamp_items
from sharedspace.errors import DataError
from sharedspace.untrusted import read_bytes, regular_file

# source → its reader of captioned items, each giving ``cutout`` pictures with ``rgba=True``
SOURCES = {"stamps": stamp_items, "emoji": emoji_items}


@dataclass
class Cutouts:
    """RGBA objects to paste, aligned by index. Object i is ``pictures[i, :, :h, :w]`` with
    ``(h, w) = sizes[i]`` (its longer side S, or a pixel or two less); the rest is transparent."""

    pictures: torch.Tensor  # (N, 4, S, S) uint8 RGBA
    sizes: torch.Tensor  # (N, 2) int64: (h, w) of each object's visible box (alpha > 0)
    labels: torch.Tensor  # (N,) int64 class ids
    names: list[str] = field(default_factory=list)  # where each came from

    @classmethod
    def of(cls, pictures: torch.Tensor, labels: torch.Tensor, names: list[str]) -> "Cutouts":
        """Cutouts of top-left aligned RGBA ``pictures`` (N, 4, S, S), their sizes measured."""
        visible = pictures[:, 3] > 0  # (N, S, S)
        first = torch.arange(1, pictures.shape[-1] + 1)  # a row's or column's index + 1
        h = (visible.any(2) * first).amax(1)  # the last row with a visible pixel, + 1
        w = (visible.any(1) * first).amax(1)
        return cls(pictures, torch.stack([h, w], 1).long(), labels.long(), names)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class SceneObjects:
    """Every split's cutouts (train, validation, test), the class names their labels index, and
    what the sources held but could not give, counted by ``source: reason``."""

    splits: dict[str, Cutouts]
    classes: tuple[str, ...]
    skipped: dict[str, int] = field(default_factory=dict)


@dataset("scene_objects", kind="image", splits=SceneObjects)
def load_scene_objects(data_dir: Path | None = None) -> SceneObjects:
    """Tux Paint's stamps and Noto Color Emoji cut out with their alpha, classed by category and
    split by identity (module docstring)."""
    found, skipped = [], Counter()
    for source, read in SOURCES.items():
        items, source_skipped = read(data_dir, rgba=True)
        skipped += Counter({f"{source}: {why}": n for why, n in source_skipped.items()})
        found += [(source, item) for item in items]
    return gather_objects(found, skipped)


def gather_objects(
    found: Iterable[tuple[str, Captioned]], skipped: Counter | None = None
) -> SceneObjects:
    """``(source, item)`` pairs with ``cutout`` pictures → SceneObjects: class ``source/group``,
    split by ``split_of(item.key)``, each split ordered by name (``source/item name``); a class
    without an object in every split is dropped, a picture that draws nothing skipped."""
    skipped = Counter(skipped or {})
    by_split: dict[str, list[tuple[str, str, np.ndarray]]] = {s: [] for s in SPLIT_NAMES}
    for source, item in found:
        if not item.image[3].any():
            skipped[f"{source}: draws nothing"] += 1
            continue
        entry = (f"{source}/{item.group}", f"{source}/{item.name}", item.image)
        by_split[split_of(item.key)].append(entry)
    present = [{label for label, _, _ in entries} for entries in by_split.values()]
    classes = tuple(sorted(set.intersection(*present)))
    for label in sorted(set.union(*present) - set(classes)):
        source = label.split("/")[0]
        count = sum(e[0] == label for entries in by_split.values() for e in entries)
        skipped[f"{source}: in a class not in every split ({label.split('/', 1)[1]})"] += count
    ids = {label: i for i, label in enumerate(classes)}
    splits = {}
    for split, entries in by_split.items():
        kept = sorted(
            ((name, picture, ids[label]) for label, name, picture in entries if label in ids),
            key=lambda e: e[0],
        )
        shape = (0, 4, OBJECT_SIZE, OBJECT_SIZE)
        pictures = np.stack([p for _, p, _ in kept]) if kept else np.zeros(shape, np.uint8)
        labels = torch.tensor([c for _, _, c in kept], dtype=torch.int64)
        splits[split] = Cutouts.of(torch.from_numpy(pictures), labels, [n for n, _, _ in kept])
    return SceneObjects(splits, classes, dict(skipped))


@dataset("object_cutouts", kind="image", splits=SceneObjects)
def load_object_cutouts(data_dir: Path | None = None) -> SceneObjects:
    """A user's folder of objects, ``cutouts/<class>/<name>.png`` (module docstring): class
    ``cutouts/<class>``, the split a hash of the stem."""
    folder = find_dataset(
        "cutouts",
        ("*/*.png",),
        data_dir,
        how_to_get="put PNG pictures with transparency in cutouts/<class>/<name>.png",
    )
    found = []
    for path in sorted(folder.glob("*/*.png")):
        if not regular_file(path):
            continue
        data = read_bytes(path, IMAGE_FILE_LIMIT, DataError)
        image = decode_image(data, str(path), ("PNG",), cutout)
        group = path.parent.name
        item = Captioned(f"{group}/{path.name}", image, {"en": path.stem}, group, path.stem)
        found.append(("cutouts", item))
    return gather_objects(found)


def photographs() -> list[torch.Tensor]:
    """The photographs scikit-learn ships (china.jpg, flower.jpg: 427×640 each), as (3, H, W)
    uint8 tensors: real backgrounds for scenes, with no download."""
    from sklearn.datasets import load_sample_images  # imported here: its 2 s only when used

    return [
        torch.from_numpy(image.transpose(2, 0, 1).copy()) for image in load_sample_images().images
    ]
