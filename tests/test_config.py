import dataclasses

import pytest

from sharedspace.config import (
    ExperimentConfig,
    config_changes,
    from_dict,
    save_config,
    shipped_configs,
    to_dict,
)
from sharedspace.errors import ConfigError
from sharedspace.overrides import apply_overrides
from sharedspace.resolve import load_config

CONFIGS = shipped_configs()
BASE = {
    "name": "x",
    "tasks": {
        "cls": {"kind": "classification", "modality": "image", "data": {"source": "fashion_mnist"}}
    },
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_is_valid(path):
    cfg = load_config(path)
    assert cfg.tasks


def test_shipped_configs_exist():
    assert len(CONFIGS) >= 6


def test_defaults_fill_what_the_yaml_leaves_out():
    cfg = load_config(data=BASE)
    assert cfg.model.width == 2048 and cfg.model.space.name == "sus"
    assert cfg.model.space.config.hidden == [1024, 1024]  # resolved once, with its defaults
    assert cfg.train.batch_size == 128
    assert cfg.tasks["cls"].data.config.val_size == 5000


def test_typo_names_the_key_and_suggests_the_fix():
    with pytest.raises(ConfigError, match=r"train\.lrr: unknown key \(did you mean 'lr'\?\)"):
        load_config(data=BASE, overrides=["train.lrr=0.1"])


def test_every_problem_is_listed_at_once():
    bad = {**BASE, "seed": "zero", "train": {"batch_size": -1, "optimizer": "lion"}}
    with pytest.raises(ConfigError) as info:
        load_config(data=bad)
    message = str(info.value)
    assert "seed: expected int, got 'zero'" in message
    assert "train.optimizer: 'lion' is not one of" in message


def test_values_are_checked_after_types():
    with pytest.raises(ConfigError, match=r"train\.batch_size: must be > 0, got -1"):
        load_config(data=BASE, overrides=["train.batch_size=-1"])


def test_unknown_registry_names_and_component_params():
    with pytest.raises(ConfigError) as info:
        load_config(
            data=BASE,
            overrides=[
                "model.space.name=sus",
                "model.space.widht=3",
                "tasks.cls.kind=classifcation",
                "tasks.cls.modality=audio",
            ],
        )
    message = str(info.value)
    assert "model.space.widht: unknown key" in message
    assert "unknown task kind 'classifcation'" in message
    assert "tasks.cls.modality: 'audio' is not in model.modalities" in message


def test_missing_required_key():
    with pytest.raises(ConfigError, match=r"tasks\.cls\.kind: missing required key"):
        load_config(data={"name": "x", "tasks": {"cls": {"modality": "image", "data": {}}}})


def test_overrides_parse_yaml_values():
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2.5", "a.c=[1, 2]", "d=null"])
    assert data == {"a": {"b": 2.5, "c": [1, 2]}, "d": None}


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["train.lr"])


def test_bad_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("tasks: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_saved_config_loads_back_equal(tmp_path):
    cfg = load_config(data=BASE, overrides=["train.lr=0.01", "seed=3"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert isinstance(again, ExperimentConfig) and again == cfg


def test_a_bare_name_is_a_component_and_the_saved_config_lists_its_defaults(tmp_path):
    cfg = load_config(data=BASE, overrides=["train.sampler=temperature", "model.space=none"])
    assert cfg.train.sampler.name == "temperature" and cfg.model.space.name == "none"
    assert cfg.train.sampler.config.temperature == 2.0
    save_config(cfg, tmp_path / "config.yaml")
    saved = (tmp_path / "config.yaml").read_text()
    assert "sampler:\n    name: temperature\n    temperature: 2.0" in saved
    assert "source: fashion_mnist" in saved and "val_size: 5000" in saved


def test_config_changes_lists_dotted_differences_with_values():
    old = load_config(data=BASE)
    new = load_config(data=BASE, overrides=["train.lr=0.5", "tasks.cls.data.val_size=7"])
    changes = config_changes(to_dict(old), to_dict(new))
    assert list(changes) == ["tasks.cls.data.val_size", "train.lr"]
    assert changes["train.lr"] == [old.train.lr, new.train.lr]
    assert config_changes(to_dict(old), to_dict(old)) == {}


def test_tuples_are_written_as_lists_and_checked_item_by_item():
    @dataclasses.dataclass(frozen=True)
    class Net:
        channels: tuple[int, int] = (6, 16)
        widths: tuple[float, ...] = ()

    assert from_dict(Net, {"channels": [4, 8], "widths": [1, 2.5]}) == Net((4, 8), (1.0, 2.5))
    assert to_dict(Net((4, 8))) == {"channels": [4, 8], "widths": []}
    with pytest.raises(ConfigError) as info:
        from_dict(Net, {"channels": [4], "widths": [1, "x"]})
    assert "channels: expected tuple[int, int], got [4]" in str(info.value)
    assert "widths.1: expected float, got 'x'" in str(info.value)
