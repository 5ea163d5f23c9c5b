"""Camera motions: labels are the bins of the drawn motion, corners are where a hand computation
puts them, rendered views show the scene where the corners say (turned the documented way), every
view stays inside its scene, the seed decides everything, bad arguments are named."""

import math

import pytest
import torch

from sharedspace.data.camera import (
    ANGLE_EDGES,
    ZOOM_EDGES,
    Motion,
    bins_of,
    draw_motions,
    render_views,
    view_corners,
)
from sharedspace.errors import ConfigError


def motions(*rows: tuple[float, float, float, float, float, float]) -> Motion:
    """A Motion from rows of (angle, zoom, heading, width, center x, center y)."""
    columns = torch.tensor(rows, dtype=torch.float64).T
    return Motion(columns[0], columns[1], columns[2], columns[3], columns[4:].T)


def random_scenes(n: int, channels: int, side: int) -> torch.Tensor:
    """(n, channels, side, side) uint8 noise: asymmetric in every direction."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, channels, side, side), generator=generator, dtype=torch.uint8)


def test_labels_are_the_bins_of_the_drawn_motion_and_balanced():
    motion, angle_class, zoom_class = draw_motions(4000, 256, width=(40, 80), seed=1)
    for values, classes, edges in ((motion.angle, angle_class, ANGLE_EDGES),
                                   (motion.zoom, zoom_class, ZOOM_EDGES)):  # fmt: skip
        ends = torch.tensor(edges, dtype=torch.float64)
        assert classes.dtype == torch.int64 and values.dtype == torch.float64
        assert torch.equal(classes, (values[:, None] >= ends[1:-1]).sum(1))  # inner edges passed
        low, high = ends[classes], ends[classes + 1]
        assert ((low <= values) & (values <= high)).all()
        within = (values - low) / (high - low)
        assert within.min() < 0.01 and within.max() > 0.99  # spread over the whole bin
        counts = torch.bincount(classes, minlength=len(edges) - 1)
        expected = 4000 / (len(edges) - 1)
        assert counts.min() > 0.85 * expected and counts.max() < 1.15 * expected
    assert 0 <= motion.heading.min() < 5 and 355 < motion.heading.max() < 360
    assert 40 <= motion.width.min() < 41 and 79 < motion.width.max() <= 80


def test_one_seed_gives_the_same_motions_another_seed_others():
    first, again, other = (draw_motions(50, 128, width=(20, 60), seed=s) for s in (3, 3, 4))
    for field in ("angle", "zoom", "heading", "width", "center"):
        assert torch.equal(getattr(first[0], field), getattr(again[0], field))
        assert not torch.equal(getattr(first[0], field), getattr(other[0], field))
    assert torch.equal(first[1], again[1]) and torch.equal(first[2], again[2])


@pytest.mark.parametrize(
    ("motion", "corners"),
    [
        # heading 0 → 90 (the top edge faces the scene's left at the end), side 20 → 10 → 5
        ((90, 4, 0, 20, 50, 40), [
            [(40, 30), (60, 30), (60, 50), (40, 50)],
            [(50 - math.sqrt(50), 40), (50, 40 - math.sqrt(50)),
             (50 + math.sqrt(50), 40), (50, 40 + math.sqrt(50))],
            [(47.5, 42.5), (47.5, 37.5), (52.5, 37.5), (52.5, 42.5)],
        ]),
        # heading 180 (upside down) → 135 → 90, side 8 → 4√2 → 4
        ((-90, 2, 180, 8, 10, 20), [
            [(14, 24), (6, 24), (6, 16), (14, 16)],
            [(10, 24), (6, 20), (10, 16), (14, 20)],
            [(8, 22), (8, 18), (12, 18), (12, 22)],
        ]),
    ],
)  # fmt: skip
def test_view_corners_are_where_a_hand_computation_puts_them(motion, corners):
    got = view_corners(motions(motion), 3)
    assert got.shape == (1, 3, 4, 2) and got.dtype == torch.float64
    torch.testing.assert_close(got[0], torch.tensor(corners, dtype=torch.float64))


def test_a_bright_spot_shows_where_the_corners_map_it():
    scene = torch.zeros((1, 1, 80, 80), dtype=torch.uint8)
    scene[..., 41:44, 35:38] = 255  # a 3×3 spot centred on p = (36.5, 42.5)
    p = torch.tensor([36.5, 42.5], dtype=torch.float64)
    motion = motions(
        (0, 1, 0, 32, 40, 40),
        (90, 2, 0, 40, 40, 40),
        (-60, 1.5, 200, 48, 38, 44),
        (45, 1.2, 330, 30, 42, 37),
        (170, 2.5, 75, 44, 39, 41),
    )
    size, views = 24, 4
    rendered = render_views(scene.expand(len(motion.angle), -1, -1, -1), motion, views, size)
    corners = view_corners(motion, views)  # (N, V, 4, 2)
    top_left, across, down = corners[..., 0, :], corners[..., 1, :], corners[..., 3, :]
    across, down = across - top_left, down - top_left  # the view's x and y axes, in the scene
    expected = torch.stack(  # p in view pixels, the inverse of the corner geometry
        [size * ((p - top_left) * axis).sum(-1) / (axis * axis).sum(-1) for axis in (across, down)],
        -1,
    )  # (N, V, 2)
    spot = rendered[:, :, 0].double()  # (N, V, size, size)
    centres = torch.arange(size, dtype=torch.float64) + 0.5
    mass = spot.sum((-2, -1))
    assert (mass > 0).all()
    found = torch.stack(
        [(spot * centres).sum((-2, -1)) / mass, (spot * centres[:, None]).sum((-2, -1)) / mass], -1
    )
    assert (found - expected).abs().max() < 0.5  # view pixels


@pytest.mark.parametrize(("angle", "turns"), [(90, -1), (-90, 1), (180, 2)])
def test_a_counter_clockwise_heading_shows_the_scene_turned_clockwise(angle, turns):
    scenes = random_scenes(1, 3, 32)
    crop = scenes[0, :, 8:24, 8:24]  # a 16-pixel view at (16, 16) samples pixel centres exactly
    rendered = render_views(scenes, motions((angle, 1, 0, 16, 16, 16)), 2, 16)
    assert torch.equal(rendered[0, 0], crop)
    assert torch.equal(rendered[0, 1], torch.rot90(crop, turns, (1, 2)))  # +1: counter-clockwise


def test_zoom_narrows_the_view_about_its_centre():
    scenes = random_scenes(1, 2, 48).expand(2, -1, -1, -1)
    rendered = render_views(scenes, motions((0, 2, 0, 32, 24, 24), (0, 1.5, 0, 24, 20, 28)), 2, 16)
    wide = scenes[0, :, 8:40, 8:40].double()  # first view: 32 pixels, each view pixel between 2×2
    pooled = torch.nn.functional.avg_pool2d(wide, 2)
    assert (rendered[0, 0].double() - pooled).abs().max() <= 0.5 + 1e-6  # rounding either way
    assert torch.equal(rendered[0, 1], scenes[0, :, 16:32, 16:32])  # last view: 16 pixels
    assert torch.equal(rendered[1, 1], scenes[0, :, 20:36, 12:28])  # rows are y


def test_every_view_stays_inside_its_scene():
    motion, _, _ = draw_motions(
        3000, 100, width=(20, 70), angle_edges=(-180, 0, 180), zoom_edges=(1, 3), seed=2
    )
    corners = view_corners(motion, 5)
    assert 0 <= corners.min() < 1 and 99 < corners.max() <= 100  # the whole scene, not more


def test_a_view_touching_the_edge_has_no_dark_fringe():
    scenes = torch.full((2, 1, 16, 16), 200, dtype=torch.uint8)
    side = 16 / math.sqrt(2)  # turned by 45°, its corners touch the middles of the edges
    rendered = render_views(scenes, motions((0, 1, 0, 8, 4, 4), (0, 1, 45, side, 8, 8)), 2, 16)
    assert (rendered == 200).all()  # samples within half a pixel of the edge are not darkened


def test_render_views_shape_dtype_and_chunks():
    scenes = random_scenes(7, 3, 48)
    motion, _, _ = draw_motions(7, 48, width=(16, 32), seed=5)
    whole = render_views(scenes, motion, 4, 12)
    assert whole.shape == (7, 4, 3, 12, 12) and whole.dtype == torch.uint8
    assert torch.equal(render_views(scenes, motion, 4, 12, chunk=3), whole)
    assert render_views(scenes[:0], draw_motions(0, 48, width=(16, 32))[0], 4, 12).shape == (
        0, 4, 3, 12, 12,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, r"^n=-1: expected a count of motions >= 0$"),
        ({"width": (0, 10)}, r"^width=\(0, 10\): expected \(low, high\) scene pixels"),
        ({"width": (30, 20)}, r"^width=\(30, 20\): expected \(low, high\)"),
        ({"width": (10, 46)}, r"^width=\(10, 46\): the widest view .* scene_size=64$"),
        ({"angle_edges": (0,)}, r"^angle_edges=\(0,\): expected at least 2 increasing"),
        ({"angle_edges": (10, 0, 20)}, r"^angle_edges=\(10, 0, 20\): expected at least 2 incr"),
        ({"zoom_edges": (0.9, 1.2)}, r"^zoom_edges=\(0.9, 1.2\): expected .* all >= 1$"),
        ({"zoom_edges": (1, 1, 2)}, r"^zoom_edges=\(1, 1, 2\): expected at least 2 increasing"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(kwargs, message):
    arguments = {"n": 3, "scene_size": 64, "width": (10, 40)} | kwargs
    with pytest.raises(ConfigError, match=message) as raised:
        draw_motions(**arguments)
    assert "\n" not in str(raised.value)


def test_a_view_fits_exactly_at_the_bound_and_views_need_two():
    draw_motions(3, 64, width=(10, 64 / math.sqrt(2)))  # turned by 45°, it touches every edge
    with pytest.raises(ConfigError, match=r"^views=1: expected at least 2"):
        view_corners(draw_motions(3, 64, width=(10, 40))[0], 1)


def test_bins_of_closes_the_last_bin_and_refuses_values_outside():
    values = torch.tensor([1.0, 1.1, 1.15, 1.75])  # float32
    assert bins_of(values, ZOOM_EDGES).tolist() == [0, 0, 1, 3]
    assert bins_of(values.to(torch.float64), ZOOM_EDGES).tolist() == [0, 0, 0, 3]  # 1.15f < 1.15
    assert bins_of(torch.tensor([-40, 0, 40]), ANGLE_EDGES).tolist() == [0, 2, 4]  # int64
    for outside in (0.99, 1.76, math.nan):
        with pytest.raises(ValueError, match="outside the edges"):
            bins_of(torch.tensor([1.2, outside]), ZOOM_EDGES)


def test_render_views_refuses_scenes_that_do_not_match():
    motion, _, _ = draw_motions(2, 32, width=(8, 16))
    for scenes in (torch.zeros(2, 3, 32, 32), torch.zeros(3, 3, 32, 32, dtype=torch.uint8)):
        with pytest.raises(ValueError, match=r"expected \(N, C, H, W\) uint8 with N = 2"):
            render_views(scenes, motion, 2, 8)
