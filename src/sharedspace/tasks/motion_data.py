"""Camera motions over the scenes of real objects: the relative-motion tasks' data.

After Yan et al. (Berkeley report, ch. 4), who co-trained detection with predicting, from dashcam
frames n, n+3, n+6, n+9, the binned change of heading and the binned distance travelled. Here a
camera looks down at each of the detection task's own scenes (``Scenes``: the same pictures, so
with ``train_size`` the motion tasks still see every scene) and turns by Δθ while moving forward,
seen as a zoom (``data.camera``); its ``frames`` views are an example, ``x`` (B, F, 3, s, s)
uint8, and its label the bin of the turn (``label: angle``) or of the zoom (``label: distance``).
The two labels are two tasks on the same sequences (rendered once per process). The view starts
``width`` × the scene's side wide and is rendered at ``frame_size`` pixels (default half the
scene's, so objects keep about their size in pixels); the input spec is the scenes' statistics
at the frames' size, so the frames go through the image cap of the main task where that cap
reads maps of any size (``image_resnet``).

Motions of the training scenes change with the run's seed; those of validation and test are fixed
(``EVAL_SEEDS``), as their scenes are.
"""

import functools
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Literal

import torch

from sharedspace.config import Range, number
from sharedspace.data.camera import ANGLE_EDGES, ZOOM_EDGES, draw_motions, render_views
from sharedspace.data.specs import ClassesTarget
from sharedspace.errors import ConfigError
from sharedspace.tasks.data import LabelledSplit, TaskData
from sharedspace.tasks.scene_data import EVAL_SEEDS, Composition, Scenes, composed

MOTION_SEED = 7_919  # added to a split's scene seed: the motions are not the scenes' draws


@dataclass(frozen=True)
class Camera:
    """What fixes the motions of a set of scenes (hashable: the render cache's key)."""

    frames: int
    frame_size: int
    width: tuple[float, float]
    angle_edges: tuple[float, ...]
    zoom_edges: tuple[float, ...]


@functools.lru_cache(maxsize=2)
def rendered(
    source: str, data_dir: str | None, seed: int, how: Composition, camera: Camera
) -> dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Split → (frames (N, F, 3, s, s) uint8, {"angle": (N,), "distance": (N,)} class ids) for
    every scene of ``how``, made once per process for both motion tasks."""
    scenes, _ = composed(source, data_dir, seed, how)
    out = {}
    for split, made in scenes.items():
        side = made.images.shape[-1]
        low, high = camera.width
        motion, angle, zoom = draw_motions(
            len(made.images),
            side,
            width=(low * side, high * side),
            angle_edges=camera.angle_edges,
            zoom_edges=camera.zoom_edges,
            seed=EVAL_SEEDS.get(split, seed) + MOTION_SEED,
        )
        frames = render_views(made.images, motion, camera.frames, camera.frame_size)
        out[split] = frames, {"angle": angle, "distance": zoom}
    return out


class SceneMotions(Scenes):
    """Sequences of ``frames`` views of each scene as a camera turns and moves forward, labelled
    with the bin of the turn (``label: angle``) or of the forward motion (``label: distance``)."""

    target = "classes"
    name = "motions"

    @dataclass
    class Config(Scenes.Config):
        label: Literal["angle", "distance"] = "angle"  # which of the motion's two the task tells
        frames: int = number(4, ge=2)  # views per sequence (the report's n, n+3, n+6, n+9)
        frame_size: int | None = number(None, ge=8)  # a view's pixels; None: half the scene's
        width: tuple[float, float] = (0.45, 0.7)  # the first view's side / the scene's side
        # the classes: Δθ in degrees (counter-clockwise positive), zoom first view → last
        angle_edges: list[float] = field(default_factory=lambda: list(ANGLE_EDGES))
        zoom_edges: list[float] = field(
            default_factory=lambda: list(ZOOM_EDGES), metadata={"range": Range(ge=1)}
        )

        def __post_init__(self) -> None:
            super().__post_init__()
            low, high = self.width if len(self.width) == 2 else (0, 0)
            if not 0 < low <= high <= 2**-0.5:
                raise ConfigError(
                    f"width: expected [low, high] with 0 < low ≤ high ≤ 1/√2 (a view turned by "
                    f"45° stays inside the scene), got {self.width!r}"
                )
            for name in ("angle_edges", "zoom_edges"):
                edges = getattr(self, name)
                if len(edges) < 2 or any(b <= a for a, b in pairwise(edges)):
                    raise ConfigError(f"{name}: expected ≥ 2 increasing edges, got {edges!r}")

        def camera(self) -> Camera:
            return Camera(
                frames=self.frames,
                frame_size=self.frame_size or self.size // 2,
                width=tuple(self.width),
                angle_edges=tuple(self.angle_edges),
                zoom_edges=tuple(self.zoom_edges),
            )

    @classmethod
    def prepare(cls, source, cfg, data_dir, seed, key, state):
        _, spec = composed(source, data_dir, seed, cfg.composition())
        camera = cfg.camera()
        made = rendered(source, data_dir, seed, cfg.composition(), camera)
        splits = {
            split: LabelledSplit(frames, labels[cfg.label]).first(n)
            for (split, (frames, labels)), n in zip(
                made.items(), cfg.per_split().values(), strict=True
            )
        }
        edges = cfg.angle_edges if cfg.label == "angle" else cfg.zoom_edges
        classes = tuple(f"{a:g}–{b:g}" for a, b in pairwise(edges))
        spec = replace(spec, height=camera.frame_size, width=camera.frame_size)
        return TaskData(splits, spec, ClassesTarget(classes), frames=cfg.frames)
