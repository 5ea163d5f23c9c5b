import copy
import json
import math
import os
import re
from dataclasses import replace

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharedspace.discovery import discover as discover_module
from sharedspace.discovery.discover import (
    STATE,
    DiscoverConfig,
    candidate,
    discover,
    positives,
    signed,
)
from sharedspace.discovery.discover import _load_state as load_state
from sharedspace.discovery.images import draw_images
from sharedspace.discovery.search import Search
from sharedspace.errors import Interrupted, SharedSpaceError
from sharedspace.layout import MARKER
from sharedspace.untrusted import JSON_LIMIT
from tests.data.data_formats import write_cifar10
from tests.guards import guarded
from tests.test_cli import run_cli

SMALL = [
    "images=20",
    "probe=40",
    "features={channels: 3, size: 4, width: 8, blocks: 1}",
    "score.net={channels: [4, 8], hidden: [16, 8]}",
    "score.train.epochs=3",
    "search.budget=8",
    "search.batch=4",
]


def settings(data_dir, tmp_path, *extra) -> list[str]:
    return [*SMALL, f"data_dir={data_dir}", f"out_dir={tmp_path}", *extra]


def config(data_dir, tmp_path, *extra) -> DiscoverConfig:
    from sharedspace.config import from_dict
    from sharedspace.overrides import read_config

    return from_dict(DiscoverConfig, read_config(None, settings(data_dir, tmp_path, *extra)))


def trace(run_dir) -> list:
    return json.loads((run_dir / STATE).read_text())["state"]["traces"]


def test_the_cli_writes_results_figures_and_the_search_state(capsys, tiny_data_dir, tmp_path):
    status, out, err = run_cli(capsys, "discover", *settings(tiny_data_dir, tmp_path, "tasks=2"))
    assert status == 0, err
    run_dir = tmp_path / "discover"
    assert "| 1 | TwoPointsDE | 1 |" in out and "| 2 | RandomSearch | 1 |" in out
    assert "| 3 | TwoPointsDE | 2 |" in out
    for name in ("results.md", "trace.png", "task_1.png", "task_2.png"):
        assert (run_dir / name).stat().st_size > 0, name
    traces = trace(run_dir)
    assert [len(t) for t in traces] == [8, 8, 8]
    assert all(r["overlap"] == 0 for t in traces[:2] for r in t)  # nothing found before task 1
    assert any(r["overlap"] > 0 for r in traces[2])  # task 2 is measured against task 1
    status, _, err = run_cli(capsys, "discover", *settings(tiny_data_dir, tmp_path, "tasks=2"))
    assert status == 2 and "already holds a run; pass --resume" in err  # never overwritten


def test_too_many_images_is_refused_before_a_run_folder_is_made(capsys, tiny_data_dir, tmp_path):
    status, _, err = run_cli(capsys, "discover", *settings(tiny_data_dir, tmp_path, "images=10000"))
    assert status == 2 and "10040 images (40 of them the probe)" in err
    assert not (tmp_path / "discover").exists()


def test_an_interrupted_search_resumes_where_it_stopped(tiny_data_dir, tmp_path, monkeypatch):
    whole = trace(discover(config(tiny_data_dir, tmp_path / "a"), progress=False))
    real, calls = Search.step, []

    def step(self, evaluate):  # Ctrl-C while the third batch (the baseline's first) is scored
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, evaluate)

    monkeypatch.setattr(Search, "step", step)
    cfg = config(tiny_data_dir, tmp_path / "b")
    with pytest.raises(Interrupted, match="stopped after 8 of 16 labellings"):
        discover(cfg, progress=False)
    assert [len(t) for t in trace(tmp_path / "b" / "discover")] == [8]  # saved per batch
    monkeypatch.undo()
    resumed = trace(discover(cfg, resume=True, progress=False))
    assert resumed == whole  # the same candidates, the same scores: nothing lost or redone


def test_resuming_with_other_settings_is_refused(tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(discover_module, "_write_results", lambda *args: None)
    discover(config(tiny_data_dir, tmp_path), progress=False)
    with pytest.raises(SharedSpaceError, match=r"saved with other settings \(ratio\)"):
        discover(config(tiny_data_dir, tmp_path, "ratio=3"), resume=True, progress=False)


def test_cifar10_colour_images_are_searched_too(tmp_path):
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=30)  # 150 train images
    cfg = config(tmp_path / "data", tmp_path, "dataset=cifar10", "features=null")
    run_dir = discover(cfg, progress=False)
    assert [len(t) for t in trace(run_dir)] == [8, 8]
    assert (run_dir / "task_1.png").stat().st_size > 0


# --- a saved search state is untrusted input (issue 33) ---


@pytest.fixture(scope="module")
def saved(tiny_data_dir, tmp_path_factory):
    """A finished two-task search (3 stages of 8): its config, its images and its state."""
    cfg = config(tiny_data_dir, tmp_path_factory.mktemp("saved"), "tasks=2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(discover_module, "_write_results", lambda *args: None)
        run_dir = discover(cfg, progress=False)
    images = draw_images(cfg.dataset, cfg.data_dir, 60, 40, cfg.features, cfg.seed)
    return cfg, images, json.loads((run_dir / STATE).read_bytes())["state"]


def write_state(run_dir, state) -> None:
    """``state`` as discover saves it: JSON with its checksum, as if whoever wrote it signed it."""
    (run_dir / STATE).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / STATE).write_bytes(signed(json.dumps(state).encode()))


def refused(saved, run_dir, match: str) -> None:
    """_load_state's error: one line, naming the file, matching ``match``."""
    cfg, images, _ = saved
    with pytest.raises(SharedSpaceError) as error:
        load_state(run_dir, cfg, images)
    message = str(error.value)
    assert message.startswith(f"{run_dir / STATE}: ") and "\n" not in message, message
    assert re.search(match, message), message


def mutated(state, edit):
    state = copy.deepcopy(state)
    edit(state)
    return state


def setter(where: str, value):
    """An edit that sets ``state`` at ``where`` (a chain of keys and indices) to ``value``."""
    *parents, last = where

    def edit(state):
        for key in parents:
            state = state[key]
        state[last] = value

    return edit


BAD_NUMBERS = [None, "0.5", [], {}, True, 1, math.nan, math.inf, -math.inf]
R = ("traces", 0, 1)  # a record of the first stage
AT = r"traces\[0\]\[1\]"  # its name in an error
MALFORMED = {
    "config a list": (setter(["config"], []), r"config: expected an object"),
    "traces an object": (setter(["traces"], {}), r"traces: expected a list of at most 3"),
    "too many stages": (lambda s: s["traces"].append(s["traces"][0]), r"traces: expected"),
    "a stage a number": (setter(["traces", 0], 3), r"traces\[0\]: expected a list of 8"),
    "an earlier stage cut": (lambda s: s["traces"][0].pop(), r"traces\[0\]: expected .* 8 rec"),
    "the last stage cut mid-batch": (
        lambda s: s["traces"][2].pop(),
        r"traces\[2\]: .*of 4",
    ),
    "the last stage past the budget": (
        lambda s: s["traces"][2].append(s["traces"][2][0]),
        r"traces\[2\]: expected",
    ),
    "a record a list": (setter(R, []), rf"{AT}: expected an object of x, loss"),
    "a record with another key": (setter([*R, "note"], 1), rf"{AT}: expected"),
    "x an object": (setter([*R, "x"], {}), rf"{AT}\.x: expected 20 numbers in"),
    "x too short": (lambda s: s["traces"][0][1]["x"].pop(), rf"{AT}\.x: expected"),
    "x a string inside": (setter([*R, "x", 3], "0.5"), rf"{AT}\.x: expected"),
    "x an integer inside": (setter([*R, "x", 3], 1), rf"{AT}\.x: expected"),
    "x above 1": (setter([*R, "x", 3], 1.5), rf"{AT}\.x: expected"),
    "x nested": (setter([*R, "x", 3], [[0.5]]), rf"{AT}\.x: expected"),
    "taskness above 1": (
        setter([*R, "taskness"], 1.5),
        rf"{AT}\.taskness: expected a finite number ≤ 1",
    ),
    "agreement below 0": (
        setter([*R, "agreement"], -0.1),
        rf"{AT}\.agreement: expected a number in",
    ),
    "overlap above 1": (
        setter([*R, "overlap"], 2.0),
        rf"{AT}\.overlap: expected a number in \[0, 1\]",
    ),
    **{
        f"{key} {value!r}": (setter([*R, key], value), rf"{AT}\.{key}: expected")
        for key in ("loss", "taskness", "agreement", "overlap")
        for value in BAD_NUMBERS
    },
    **{
        f"no {key}": (lambda s, key=key: s["traces"][0][1].pop(key), rf"{AT}: exp")
        for key in ("x", "loss", "taskness", "agreement", "overlap")
    },
}


@pytest.mark.parametrize("edit, match", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_state_names_the_key(saved, tmp_path, edit, match):
    write_state(tmp_path, mutated(saved[2], edit))
    refused(saved, tmp_path, rf"not a search state \({match}")


@pytest.mark.parametrize("top", [[], "state", 1, None, {"config": {}}, {"a": 1}])
def test_a_state_of_another_shape_is_not_a_search_state(saved, tmp_path, top):
    write_state(tmp_path, top)
    refused(saved, tmp_path, r"not a search state \(the top level: expected")


def test_a_loss_or_overlap_that_its_candidate_and_score_do_not_give_is_refused(saved, tmp_path):
    state = saved[2]
    loss = state["traces"][0][1]["loss"]
    write_state(tmp_path, mutated(state, setter([*R, "loss"], loss - 0.25)))
    refused(saved, tmp_path, rf"traces\[0\]\[1\]\.loss: {loss - 0.25!r}, but .* give {loss!r}")
    overlap = state["traces"][2][1]["overlap"]  # stage 3 is measured against task 1
    write_state(tmp_path, mutated(state, setter(["traces", 2, 1, "overlap"], 1.0 - overlap)))
    refused(saved, tmp_path, rf"traces\[2\]\[1\]\.overlap: {1.0 - overlap!r}, but")


@pytest.mark.parametrize("stage", [1, 2])  # the baseline, the second task
def test_a_forged_best_score_is_scored_again_and_refused(saved, tmp_path, stage):
    """Taskness and loss forged together, as someone who knows the formula would: the forged
    record becomes its stage's best, and scoring its labelling again gives it away. (Forging
    the first task's best changes the task the third stage's overlaps are measured against:
    those no longer add up, and say so first.)"""
    cfg, _, state = saved
    worst = max(range(8), key=lambda k: state["traces"][stage][k]["loss"])
    forged = mutated(state, setter(["traces", stage, worst, "taskness"], 0.99))
    record = forged["traces"][stage][worst]
    record["loss"] = 1.0 - 0.99 + cfg.diversity * record["overlap"]
    write_state(tmp_path, forged)
    refused(
        saved,
        tmp_path,
        rf"traces\[{stage}\]\[{worst}\]\.taskness: stage {stage + 1}'s best records 0\.9900, "
        r"but scoring its labelling again gives -?\d\.\d{4}; the trace was altered",
    )
    best = min(range(8), key=lambda k: state["traces"][stage][k]["loss"])
    write_state(tmp_path, mutated(state, setter(["traces", stage, best, "agreement"], 1.0)))
    refused(saved, tmp_path, rf"traces\[{stage}\]\[{best}\]\.agreement: stage {stage + 1}'s")


def test_an_honest_state_loads_whole_or_cut_after_a_batch(saved, tmp_path):
    cfg, images, state = saved
    write_state(tmp_path, state)
    assert load_state(tmp_path, cfg, images) == state["traces"]
    cut = mutated(state, lambda s: s["traces"][2][4:].clear())  # Ctrl-C after a batch
    write_state(tmp_path, cut)
    assert load_state(tmp_path, cfg, images) == cut["traces"]


def test_a_changed_candidate_names_the_file_and_stage(saved, tmp_path):
    """A candidate changed below its positives keeps its labelling, scores and loss: the replay
    is what refuses it."""
    cfg = replace(saved[0], out_dir=str(tmp_path))
    state = mutated(saved[2], setter(["config", "out_dir"], str(tmp_path)))
    x = state["traces"][1][5]["x"]
    x[x.index(min(x))] /= 2
    write_state(tmp_path / "discover", state)
    (tmp_path / "discover" / MARKER).touch()  # as discover made it
    with pytest.raises(SharedSpaceError) as error:
        discover(cfg, resume=True, progress=False)
    assert str(error.value) == (
        f"{tmp_path / 'discover' / STATE}: traces[1]: the search trace does not replay: "
        "candidate 5 differs from the one recorded (another optimizer, seed, batch or nevergrad "
        "version?)"
    )


def raw(saved) -> bytes:
    return signed(json.dumps(saved[2]).encode())


BAD_BYTES = {
    "empty": (lambda good: b"", r"no \{\"sha256\""),
    "plain JSON, as before checksums": (lambda good: good[good.index(b'"state": ') + 9 : -2], "no"),
    "cut short": (lambda good: good[: len(good) // 2], r"no \{\"sha256\""),
    "cut, its end kept": (lambda good: good[:200] + b"}\n", "fails its sha256: truncated or"),
    "a bit flipped": (
        lambda good: good[:300] + bytes([good[300] ^ 4]) + good[301:],
        "fails its sha256",
    ),
    "nested 100,000 deep": (lambda good: signed(b"[" * 100_000 + b"]" * 100_000), "too deeply"),
    "a 5,000-digit integer": (lambda good: signed(b"1" * 5000), "not valid JSON"),
    "bad UTF-8": (lambda good: signed(b'"\xff"'), "not valid JSON"),
    "not JSON": (lambda good: signed(b'{"config": '), "not valid JSON"),
}


@pytest.mark.parametrize("make, match", BAD_BYTES.values(), ids=BAD_BYTES.keys())
def test_a_torn_corrupt_or_unreadable_file_is_not_a_search_state(saved, tmp_path, make, match):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / STATE).write_bytes(make(raw(saved)))
    refused(saved, tmp_path, rf"not a search state \(.*{match}")


@pytest.mark.parametrize(
    "kind", ["fifo", "folder", "huge", "missing", "link out", "dev_zero", "folder link out"]
)
def test_anything_but_a_file_in_the_run_folder_is_not_a_search_state(saved, tmp_path, kind):
    run_dir, path = tmp_path / "run", tmp_path / "run" / STATE
    path.parent.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "search.json").write_bytes(raw(saved))  # a good state, outside
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(JSON_LIMIT + 1)  # sparse: no disk, and no memory if never read whole
    elif kind == "link out":
        path.symlink_to(tmp_path / "elsewhere" / "search.json")
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder link out":
        path.parent.rmdir()
        path.parent.symlink_to(tmp_path / "elsewhere")
    expected = {
        "fifo": "not a regular file",
        "folder": "not a regular file",
        "huge": f"{JSON_LIMIT + 1:,} bytes, more than",
        "missing": "cannot open",
    }.get(kind, "a link out of the run folder")
    with guarded(10):
        refused(saved, run_dir, rf"not a search state \({expected}")


SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=4) | st.floats()
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
NOT_A_FLOAT = JSON.filter(lambda v: not isinstance(v, float)) | st.sampled_from(
    [math.nan, math.inf, -math.inf]
)
PLACES = {  # where a value goes → what is wrong there whatever it is
    ("config",): SCALARS,
    ("traces",): SCALARS,
    ("traces", 1): SCALARS,
    ("traces", 2, 3): JSON.filter(lambda v: not isinstance(v, dict)),
    ("traces", 2, 3, "x"): JSON.filter(lambda v: not isinstance(v, list)),
    **{("traces", 2, 3, "x", j): NOT_A_FLOAT for j in (0, 19)},
    **{("traces", 0, 7, key): NOT_A_FLOAT for key in ("loss", "taskness", "agreement", "overlap")},
}


@hypothesis.settings(
    max_examples=150,
    deadline=2000,  # ms: catches a hang or a runaway read
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_value_of_the_wrong_type_anywhere_is_not_a_search_state(saved, tmp_path, data):
    where = data.draw(st.sampled_from(list(PLACES)))
    value = data.draw(PLACES[where])
    write_state(tmp_path, mutated(saved[2], setter(where, value)))
    refused(saved, tmp_path, r"not a search state \(")


def test_the_cli_says_so_in_one_line(capsys, tiny_data_dir, tmp_path):
    (tmp_path / "discover" / STATE).parent.mkdir(parents=True)
    (tmp_path / "discover" / MARKER).touch()
    (tmp_path / "discover" / STATE).write_bytes(signed(b"[" * 100_000 + b"]" * 100_000))
    status, _, err = run_cli(capsys, "discover", "--resume", *settings(tiny_data_dir, tmp_path))
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith("sharedspace: error: ") and "not a search state (JSON nested" in err


def test_a_trace_ranks_its_candidate_in_float64():
    """As the search ranked the array it asked: float32 would tie these two and pick the first."""
    cfg = DiscoverConfig(images=4, ratio=3)
    assert positives(candidate([0.5, 0.5 + 1e-12, 0.0, 0.1], cfg)) == {1}
