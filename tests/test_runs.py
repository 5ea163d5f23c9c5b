"""A run folder read back: final, best and latest weights load into a model that predicts what
the run measured; the folder keeps one resume checkpoint, the weights and the results table."""

import json
import os
import stat

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sharedspace.errors import CheckpointError, ConfigError
from sharedspace.resolve import load_config
from sharedspace.runs import evaluate_run, load_run
from sharedspace.train.checkpoint import save_checkpoint
from sharedspace.train.trainer import train
from tests.test_cli import run_cli
from tests.tiny import tiny_config
from tests.train.test_trainer import ALL


@pytest.fixture(scope="module")
def finished(tiny_data_dir, tmp_path_factory):
    """Three tasks trained 30 steps, validated every 4, keeping the best classification loss."""
    out = tmp_path_factory.mktemp("runs")
    cfg = tiny_config(
        tiny_data_dir, out, tasks=ALL, max_steps=30, eval_every=4, checkpoint_every=3,
        keep_best="classification.loss", lr=0.003,
    )  # fmt: skip
    return train(cfg)


def test_the_run_folder_keeps_one_checkpoint_and_the_weights(finished):
    files = sorted(p.name for p in finished.run_dir.iterdir())
    assert {"best.safetensors", "model.safetensors", "config.yaml", "run.json"} <= set(files)
    assert {"results.json", "results.md", "results.csv", "metrics.jsonl"} <= set(files)
    checkpoints = [p.name for p in (finished.run_dir / "checkpoints").glob("step_*.pt")]
    assert checkpoints == [f"step_{finished.steps:08d}.pt"]
    weights = (finished.run_dir / "model.safetensors").stat().st_size
    checkpoint = (finished.run_dir / "checkpoints" / checkpoints[0]).stat().st_size
    assert weights < checkpoint / 2  # no optimizer moments in the weights
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((finished.run_dir / "model.safetensors").stat().st_mode) == 0o666 & ~umask


def test_final_weights_predict_what_the_run_measured(finished):
    run = load_run(finished.run_dir)
    assert run.names == list(ALL) and run.info["step"] == finished.steps
    for name, weight in finished.model.state_dict().items():
        assert torch.equal(weight.cpu(), run.model.state_dict()[name]), name
    task = run.task("classification")
    batch = task.data.splits["test"].get(torch.arange(len(task.data.splits["test"])))
    correct = run.predict("classification", batch).argmax(1) == batch["y"]
    assert correct.double().mean() == pytest.approx(
        finished.metrics["test"]["classification"]["accuracy"]
    )
    assert run.predict("reconstruction", batch).shape == batch["x"].shape  # (B, 1, 28, 28)
    evaluated = evaluate_run(finished.run_dir, "test", "final")
    for name, values in finished.metrics["test"].items():
        assert evaluated[name] == pytest.approx(values)


def test_best_weights_are_those_of_the_best_validation(finished):
    records = [json.loads(line) for line in (finished.run_dir / "metrics.jsonl").open()]
    validation = [
        (r["loss"], r["step"])
        for r in records
        if r["split"] == "validation" and r["task"] == "classification"
    ]
    assert len(validation) == 8
    value, step = min(validation)  # the lowest loss (at its earliest step)
    run = load_run(finished.run_dir, "best")
    assert run.info["step"] == step and run.info["value"] == pytest.approx(value)
    assert run.info["metric"] == "classification.loss"
    measured = evaluate_run(finished.run_dir, "validation", "best")
    assert measured["classification"]["loss"] == pytest.approx(value)


def test_missing_or_mismatched_weights_are_one_line_errors(finished, tiny_data_dir, tmp_path):
    unfinished = train(tiny_config(tiny_data_dir, tmp_path, max_steps=2))
    (unfinished.run_dir / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no final weights .*weights='latest'"):
        load_run(unfinished.run_dir)
    with pytest.raises(CheckpointError, match=r"set train\.keep_best"):
        load_run(unfinished.run_dir, "best")
    assert load_run(unfinished.run_dir, "latest").info["step"] == 2
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_run(unfinished.run_dir, finished.run_dir / "model.safetensors")


def test_keep_best_must_name_a_task_and_a_metric_with_a_goal(tiny_data_dir, tmp_path):
    for value, message in [
        ("labels.accuracy", r"'labels.accuracy' is not task.metric with a task of this config"),
        ("classification.mse", "a classification task reports loss, accuracy"),
    ]:
        with pytest.raises(ConfigError, match=message):
            tiny_config(tiny_data_dir, tmp_path, keep_best=value)


def test_the_cli_evaluates_named_weights_and_writes_a_report(capsys, finished):
    status, out, err = run_cli(capsys, "evaluate", finished.run_dir, "--weights", "best")
    assert status == 0, err
    assert set(json.loads(out)) == set(ALL)
    status, out, err = run_cli(capsys, "report", finished.run_dir)
    assert status == 0, err
    page = (finished.run_dir / "report.html").read_text()
    assert f'id="run-{finished.run_dir.name}"' in page and 'class="curves"' in page
    status, _, err = run_cli(capsys, "report", finished.run_dir, finished.run_dir.parent)
    assert status == 2 and "several folders need --out" in err


def test_load_config_reads_a_run_folders_config(finished):
    cfg = load_config(finished.run_dir / "config.yaml")
    assert cfg.train.keep_best == "classification.loss" and cfg.train.keep_checkpoints == 1


CATASTROPHIC = {"type": "Replace", "pattern": {"Regex": r"(\w+\s?)+$"}, "content": ""}


@pytest.fixture(scope="module")
def bpe_run(tiny_data_dir, tmp_path_factory):
    """A language model on a byte-level BPE tokenizer, trained today: what older runs hold."""
    overrides = ["tasks.next_word.data.tokenizer=bpe", "tasks.next_word.data.vocab_size=300"]
    out = tmp_path_factory.mktemp("bpe")
    return train(tiny_config(tiny_data_dir, out, ("next_word",), overrides, max_steps=4))


def _rewritten(source, path, edit):
    """A copy of weights file ``source`` at ``path`` whose parsed task states ``edit`` changed."""
    with safe_open(source, framework="pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (not a dict)
        metadata = f.metadata()
    states = json.loads(metadata["task_states"])
    edit(states)
    save_file(tensors, path, metadata={**metadata, "task_states": json.dumps(states)})
    return path


def test_a_bpe_run_trained_before_the_tokenizer_checks_still_evaluates(bpe_run):
    """The stored tokenizer is rebuilt from its vocabulary and merges, to the same ids."""
    for weights in ("final", "latest"):
        evaluated = evaluate_run(bpe_run.run_dir, "test", weights)
        assert evaluated["next_word"] == pytest.approx(bpe_run.metrics["test"]["next_word"])


def test_a_weights_file_with_a_hostile_tokenizer_is_refused_before_data_loads(
    bpe_run, tmp_path, capsys, monkeypatch
):
    """A normalizer with a catastrophic regex made ``evaluate --weights`` spin for ever; now the
    file is refused in one line before any tokenizer or data is built (were it not, the stub
    below fails the test instead of letting it hang)."""

    def unreachable(*args):
        raise AssertionError("build_tasks reached with an unchecked tokenizer state")

    monkeypatch.setattr("sharedspace.runs.build_tasks", unreachable)

    def hostile(states):
        states["next_word"]["tokenizer"]["tokenizer"]["normalizer"] = CATASTROPHIC

    path = _rewritten(bpe_run.run_dir / "model.safetensors", tmp_path / "evil.safetensors", hostile)
    status, _, err = run_cli(capsys, "evaluate", bpe_run.run_dir, "--weights", path)
    assert status == 2 and err.count("\n") == 1, err
    assert f"{path}: task 'next_word': bpe tokenizer state: 'tokenizer.normalizer'" in err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.clear(), r"task_states lacks task 'next_word''s data state"),
        (lambda s: s.update(next_word=[]), r"task_states has a list as task 'next_word'"),
        (lambda s: s["next_word"].update(tokenizer=7), r"task 'next_word': tokenizer state: kind"),
        (
            lambda s: s["next_word"]["tokenizer"].update(kind="word"),
            r"task 'next_word': word tokenizer state: 'tokenizer' is not a key",
        ),
    ],
)
def test_task_states_that_do_not_fit_the_config_name_the_file(bpe_run, tmp_path, edit, message):
    """A missing state used to fit a new tokenizer silently; a wrong one reached the library."""
    path = _rewritten(bpe_run.run_dir / "model.safetensors", tmp_path / "w.safetensors", edit)
    with pytest.raises(CheckpointError, match=rf"{path}:? .*{message}"):
        load_run(bpe_run.run_dir, path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("task_states", None, r"the checkpoint lacks 'task_states'"),
        ("step", None, r"the checkpoint lacks 'step'"),
        ("model", None, r"the checkpoint lacks 'model'"),
        ("step", "30", r"'step'"),  # its type is checked by load_checkpoint
        ("task_states", [], r"'task_states'"),
        ("task_states", {"next_word": {"tokenizer": {"kind": "bpe", "tokenizer": {}}}},
         r"task 'next_word': bpe tokenizer state: 'tokenizer' lacks its model's vocab"),
    ],
)  # fmt: skip
def test_a_checkpoint_missing_or_mistyping_a_key_names_it(bpe_run, tmp_path, key, value, message):
    """``evaluate --weights CHECKPOINT`` on a checkpoint without its task states was a KeyError."""
    source = bpe_run.run_dir / "checkpoints" / f"step_{bpe_run.steps:08d}.pt"
    state = torch.load(source, weights_only=True)
    if value is None:
        del state[key]
    else:
        state[key] = value
    path = save_checkpoint(state, tmp_path, bpe_run.steps)
    with pytest.raises(CheckpointError, match=rf"{path}:? .*{message}"):
        load_run(bpe_run.run_dir, path)
