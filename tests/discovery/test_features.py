import pytest
import torch

from sharedspace.discovery.features import FeatureConfig, RandomResNet, random_features
from sharedspace.discovery.networks import NetConfig, SmallConvNet
from sharedspace.errors import ConfigError


def images(*shape: int, n: int = 20) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("in_shape", "channels", "size"),
    [((1, 28, 28), 3, 8), ((1, 28, 28), 3, 4), ((3, 32, 32), 3, 8), ((3, 32, 32), 5, 4)],
)
def test_features_have_the_configured_shape(in_shape, channels, size):
    out = random_features(images(*in_shape), FeatureConfig(channels=channels, size=size))
    assert out.shape == (20, channels, size, size)


def test_features_depend_on_the_seed_alone():
    x = images(1, 28, 28)
    a = random_features(x, FeatureConfig(seed=3))
    torch.manual_seed(123)  # the global RNG must not matter
    assert torch.equal(a, random_features(x, FeatureConfig(seed=3)))
    assert not torch.allclose(a, random_features(x, FeatureConfig(seed=4)))


def test_building_and_applying_leave_the_global_rng_alone():
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    random_features(images(1, 28, 28), FeatureConfig())
    assert torch.equal(torch.random.get_rng_state(), state)


def test_network_is_frozen_and_in_eval_mode():
    net = RandomResNet(FeatureConfig(), in_channels=1)
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())


def test_batch_size_does_not_change_the_features():
    x = images(1, 28, 28)
    cfg = FeatureConfig()
    assert torch.allclose(random_features(x, cfg, batch_size=7), random_features(x, cfg), atol=1e-5)


def test_features_are_standardised_per_channel():
    out = random_features(images(3, 32, 32), FeatureConfig(channels=4))
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(out.std(dim=(0, 2, 3), correction=0), torch.ones(4), atol=1e-5)


def test_features_do_not_depend_on_the_images_scale():
    x = images(1, 28, 28)
    assert torch.allclose(
        random_features(x, FeatureConfig()), random_features(255 * x, FeatureConfig()), atol=1e-4
    )


@pytest.mark.parametrize("size", [8, 4])
def test_small_conv_net_takes_the_features(size):
    out = random_features(images(1, 28, 28), FeatureConfig(size=size))
    logits = SmallConvNet(NetConfig(), (3, size, size))(out)
    assert logits.shape == (20, 2)


@pytest.mark.parametrize(
    ("key", "value"), [("size", 0), ("channels", 0), ("blocks", -1), ("width", 0)]
)
def test_bad_config_values_name_the_key_and_value(key, value):
    with pytest.raises(ConfigError, match=f"^{key} must be at least .*, got {value}"):
        FeatureConfig(**{key: value})


def test_size_larger_than_the_images_is_refused():
    with pytest.raises(ConfigError, match=r"features\.size 8 is larger than the images' 6×6"):
        random_features(images(1, 6, 6), FeatureConfig(size=8))
