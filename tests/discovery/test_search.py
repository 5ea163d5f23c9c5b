import json
import sys

import numpy as np
import pytest

from sharedspace.discovery.search import INSTALL, ReplayError, Search, SearchConfig
from sharedspace.errors import ConfigError, SharedSpaceError

N = 20
PLANTED = np.arange(N) < 4  # the labelling the toy objective rewards


def overlap(x: np.ndarray) -> list[dict[str, float]]:
    """Each candidate's top 4 entries as positives: loss = 1 − the fraction of them planted."""
    top = np.argsort(-x, axis=1, kind="stable")[:, :4]
    scores = PLANTED[top].mean(1)
    return [{"loss": 1.0 - s, "score": s} for s in scores]


def run(cfg: SearchConfig, trace=None, steps=None) -> Search:
    search = Search(N, cfg, trace)
    while not search.done and (steps is None or steps > 0):
        search.step(overlap)
        steps = None if steps is None else steps - 1
    return search


def test_a_resumed_search_continues_its_trace_exactly():
    cfg = SearchConfig(budget=60, batch=8, seed=3)
    whole = run(cfg)
    assert len(whole.trace) == 60 and whole.done  # the last batch is cut to the budget
    saved = json.loads(json.dumps(run(cfg, steps=3).trace))  # as the run folder keeps it
    resumed = run(cfg, trace=saved)
    assert json.dumps(resumed.trace) == json.dumps(whole.trace)
    assert resumed.best(2) == whole.best(2)
    assert resumed.best()[0]["loss"] == min(r["loss"] for r in whole.trace)


def test_a_trace_from_another_seed_does_not_replay():
    saved = run(SearchConfig(budget=16, batch=8, seed=0)).trace
    with pytest.raises(SharedSpaceError, match="does not replay: candidate 0 differs"):
        Search(N, SearchConfig(budget=16, batch=8, seed=1), saved)


def test_the_search_beats_random_search_of_the_same_budget():
    def best(optimizer: str) -> float:
        return run(SearchConfig(optimizer=optimizer, budget=400, batch=16)).best()[0]["score"]

    assert best("TwoPointsDE") > best("RandomSearch")


def test_optimizer_names_are_checked():
    with pytest.raises(ConfigError, match=r"'TwoPointDE' is not .*\(did you mean TwoPointsDE, "):
        Search(N, SearchConfig(optimizer="TwoPointDE"))
    with pytest.raises(ConfigError, match="'NGOpt' is not a usable"):
        Search(N, SearchConfig(optimizer="NGOpt"))
    with pytest.raises(ConfigError, match="budget and batch must be ≥ 1"):
        SearchConfig(batch=0)


def test_without_nevergrad_the_error_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "nevergrad", None)  # import nevergrad → ImportError
    with pytest.raises(SharedSpaceError) as error:
        Search(N, SearchConfig())
    assert str(error.value) == INSTALL and "pip install 'sharedspace[discovery]'" in INSTALL


def test_a_trace_whose_losses_were_changed_still_replays():
    """Replay checks the candidates only: the losses are whoever saved the trace's to vouch for
    (discover checks them, tests/discovery/test_discover.py)."""
    cfg = SearchConfig(budget=16, batch=8)
    saved = json.loads(json.dumps(run(cfg, steps=1).trace))
    saved[7]["loss"] = -5.0
    assert Search(N, cfg, saved).best()[0]["loss"] == -5.0


GOOD = json.loads(json.dumps(run(SearchConfig(budget=16, batch=8), steps=1).trace))


def with_record(k: int, record) -> list:
    """GOOD with its record ``k`` replaced."""
    return [*GOOD[:k], record, *GOOD[k + 1 :]]


MALFORMED = {
    "a string": ("records", "whole batches of 8 or all 16 records"),
    "an object": ({"x": []}, "whole batches"),
    "cut mid-batch": (GOOD[:5], "whole batches"),
    "past the budget": (GOOD * 3, "whole batches"),
    "a record a list": (with_record(0, []), "record 0 is not"),
    "no x": (with_record(0, {"loss": 0.5}), "record 0 is not"),
    "no loss": (with_record(0, {"x": GOOD[0]["x"]}), "record 0 is not"),
    "x short": (with_record(3, {**GOOD[3], "x": GOOD[3]["x"][1:]}), "record 3 is not"),
    "x nested": (with_record(0, {**GOOD[0], "x": [GOOD[0]["x"]]}), "record 0 is not"),
    "x of strings": (with_record(0, {**GOOD[0], "x": ["0.5"] * N}), "record 0 is not"),
    "x of integers": (with_record(0, {**GOOD[0], "x": [0] * N}), "record 0 is not"),
    **{
        f"loss {value!r}": (with_record(7, {**GOOD[7], "loss": value}), "record 7 is not")
        for value in (None, "0.5", 1, True, [0.5], float("nan"), float("inf"))
    },
}


@pytest.mark.parametrize("trace, match", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_trace_does_not_replay(trace, match):
    with pytest.raises(ReplayError, match=f"the search trace does not replay: .*{match}"):
        Search(N, SearchConfig(budget=16, batch=8), trace)
