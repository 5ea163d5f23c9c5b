import pytest

from sharedspace.config import load_yaml
from sharedspace.errors import ConfigError
from sharedspace.overrides import Override, apply_overrides
from sharedspace.resolve import load_config
from tests.test_config import alias_bomb

IMAGE = {"kind": "classification", "modality": "image", "data": {"source": "fashion_mnist"}}
TEXT = {"kind": "language_model", "modality": "text", "data": {"source": "fortunes"}}
BASE = {"name": "x", "tasks": {"cls": IMAGE, "next": TEXT}}


def test_numbers_in_any_spelling_in_files_and_overrides(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        "name: x\ntasks: {cls: {kind: classification, modality: image,\n"
        "  data: {source: fashion_mnist}}}\ntrain: {lr: 3e-4, weight_decay: 1E-2}\n"
    )
    assert load_yaml(path)["train"] == {"lr": 3e-4, "weight_decay": 1e-2}
    cfg = load_config(path, ["train.min_lr_ratio=5e-2", "train.max_steps=1e3", "seed=+1"])
    assert (cfg.train.lr, cfg.train.min_lr_ratio) == (3e-4, 0.05)
    assert cfg.train.max_steps == 1000 and isinstance(cfg.train.max_steps, int)
    with pytest.raises(ConfigError, match=r"train\.max_steps: expected int, got 2\.5"):
        load_config(path, ["train.max_steps=2.5"])
    assert Override.parse("a=1.5e3").value == 1500.0
    assert Override.parse("a=.5e-1").value == 0.05
    assert Override.parse("a=1e3x").value == "1e3x"  # not a number: a string


def test_an_override_merges_into_a_section_the_file_leaves_out():
    cfg = load_config(data=BASE, overrides=["model.space.hidden=[256, 256]"])
    assert cfg.model.space.name == "sus" and cfg.model.space.config.hidden == [256, 256]
    cfg = load_config(data=BASE, overrides=["model.modalities.image.channels=[16, 32]"])
    assert list(cfg.model.modalities) == ["image", "text"]  # the text cap is kept
    assert cfg.model.modalities["image"].name == "image_cnn"
    assert cfg.model.modalities["image"].config.channels == [16, 32]


def test_an_override_keeps_the_rest_of_a_section_the_file_sets():
    data = {**BASE, "model": {"space": {"name": "sus", "out_dim": 256}}}
    cfg = load_config(data=data, overrides=["model.space.hidden=[64]"])
    assert (cfg.model.space.config.hidden, cfg.model.space.config.out_dim) == ([64], 256)


def test_a_bare_name_opens_into_a_section():
    data = {**BASE, "train": {"sampler": "k_of_n", "weighting": "dwa"}}
    cfg = load_config(data=data, overrides=["train.sampler.k=2", "train.weighting.temperature=4"])
    assert (cfg.train.sampler.name, cfg.train.sampler.config.k) == ("k_of_n", 2)
    assert (cfg.train.weighting.name, cfg.train.weighting.config.temperature) == ("dwa", 4.0)
    cfg = load_config(data=data, overrides=["train.weighting.name=rlw"])
    assert cfg.train.weighting.name == "rlw"


def test_a_section_without_its_name_takes_the_default_name():
    cfg = load_config(data={**BASE, "model": {"space": {"out_dim": 128}}})
    assert cfg.model.space.name == "sus" and cfg.model.space.config.out_dim == 128
    with pytest.raises(ConfigError, match=r"model\.modalities\.image\.name: missing"):
        load_config(data={**BASE, "model": {"modalities": {"image": {"channels": [8]}}}})


def test_setting_a_whole_section_replaces_it():
    data = {**BASE, "train": {"sampler": "all", "weighting": {"name": "dwa", "temperature": 4}}}
    cfg = load_config(data=data, overrides=["train.weighting=rlw"])
    assert cfg.train.weighting.name == "rlw"


def test_adding_and_deleting_keys():
    cfg = load_config(data=BASE, overrides=["~tasks.next", "~model.modalities.text"])
    assert list(cfg.tasks) == ["cls"] and list(cfg.model.modalities) == ["image"]
    cfg = load_config(data={"name": "x", "tasks": {}}, overrides=["+tasks.a=" + str(IMAGE)])
    assert list(cfg.tasks) == ["a"] and cfg.tasks["a"].kind == "classification"
    data = {**BASE, "train": {"max_steps": 5}}
    assert load_config(data=data, overrides=["~train.max_steps"]).train.max_steps is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tasks.clss.kind=reconstruction", r"tasks\.clss is not in the config; add it with \+"),
        ("+tasks.cls={}", r"tasks\.cls is already in the config; set it with tasks\.cls="),
        ("+train.lr=1", r"train\.lr is already in the config"),
        ("~train.max_steps", r"train\.max_steps is not set; nothing to drop"),
        ("~tasks.nope", r"tasks\.nope is not set"),
        ("name.x=1", r"name is 'x', not a mapping"),
        ("~seed=1", r"takes no value"),
        ("train.lr", r"expected key=value, \+key=value or ~key"),
        ("=1", r"expected key=value"),
        ("train..lr=1", r"expected key=value"),
        ("train.lr=[1,", r"not valid YAML: expected the node content, .* at column 4 of the value"),
        (
            "train.lr=!!python/object:os.system x",
            r"not valid YAML: could not determine a constructor",
        ),
        ("train.lr=a: b: c", r"not valid YAML: mapping values are not allowed here at column 5"),
    ],
)
def test_bad_overrides_are_one_line_errors_naming_the_override(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        apply_overrides({"name": "x", "tasks": {"cls": dict(IMAGE)}}, [override])
    assert repr(override) in str(info.value) and "\n" not in str(info.value)


def test_overrides_edit_a_copy_of_given_data():
    load_config(data=BASE, overrides=["~tasks.next"])
    assert "next" in BASE["tasks"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (alias_bomb(flow=True), "aliases expand this past"),
        ("&a [*a]", r"alias \*a inside its own anchor at column 5"),
        ("[" * 100 + "]" * 100, "nested deeper than 32 levels at column 33"),
        ("1" * 5000, r"cannot read '1111.*' \(Exceeds the limit"),
    ],
    ids=["alias_bomb", "loop", "deep", "long_int"],
)
def test_an_override_that_would_expand_or_recurse_is_a_one_line_error(value, message):
    with pytest.raises(
        ConfigError, match=rf"override 'seed=.*': not valid YAML: {message}"
    ) as info:
        Override.parse(f"seed={value}")
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
