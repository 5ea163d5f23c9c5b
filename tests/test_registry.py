import pytest

from sharedspace.errors import ConfigError
from sharedspace.registry import Registry


def test_register_and_get():
    reg = Registry("widget")

    @reg.register("a")
    class A:
        pass

    assert reg.get("a") is A
    assert "a" in reg and list(reg) == ["a"]


def test_duplicate_name_is_an_error():
    reg = Registry("widget")
    reg.register("a")(object)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(object)


def test_unknown_name_lists_known_ones():
    reg = Registry("widget")
    reg.register("alpha")(object)
    reg.register("beta")(object)
    with pytest.raises(ConfigError, match=r"unknown widget 'gamma'; known: alpha, beta"):
        reg.get("gamma")
