"""Every registered modality cap keeps the contract: cap(x, mask) → its declared form, gradients
flow, padding is respected."""

import pytest
import torch

from sharedspace.config import Component, from_dict
from sharedspace.data.specs import AudioSpec, BitsSpec, FeatureSpec, ImageSpec, TextSpec
from sharedspace.errors import ConfigError
from sharedspace.modalities import MODALITIES, build_modality_cap
from sharedspace.parts import collect
from sharedspace.representation import FORMS, PaddedSequence, form_of, width_of


def _audio() -> tuple[torch.Tensor, torch.Tensor]:
    batch = AudioSpec.toy().example(5, torch.Generator().manual_seed(0))
    return batch["x"], batch["x_mask"]


SPECS = {
    "audio": (AudioSpec.toy(), _audio),
    # a features cap passes vectors as they are: at the width of the test
    "features": (FeatureSpec(40), lambda: (torch.randn(5, 40, requires_grad=True), None)),
    "bits": (BitsSpec(20), lambda: (torch.randint(0, 2, (5, 20), dtype=torch.uint8), None)),
    "image": (
        ImageSpec(3, 32, 32, (0.5,) * 3, (0.25,) * 3),
        lambda: (torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8), None),
    ),
    "text": (
        TextSpec(vocab_size=50, seq_len=7),
        lambda: (
            torch.randint(3, 50, (5, 7)),
            torch.arange(7) < torch.tensor([7, 5, 3, 1, 7])[:, None],
        ),
    ),
}


def build(name: str, out_dim: int = 40, spec=None):
    cls = MODALITIES.get(name)
    spec = spec or SPECS[cls.modality_kind][0]
    return build_modality_cap(Component(name, config=from_dict(cls.Config, {})), out_dim, spec, "m")


@pytest.mark.parametrize("name", list(MODALITIES))
def test_cap_contract(name):
    cap = build(name)
    assert cap.produces in FORMS and isinstance(cap.aux_losses, tuple)
    x, mask = SPECS[cap.modality_kind][1]()
    out = cap(x, mask)  # only the output: aux losses are emitted, never returned
    assert set(collect(cap.modules())) <= set(cap.aux_losses)
    assert form_of(out) == cap.produces and cap.out_dim == 40
    values = out.values if isinstance(out, PaddedSequence) else out
    assert values.shape[0] == 5 and width_of(out) == 40
    if isinstance(out, PaddedSequence):  # from unpadded input (mask None) every position is real
        # a cap whose positions are not its input's (audio: frames downsampled from samples)
        # declares how it maps a mask; every other cap keeps its input's mask exactly
        maps = getattr(cap, "sequence_mask", lambda m: m)
        expected = maps(mask) if mask is not None else torch.ones_like(out.mask)
        assert torch.equal(out.mask, expected) and out.mask.any(1).all()
        values = values * out.mask.unsqueeze(-1)
    values.square().sum().backward()
    missing = [n for n, p in cap.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reaches {missing}"


@pytest.mark.parametrize(
    "name", [n for n in MODALITIES if MODALITIES.get(n).modality_kind == "text"]
)
def test_text_caps_ignore_what_is_behind_the_padding(name):
    torch.manual_seed(0)
    cap = build(name).eval()
    x, mask = SPECS["text"][1]()
    changed = x.masked_fill(~mask, 7)
    a, b = cap(x, mask), cap(changed, mask)
    if isinstance(a, PaddedSequence):
        keep = mask.unsqueeze(-1)
        assert torch.allclose(a.values * keep, b.values * keep, atol=1e-5)
    else:  # the flattening SUS cap reads every position: only attention skips the padding
        assert a.shape == b.shape


def test_image_cap_normalises_with_the_data_statistics():
    cap = build("image_cnn", 4, ImageSpec(1, 8, 8, (0.5,), (0.25,)))
    assert torch.allclose(cap.mean.flatten(), torch.tensor([127.5]))
    assert torch.allclose(cap.std.flatten(), torch.tensor([63.75]))


def test_text_cap_depends_on_word_order():
    torch.manual_seed(0)
    cap = build("text_transformer", 16, TextSpec(20, 5))
    x = torch.tensor([[1, 2, 3, 4, 5]])
    assert not torch.allclose(cap(x), cap(x.flip(1)))


def test_a_cap_given_the_wrong_kind_of_data_is_refused():
    with pytest.raises(ConfigError, match="reads image input, but the tasks using it give text"):
        build("image_cnn", 8, TextSpec(10, 4))


def test_pixels_pass_standardised_and_flat_at_the_images_size_and_are_embedded_otherwise():
    spec = SPECS["image"][0]
    x, _ = SPECS["image"][1]()
    flat = build("pixels", out_dim=3 * 32 * 32)
    expected = (x.float() / 255 - 0.5) / 0.25  # the spec's mean and std
    torch.testing.assert_close(flat(x), expected.flatten(1))
    assert not list(flat.parameters())
    assert build("pixels", out_dim=40, spec=spec)(x).shape == (5, 40)
