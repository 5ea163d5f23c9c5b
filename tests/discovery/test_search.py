import json
import sys

import numpy as np
import pytest

from sharedspace.discovery.search import INSTALL, Search, SearchConfig
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
