import itertools

import pytest
import torch

from sharedspace.data.states import DIM, FRAME, STATES, TINTS, apply_state


def garments(n: int = 4) -> torch.Tensor:
    """(n, 1, 28, 28) uint8: a bright, asymmetric object (an L of two bars) on black, shifted a
    little per picture."""
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    for i in range(n):
        x[i, 0, 6 + i : 22, 8:14] = 200 + 10 * i  # the upright bar
        x[i, 0, 18:22, 8 : 20 + i] = 230  # the foot, to the right
    return x


@pytest.mark.parametrize("name", list(STATES))
def test_every_state_is_a_visible_deterministic_colour_picture(name):
    x = garments()
    out = apply_state(name, x)
    assert out.shape == (4, 3, 28, 28) and out.dtype == torch.uint8
    assert torch.equal(out, apply_state(name, x))
    plain = x.expand(-1, 3, -1, -1).float()
    assert (out.float() - plain).abs().mean() > 4  # visibly changed, on average per pixel
    assert torch.equal(apply_state(name, x.expand(-1, 3, -1, -1).contiguous()), out)  # grey = RGB


def test_no_two_states_give_the_same_pictures():
    x = garments()
    outs = {name: apply_state(name, x).float() for name in STATES}
    for a, b in itertools.combinations(outs, 2):
        assert (outs[a] - outs[b]).abs().mean() > 2, (a, b)


def test_tints_colour_the_object_and_leave_the_background_black():
    x = garments()
    for name, rgb in TINTS.items():
        out = apply_state(name, x).float()
        strongest = max(range(3), key=lambda c: rgb[c])
        obj = x[:, 0] > 0
        for c in range(3):
            if c != strongest:
                assert (out[:, strongest][obj] > out[:, c][obj]).all(), name
        assert (out[:, :, ~obj.any(0)] == 0).all()


def test_geometric_states_move_the_object_as_named():
    x = garments(1)
    rotated = apply_state("rotated", x)[0, 0]
    assert torch.equal(rotated, x[0, 0].rot90(-1))  # a quarter turn clockwise
    small = apply_state("small", x)[0, 0].float()
    large = apply_state("large", x)[0, 0].float()
    area = (x[0, 0] > 100).sum()
    assert (small > 100).sum() < 0.5 * area < 2 * area < (large > 100).sum()
    assert small[:5].sum() == 0 and small[:, -5:].sum() == 0  # shrunk away from the border


def test_textures_keep_bands_and_dots_and_dim_the_rest():
    x = torch.full((1, 1, 8, 8), 200, dtype=torch.uint8)
    striped = apply_state("striped", x)[0, 0]
    assert striped[0].eq(200).all() and striped[1].eq(200).all()
    assert striped[2].eq(round(200 * DIM)).all() and striped[3].eq(round(200 * DIM)).all()
    dotted = apply_state("dotted", x)[0, 0]
    assert dotted[0, 0] == dotted[1, 1] == 200 and dotted[0, 2] == dotted[2, 0] == round(200 * DIM)


def test_outline_blur_negative_and_frame():
    x = torch.zeros(1, 1, 12, 12, dtype=torch.uint8)
    x[0, 0, 3:9, 3:9] = 255
    outlined = apply_state("outlined", x)[0, 0]
    assert outlined[5, 5] == 0 and outlined[3, 5] == 255 and outlined[2, 5] == 255
    blurred = apply_state("blurred", x)[0, 0].float()
    assert 0 < blurred[1, 5] < blurred[3, 5] < blurred[5, 5] < 255
    assert blurred.sum().item() == pytest.approx(x.float().sum().item(), rel=0.02)  # spread, kept
    inverted = apply_state("inverted", x)[0, 0]
    assert inverted[0, 0] == 255 and inverted[5, 5] == 0
    framed = apply_state("framed", x)[0]
    assert framed[:, :FRAME].eq(255).all() and framed[:, :, -FRAME:].eq(255).all()
    assert torch.equal(framed[0, FRAME:-FRAME, FRAME:-FRAME], x[0, 0, FRAME:-FRAME, FRAME:-FRAME])


def test_a_state_refuses_what_is_not_uint8_pictures():
    with pytest.raises(ValueError, match="uint8 images"):
        apply_state("red", torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="uint8 images"):
        apply_state("red", torch.zeros(2, 2, 8, 8, dtype=torch.uint8))
