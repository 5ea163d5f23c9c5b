"""The Xception entry-flow cap: how many positions an image size gives, positions read row-major
from the grid, normalisation with the data's statistics, gradient flow, fitting a tiny batch."""

import pytest
import torch
import torch.nn.functional as F

from sharedspace.data.specs import ImageSpec
from sharedspace.modalities import ImageXception
from sharedspace.representation import PaddedSequence, masked_mean


def build(spec: ImageSpec, out_dim: int = 24, **config) -> ImageXception:
    torch.manual_seed(0)
    return ImageXception(ImageXception.Config(**config), out_dim, spec)


def gray(size: int) -> ImageSpec:
    return ImageSpec(1, size, size, (0.29,), (0.35,))


def images(n: int, spec: ImageSpec, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, spec.channels, spec.height, spec.width), generator=g).to(
        torch.uint8
    )


@pytest.mark.parametrize(
    ("spec", "config", "positions"),
    [
        (gray(28), {}, 16),  # 28 → 14 (stem) → 7 → 4
        (ImageSpec(3, 32, 32, (0.5,) * 3, (0.25,) * 3), {}, 16),  # 32 → 16 → 8 → 4
        (gray(48), {}, 36),  # 48 → 24 → 12 → 6
        (gray(28), {"block_channels": [8]}, 49),  # 28 → 14 → 7
        (
            ImageSpec(1, 28, 40, (0.5,), (0.25,)),
            {"block_channels": [8, 8, 8]},
            2 * 3,
        ),  # 28×40 → 14×20 → … → 2×3
    ],
)
def test_an_image_becomes_a_sequence_of_grid_positions(spec, config, positions):
    cap = build(spec, **config)
    out = cap(images(3, spec), None)
    assert isinstance(out, PaddedSequence) and out.values.shape == (3, positions, 24)
    assert out.mask.dtype == torch.bool and bool(out.mask.all())
    assert out.mask.shape == (3, positions)


def test_positions_are_the_grid_read_row_major():
    spec = ImageSpec(1, 20, 28, (0.5,), (0.25,))
    cap = build(spec)
    x = images(2, spec)
    normalised = (x.float() - 127.5) / 63.75
    grid = cap.entry_flow(normalised)  # (B, C', 3, 4)
    assert grid.shape[2:] == (3, 4)
    values = cap(x).values
    for i in range(3):
        for j in range(4):
            torch.testing.assert_close(values[:, 4 * i + j], cap.proj(grid[:, :, i, j]))


def test_images_are_standardised_with_the_data_statistics():
    spec = ImageSpec(1, 12, 12, (0.5,), (0.25,))
    cap = build(spec)
    assert torch.allclose(cap.mean.flatten(), torch.tensor([127.5]))
    assert torch.allclose(cap.std.flatten(), torch.tensor([63.75]))
    x = images(2, spec)
    shifted = build(ImageSpec(1, 12, 12, (0.6,), (0.25,)))
    assert not torch.allclose(cap(x).values, shifted(x).values)


def test_per_image_standardisation_ignores_the_data_statistics():
    spec = ImageSpec(1, 12, 12, (0.5,), (0.25,))
    cap = build(spec, per_image=True)
    x = images(3, spec)
    z = cap.standardise(x)
    torch.testing.assert_close(z.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(1, 2, 3), correction=0), torch.ones(3))
    flat = torch.full((1, 1, 12, 12), 200, dtype=torch.uint8)
    assert torch.equal(cap.standardise(flat), torch.zeros(1, 1, 12, 12))  # floored std: no NaN
    shifted = build(ImageSpec(1, 12, 12, (0.6,), (0.1,)), per_image=True)
    torch.testing.assert_close(cap(x).values, shifted(x).values)


def test_grey_read_as_rgb_is_the_grey_image_in_three_channels():
    grey = gray(16)
    rgb = ImageSpec(3, 16, 16, (0.5,) * 3, (0.25,) * 3)
    cap = build(grey, grey_to_rgb=True, per_image=True)
    assert cap.entry_flow[0][0].in_channels == 3  # the stem's first conv
    x = images(2, grey)
    colour = build(rgb, grey_to_rgb=True, per_image=True)  # same seed: same weights
    torch.testing.assert_close(cap(x).values, colour(x.expand(-1, 3, -1, -1)).values)


def test_grey_and_colour_problems_of_any_size_share_a_cap_set_to_read_them_alike():
    grey, rgb = gray(28), ImageSpec(3, 48, 48, (0.4, 0.5, 0.6), (0.2, 0.3, 0.25))
    shared = ImageXception.Config(grey_to_rgb=True, per_image=True)
    assert ImageXception.reads(shared, grey) == ImageXception.reads(shared, rgb)
    for alone in (ImageXception.Config(grey_to_rgb=True), ImageXception.Config(per_image=True)):
        assert ImageXception.reads(alone, grey) != ImageXception.reads(alone, rgb)


def test_every_parameter_gets_a_gradient():
    spec = gray(28)
    cap = build(spec)
    cap(images(4, spec)).values.square().sum().backward()
    missing = [n for n, p in cap.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reaches {missing}"


def test_the_cap_fits_a_tiny_batch(one_thread):
    """With a linear classifier on its mean position, eight random 28×28 images and labels."""
    spec = gray(28)
    cap = build(spec)
    head = torch.nn.Linear(24, 8)
    x, y = images(8, spec), torch.arange(8)
    optimizer = torch.optim.Adam([*cap.parameters(), *head.parameters()], lr=3e-3)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(head(masked_mean(cap(x))), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], losses
