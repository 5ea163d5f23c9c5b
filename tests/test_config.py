import dataclasses
import os
import re
import subprocess
import sys
import tracemalloc
import typing
from pathlib import Path

import pytest
import yaml

from sharedspace.config import (
    ExperimentConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
    config_changes,
    from_dict,
    load_yaml,
    parse_yaml,
    save_config,
    shipped_configs,
    to_dict,
    yaml_problem,
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
    bad = {**BASE, "seed": "zero", "train": {"batch_size": -1, "on_nonfinite": "halt"}}
    with pytest.raises(ConfigError) as info:
        load_config(data=bad)
    message = str(info.value)
    assert "seed: expected int, got 'zero'" in message
    assert "train.on_nonfinite: 'halt' is not one of" in message
    # names of registered parts are looked up once the types hold: all of them at once too
    bad = {**BASE, "train": {"optimizer": "lion", "schedule": "noam", "weighting": "famoo"}}
    with pytest.raises(ConfigError) as info:
        load_config(data=bad)
    message = str(info.value)
    assert "train.optimizer: 'lion' is not one of adam, adamw, sgd" in message
    assert "train.schedule: 'noam' is not one of" in message
    assert "train.weighting.name: unknown loss weighting 'famoo'" in message


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


# --- configs from other people: bounded memory, bounded messages, declared ranges (issue 33) ---


def alias_bomb(levels: int = 9, width: int = 10, flow: bool = False) -> str:
    """A "billion laughs": ``width`` aliases per level, ``levels`` deep, width**levels leaves."""
    anchors = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    anchors += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    if flow:
        return "[" + ", ".join(anchors) + "]"
    return "".join(f"a{i}: {anchor}\n" for i, anchor in enumerate(anchors))


def merge_bomb(levels: int = 12) -> str:
    """The same through merge keys: each mapping merges the last and lists it 4 times."""
    lines = ["m0: &m0 {a: lol, b: lol}"]
    lines += [
        f"m{i}: &m{i} {{<<: *m{i - 1}, l: [{', '.join([f'*m{i - 1}'] * 4)}]}}"
        for i in range(1, levels + 1)
    ]
    return "\n".join(lines) + "\n"


HOSTILE_ENTRIES = """
import resource, sys
from pathlib import Path
from sharedspace.cli import main
from sharedspace.errors import SharedSpaceError
from sharedspace.overrides import Override
from sharedspace.resolve import load_config
from sharedspace.runs import load_run

root, flow = Path(sys.argv[1]), sys.argv[2]
# from here on at most 512 MiB more: a regression ends in a quick MemoryError, not a full machine
status = open("/proc/self/status").read().split("VmSize:")[1].split()[0]
limit = int(status) * 1024 + (512 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
entries = {
    "validate": lambda: main(["validate", str(root / "bomb.yaml")]),
    "evaluate": lambda: main(["evaluate", str(root / "runs" / "bomb")]),
    "load_config": lambda: load_config(root / "bomb.yaml"),
    "load_run": lambda: load_run(root / "runs" / "bomb"),
    "report": lambda: main(["report", str(root / "runs")]),
    "override": lambda: load_config(root / "ok.yaml", ["seed=" + flow]),
    "override_parse": lambda: Override.parse("seed=" + flow),
    "dev_zero": lambda: load_config(root / "zero.yaml"),
    "sparse": lambda: load_config(root / "sparse.yaml"),
    "fifo": lambda: load_config(root / "fifo.yaml"),
}
for name, call in entries.items():
    try:
        call()
        print(name, "accepted", flush=True)
    except SystemExit as e:
        print(name, "exit", e.code, flush=True)
    except SharedSpaceError as e:
        print(name, "error", str(e).replace("\\n", " | ")[:300], flush=True)
    except BaseException as e:
        print(name, "crash", type(e).__name__, flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc")
def test_hostile_config_files_are_refused_at_every_entry_with_bounded_memory(tmp_path):
    """A 1.5 kB alias bomb (10⁹ leaves), as a config, a run's config.yaml and an override, and a
    config that is /dev/zero, a FIFO or a 2 MiB sparse file: each entry gives one error."""
    bomb = "name: bomb\ntasks: {}\n" + alias_bomb() + "seed: *a9\n"
    assert len(bomb) < 1600
    (tmp_path / "bomb.yaml").write_text(bomb)
    (tmp_path / "ok.yaml").write_text("name: ok\ntasks: {}\n")
    run = tmp_path / "runs" / "bomb"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(bomb)
    (run / "metrics.jsonl").write_text("")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.yaml")
    with open(tmp_path / "sparse.yaml", "wb") as f:
        f.truncate(2 << 20)
    child = subprocess.run(
        [sys.executable, "-c", HOSTILE_ENTRIES, str(tmp_path), alias_bomb(flow=True)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = dict(line.split(" ", 1) for line in child.stdout.splitlines())
    assert set(lines) == {
        *("validate", "evaluate", "load_config", "load_run", "report", "override"),
        *("override_parse", "dev_zero", "sparse", "fifo"),
    }, child.stderr[-2000:]
    assert lines["validate"] == lines["evaluate"] == lines["report"] == "exit 2"
    assert child.stderr.count("sharedspace: error:") == 3 and "internal" not in child.stderr
    assert child.stderr.count("aliases expand this past") == 3
    assert f"sharedspace: error: {run / 'config.yaml'}: not valid YAML" in child.stderr
    for name in ("load_config", "load_run", "override", "override_parse"):
        assert lines[name].startswith("error") and "aliases expand this past" in lines[name]
    assert lines["load_run"].startswith(f"error {run / 'config.yaml'}: not valid YAML")
    assert "not a regular file" in lines["dev_zero"] and "not a regular file" in lines["fifo"]
    assert "2,097,152 bytes, more than the 1,048,576 expected" in lines["sparse"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            alias_bomb(),
            r"aliases expand this past 71,436 nodes and characters \(line 5, column 5\)",
        ),
        (alias_bomb(flow=True), r"aliases expand this past"),
        (alias_bomb(levels=30, width=2), r"aliases expand this past"),  # 2³⁰ in 30 lines
        ("s: &s " + "x" * 10_000 + "\nl: [" + "*s, " * 99 + "*s]", r"aliases expand this past"),
        (merge_bomb(), r"aliases expand this past"),
        ("&a [*a]", r"alias \*a inside its own anchor \(line 1, column 5\)"),
        ("a: &a {b: {c: *a}}", r"alias \*a inside its own anchor"),
        ("[" * 1000 + "]" * 1000, r"nested deeper than 32 levels"),
        ("".join("  " * i + "a:\n" for i in range(100)), r"nested deeper than 32 levels"),
        ("seed: " + "1" * 5000, r"cannot read '1111.*' \(Exceeds the limit \(4300 digits\)"),
        ("date: 2020-13-01", r"cannot read '2020-13-01' \(month must be in 1\.\.12\)"),
    ],
    ids=[
        *("bomb", "flow", "binary", "long_string", "merge", "loop", "loop_map"),
        *("deep", "deep_block", "long_int", "bad_date"),
    ],
)
def test_yaml_that_would_expand_or_recurse_is_refused_while_composing(text, problem):
    tracemalloc.start()
    try:
        with pytest.raises(yaml.YAMLError) as info:
            parse_yaml(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert re.search(problem, yaml_problem(info.value)) and "\n" not in yaml_problem(info.value)
    assert peak < 16 << 20  # the text's nodes, never their expansion


def test_aliases_that_stay_small_still_load(tmp_path):
    task = "{kind: classification, modality: image, data: %s}"
    text = "name: x\ntasks:\n  t: " + task % "&d {source: fashion_mnist}" + "\n"
    text += "".join(f"  t{i}: {task % '*d'}\n" for i in range(9))
    (tmp_path / "c.yaml").write_text(text)
    assert len(load_config(tmp_path / "c.yaml").tasks) == 10
    shared = [1, 2, 3]
    dumped = yaml.safe_dump({"a": shared, "b": shared})  # safe_dump writes anchors itself
    assert "&id001" in dumped and parse_yaml(dumped) == {"a": shared, "b": shared}


def test_messages_quote_values_and_keys_short_and_list_at_most_50_problems():
    huge = "x" * 100_000
    bad = {
        **BASE,
        "seed": [huge] * 1000,
        "train": {"on_nonfinite": huge, "batch_size": {huge: huge}},
        "model": {"modalities": {huge: 5}},
    }
    with pytest.raises(ConfigError) as info:
        load_config(data=bad)
    message = str(info.value)
    assert len(message) < 1000 and "seed: expected int, got ['xxxxxxxxxxxx" in message
    assert "train.on_nonfinite: 'xxxxxxx" in message and "model.modalities.xxxxxxxxx" in message
    with pytest.raises(ConfigError) as info:
        load_config(data={**BASE, **{f"unknown{i}": huge for i in range(100)}})
    assert str(info.value).endswith("unknown49: unknown key\n  … and 50 more")
    # the checks after the types: a run name, task names, keep_best and data sources
    task = {"kind": "classification", "modality": huge, "data": {"source": huge}}
    tasks = {huge + "/": task, "t": {**task, "kind": huge}}
    with pytest.raises(ConfigError) as info:
        load_config(data={"name": huge + "/", "tasks": tasks, "train": {"keep_best": huge}})
    message = str(info.value)
    # bounded: each value cut to 60 characters; the known datasets listed once (27 names today)
    assert len(message) < 2000 and message.count("\n") == 7, message
    assert "name: 'xxxxxxx" in message and "tasks.xxxxxx" in message
    assert "tasks.t.kind: unknown task kind 'xxxxxxx" in message
    assert (
        "tasks.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx....data.source: unknown dataset 'xxx"
        in message
    )
    with pytest.raises(ConfigError, match=r"is 'xxxxxx.*', not a mapping") as info:
        apply_overrides({"name": huge}, ["name.x=1"])
    assert len(str(info.value)) < 300
    with pytest.raises(ConfigError, match=r"imports: expected a list") as info:
        load_config(data={**BASE, "imports": {huge: [huge] * 100}})
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.weight_decay=-1", "train.weight_decay: must be ≥ 0, got -1.0"),
        ("seed=1e30", "seed: must be ≥ 0 and ≤ 4294967295, got 1000000000000000019884624838656"),
        ("seed=-1", "seed: must be ≥ 0 and ≤ 4294967295, got -1"),
        ("train.warmup_steps=-5", "train.warmup_steps: must be ≥ 0, got -5"),
        ("train.min_lr_ratio=2", "train.min_lr_ratio: must be ≥ 0 and ≤ 1, got 2.0"),
        ("train.lr=0", "train.lr: must be > 0, got 0.0"),
        ("train.lr=.nan", "train.lr: expected a finite number, got nan"),
        ("train.lr=-.inf", "train.lr: expected a finite number, got -inf"),
        ("train.lr=1" + "0" * 400, "train.lr: expected a finite number, got 1000"),
        ("train.epochs=1e30", "train.epochs: must be > 0 and ≤ 9223372036854775807, got 1"),
        ("train.max_steps=0", "train.max_steps: must be > 0, got 0"),
        ("train.eval_every=-1", "train.eval_every: must be > 0, got -1"),
        ("train.transfer_every=-1", "train.transfer_every: must be ≥ 0, got -1"),
        ("model.width=0", "model.width: must be > 0, got 0"),
        ("train.aux_loss_weights={balance: -1}", "train.aux_loss_weights.balance: must be ≥ 0"),
        ("train.aux_loss_weights={balance: .inf}", "aux_loss_weights.balance: expected a finite"),
        ("model.space.hidden=[1e30]", "model.space.hidden.0: 1000000000000000019884624838656 does"),
    ],
)
def test_numbers_out_of_their_range_name_the_key_and_the_range(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(data=BASE, overrides=[override])
    assert message in str(info.value)


def _numbers(tp) -> bool:
    """Whether a field's type holds numbers: int, float, optional, or a collection of them."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return tp in (int, float) or any(_numbers(a) for a in args)


@pytest.mark.parametrize("schema", [ExperimentConfig, ModelConfig, TrainConfig, TaskConfig])
def test_every_number_field_of_the_schemas_declares_its_range(schema):
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        assert not _numbers(hints[f.name]) or "range" in f.metadata, f.name
        assert _numbers(hints[f.name]) or "range" not in f.metadata, f.name


def test_a_bad_config_file_is_one_line_naming_where(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntasks: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML: .*\(line 3, column 1\)$"):
        load_config(path)
    path.write_bytes(b"name: \xff\xfe\ntasks: {}\n")  # not UTF-8: read, never a crash
    assert load_yaml(path)["name"] == "\ufffd\ufffd"


def test_a_config_starts_from_its_base_and_changes_only_what_it_sets(tmp_path):
    """``base:`` reads another file first: a new task is added, a task's data changes only the
    keys given, a section naming another part replaces the base's, and the packaged joint
    config can be a base by name."""
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "base.yaml").write_text(yaml.safe_dump({
        **BASE, "model": {"space": {"name": "sus", "hidden": [32]}}, "train": {"lr": 0.01},
    }))  # fmt: skip
    (tmp_path / "variant.yaml").write_text(
        "base: parts/base.yaml\nname: variant\n"
        "tasks:\n  cls: {data: {val_size: 100}}\n"
        "  rec: {kind: reconstruction, modality: image, data: {source: fashion_mnist}}\n"
        "model: {space: {name: moe, experts: 4}}\n"
    )
    cfg = load_config(tmp_path / "variant.yaml")
    assert (cfg.name, list(cfg.tasks), cfg.train.lr) == ("variant", ["cls", "rec"], 0.01)
    assert cfg.tasks["cls"].data.name == "fashion_mnist"
    assert cfg.tasks["cls"].data.config.val_size == 100
    assert cfg.model.space.name == "moe" and "hidden" not in cfg.model.space.params
    (tmp_path / "more.yaml").write_text("base: variant.yaml\nseed: 7\n")  # a base of a base
    assert load_config(tmp_path / "more.yaml").model.space.config.experts == 4
    (tmp_path / "asr.yaml").write_text("base: multimodel/joint\nname: joint-plus\n")
    assert list(load_yaml(tmp_path / "asr.yaml")["tasks"])[:2] == ["classify", "en_de"]


def test_a_base_cycle_or_a_missing_base_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nname: b\n")
    with pytest.raises(
        ConfigError,
        match=r"b\.yaml: base: a\.yaml makes a cycle \(.*a\.yaml → .*b\.yaml → .*a\.yaml\)$",
    ):
        load_yaml(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: config file not found"):
        load_yaml(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [a.yaml]\n")
    with pytest.raises(
        ConfigError, match=r"d\.yaml: base: expected the path of a config file, got \['a\.yaml'\]$"
    ):
        load_yaml(tmp_path / "d.yaml")
