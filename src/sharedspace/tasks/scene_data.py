"""Scenes of real objects as tasks read them: their boxes (detection), their turns (rotation) or
their colours from grey (colorization).

Scenes are composed from a dataset of cut-out objects (``scene_objects``, or a user's
``object_cutouts``) by ``data.scenes.compose_scenes``, each split's from that split's objects
only (objects are split by identity), so a test object was never seen in training. The
training scenes change with the run's seed; the validation and test scenes do not (fixed seeds),
so every run of a study is scored on the same scenes. Composition runs once per process for
every task of the same settings (a small cache), so a detection task and a self-supervised task
on one set of scenes see the same pictures, and the self-supervised view never reads a box.

``scenes`` training scenes are composed; ``train_size`` keeps the first n of them for the task
(the first n are the same pictures whatever ``scenes`` is): a detection task with ``train_size:
800`` of ``scenes: 8000`` is labelled on 10 % of the pictures a rotation task on all 8,000 sees.
"""

import functools
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from sharedspace.config import number
from sharedspace.data.scene_objects import SceneObjects, photographs
from sharedspace.data.scenes import MIN_SIZE, compose_scenes
from sharedspace.data.scenes import Scenes as ComposedScenes
from sharedspace.data.specs import BoxesTarget, ClassesTarget, ImageSpec, PixelsTarget
from sharedspace.errors import ConfigError
from sharedspace.tasks.box_data import BoxedSplit
from sharedspace.tasks.data import DataView, Sizes, TaskData, load_dataset
from sharedspace.tasks.image_data import images_spec

# the seeds of the validation and test scenes: fixed, so runs of any seed share them
EVAL_SEEDS = {"validation": 1_000_003, "test": 2_000_003}
TURNS = ("0", "90", "180", "270")  # degrees counter-clockwise: the rotation task's classes
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601's weights of R, G, B in grey


@dataclass(frozen=True)
class Composition:
    """What fixes a set of scenes (hashable: the composition cache's key)."""

    scenes: int
    eval_scenes: int
    size: int
    min_objects: int
    max_objects: int
    scale: tuple[float, float]


@functools.lru_cache(maxsize=2)
def composed(
    source: str, data_dir: str | None, seed: int, how: Composition
) -> tuple[dict[str, ComposedScenes], ImageSpec]:
    """Every split's scenes of ``how`` and the statistics of the training scenes, made once per
    process."""
    objects = load_dataset(source, data_dir)
    backgrounds = photographs()
    counts = {"train": how.scenes, "validation": how.eval_scenes, "test": how.eval_scenes}
    scenes = {
        split: compose_scenes(
            objects.splits[split],
            backgrounds,
            n,
            how.size,
            max_objects=how.max_objects,
            min_objects=how.min_objects,
            scale=how.scale,
            seed=EVAL_SEEDS.get(split, seed),
        )
        for split, n in counts.items()
    }
    return scenes, images_spec(scenes["train"].images)


class Scenes(DataView):
    """Scenes of ``size`` pixels with ``min_objects``–``max_objects`` objects each, every object's
    longer side ``scale`` × the scene's, and their boxes: ``scenes`` training scenes (the first
    ``train_size`` read), ``eval_scenes`` validation and as many test scenes."""

    kind = "image"
    target = "boxes"
    name = "scenes"
    reads = SceneObjects

    @dataclass
    class Config(Sizes):
        positive: ClassVar[tuple[str, ...]] = (
            *Sizes.positive,
            *("scenes", "eval_scenes", "size", "max_objects"),
        )

        scenes: int = 8000  # training scenes composed (train_size: how many the task reads)
        eval_scenes: int = 1000  # validation scenes, and as many test scenes
        size: int = 64  # pixels of a scene's side
        min_objects: int = 1
        max_objects: int = 6
        scale: tuple[float, float] = (0.2, 0.6)  # an object's longer side / the scene's side

        def __post_init__(self) -> None:
            super().__post_init__()
            low, high = self.scale if len(self.scale) == 2 else (0, 0)
            problems = {
                "size": (self.size >= MIN_SIZE, f"at least {MIN_SIZE} pixels"),
                "min_objects": (
                    0 <= self.min_objects <= self.max_objects,
                    f"0 ≤ min_objects ≤ max_objects ({self.max_objects})",
                ),
                "scale": (0 < low <= high <= 1, "[low, high] with 0 < low ≤ high ≤ 1"),
                "train_size": (
                    self.train_size is None or self.train_size <= self.scenes,
                    f"at most scenes ({self.scenes})",
                ),
            }
            for field_name, (ok, expected) in problems.items():
                if not ok:
                    value = getattr(self, field_name)
                    raise ConfigError(f"{field_name}: expected {expected}, got {value!r}")

        def composition(self) -> Composition:
            return Composition(
                scenes=self.scenes,
                eval_scenes=self.eval_scenes,
                size=self.size,
                min_objects=self.min_objects,
                max_objects=self.max_objects,
                scale=tuple(self.scale),
            )

    @classmethod
    def scenes_of(
        cls, source: str, cfg: Config, data_dir: str | None, seed: int
    ) -> tuple[dict[str, ComposedScenes], ImageSpec]:
        """Every split's scenes, cut to ``train_size`` and ``eval_size`` (views, not copies),
        and the spec of all the training scenes composed: tasks that read fewer of them (the
        labelled 10 %) give the image cap the same statistics, so they share it."""
        scenes, spec = composed(source, data_dir, seed, cfg.composition())
        cut = {
            split: ComposedScenes(c.images[:n], c.boxes[:n], c.labels[:n], c.objects[:n])
            for (split, c), n in zip(scenes.items(), cfg.per_split().values(), strict=True)
        }
        return cut, spec

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        scenes, spec = cls.scenes_of(source, cfg, data_dir, seed)
        splits = {s: BoxedSplit(c.images, c.labels, c.boxes) for s, c in scenes.items()}
        target = BoxesTarget(load_dataset(source, data_dir).classes, cfg.max_objects)
        return TaskData(splits, spec, target)


@dataclass
class TurnedSplit:
    """Square images in their four turns (Gidaris et al. 2018): example i is image i // 4
    turned counter-clockwise by (i % 4) × 90°, its class i % 4; ``x`` (B, C, S, S) uint8."""

    images: torch.Tensor  # (N, C, S, S) uint8

    def __len__(self) -> int:
        return 4 * len(self.images)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        turns = idx % 4
        x = self.images[idx // 4]
        for k in range(1, 4):  # one rot90 per turn, each on its examples at once
            chosen = turns == k
            x[chosen] = torch.rot90(x[chosen], k, (2, 3))
        return {"x": x, "y": turns}

    def first(self, n: int | None) -> "TurnedSplit":
        """The first ⌈n / 4⌉ images, each in its four turns."""
        return TurnedSplit(self.images if n is None else self.images[: -(-n // 4)])


class SceneTurns(Scenes):
    """The scenes of ``Scenes`` without their boxes, each in four turns, to classify the turn:
    the self-supervised rotation task; its labels come from the pictures alone."""

    target = "classes"
    name = "rotations"

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        scenes, spec = cls.scenes_of(source, cfg, data_dir, seed)
        splits = {s: TurnedSplit(c.images) for s, c in scenes.items()}
        return TaskData(splits, spec, ClassesTarget(TURNS))


def grey(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (B, 3, H, W) → their luma (ITU-R BT.601), rounded, in all three channels."""
    luma = torch.tensordot(torch.tensor(LUMA), images.float(), ([0], [1]))  # (B, H, W)
    return luma.round().to(torch.uint8).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


@dataclass
class GreySplit:
    """Colour images in grey, to predict their colours (colorization): ``x`` (B, 3, S, S) uint8,
    the luma in every channel, so the image cap reads it as it reads the colour scenes; ``y``
    (B, 3, S / f, S / f) float32 on the 0–1 scale, each value the mean of f × f pixels (the
    colour at 1/f of the resolution: the report's 1/4)."""

    images: torch.Tensor  # (N, 3, S, S) uint8
    downscale: int  # f

    def __len__(self) -> int:
        return len(self.images)

    def get(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.images[idx]
        return {"x": grey(x), "y": F.avg_pool2d(x.float() / 255, self.downscale)}

    def first(self, n: int | None) -> "GreySplit":
        return GreySplit(self.images[:n], self.downscale)


class SceneColours(Scenes):
    """The scenes of ``Scenes`` in grey, without their boxes, to predict their colours at
    1/``downscale`` of the resolution: the self-supervised colorization task. The input spec is
    the colour scenes' (the image cap is the one detection reads, unchanged)."""

    target = "pixels"
    name = "grey"

    @dataclass
    class Config(Scenes.Config):
        downscale: int = number(4, ge=1)  # the colour target's side: the scene's / downscale

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.downscale >= 1 and self.size % self.downscale:  # < 1: the range's error
                raise ConfigError(
                    f"downscale: expected a divisor of size ({self.size}), got {self.downscale}"
                )

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        scenes, spec = cls.scenes_of(source, cfg, data_dir, seed)
        splits = {s: GreySplit(c.images, cfg.downscale) for s, c in scenes.items()}
        side = cfg.size // cfg.downscale
        return TaskData(splits, spec, PixelsTarget((3, side, side)))
