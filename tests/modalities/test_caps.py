"""Every registered modality cap keeps the contract: input (B, …) → (B, out_dim), gradients flow."""

import pytest
import torch

from sharedspace.config import from_dict
from sharedspace.errors import ConfigError
from sharedspace.modalities import MODALITIES, ImageSpec, TextSpec, build_modality_cap

SPECS = {
    "image": (
        ImageSpec(3, 32, 32, (0.5,) * 3, (0.25,) * 3),
        lambda: torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8),
    ),
    "text": (TextSpec(vocab_size=50, seq_len=7), lambda: torch.randint(0, 50, (5, 7))),
}


@pytest.mark.parametrize("name", list(MODALITIES))
def test_cap_contract(name):
    cls = MODALITIES.get(name)
    spec, make_input = SPECS[cls.modality_kind]
    cap = cls(from_dict(cls.Config, {}), 40, spec)
    out = cap(make_input())
    assert cap.out_dim == 40 and out.shape == (5, 40)
    out.square().sum().backward()
    missing = [n for n, p in cap.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"no gradient reaches {missing}"


def test_image_cap_normalises_with_the_data_statistics():
    spec = ImageSpec(1, 8, 8, (0.5,), (0.25,))
    cap = MODALITIES.get("image_cnn")(from_dict(MODALITIES.get("image_cnn").Config, {}), 4, spec)
    assert torch.allclose(cap.mean.flatten(), torch.tensor([127.5]))
    assert torch.allclose(cap.std.flatten(), torch.tensor([63.75]))


def test_text_cap_depends_on_word_order():
    cls = MODALITIES.get("text_transformer")
    torch.manual_seed(0)
    cap = cls(from_dict(cls.Config, {}), 16, TextSpec(20, 5))
    x = torch.tensor([[1, 2, 3, 4, 5]])
    assert not torch.allclose(cap(x), cap(x.flip(1)))


def test_a_cap_given_the_wrong_kind_of_data_is_refused():
    with pytest.raises(ConfigError, match="reads image input, but the tasks using it give text"):
        build_modality_cap({"name": "image_cnn"}, 8, TextSpec(10, 4), "model.modalities.x")
