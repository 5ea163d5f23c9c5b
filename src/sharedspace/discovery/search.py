"""Gradient-free search over labellings (the seed's method), with a trace that resumes it.

A candidate is a vector in [0, 1]^N whose top N/(R+1) entries are the positives
(``labellings.top_k_labelling``); its loss is 1 − its score. nevergrad proposes candidates by
optimizer name (TwoPointsDE in the seed; ``RandomSearch`` is the baseline of equal budget). It
asks ``batch`` candidates at once (its ``num_workers``), all of them are scored in one call — one
population of tiny networks — and each is told its loss.

The search state is its trace, plain JSON: every candidate asked and the loss it was told. An
interrupted search resumes by replaying the trace into a fresh optimizer with the same seed —
asking in the same batches, checking that it asks exactly the recorded candidates, telling the
recorded losses — and goes on from there; no optimizer is pickled (a pickle is code to run, and
it breaks across nevergrad versions). A trace that does not replay (another optimizer, seed or
nevergrad version; a candidate, loss or length that a search cannot have written) is a
``ReplayError``. Replay checks the candidates, not the losses: whoever saved the trace vouches for
those (``discover`` checks them before it resumes).
"""

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sharedspace.errors import ConfigError, SharedSpaceError

INSTALL = (
    "task search needs nevergrad: pip install 'sharedspace[discovery]' "
    "(in this repo: .venv/bin/pip install -e '.[discovery]')"
)


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    optimizer: str = "TwoPointsDE"  # a name in nevergrad's registry (not NGOpt: see below)
    budget: int = 4000  # candidates scored in all
    batch: int = 32  # candidates asked at once and scored in one population call
    seed: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1 or self.batch < 1:
            raise ConfigError(
                f"search budget and batch must be ≥ 1, not {self.budget}, {self.batch}"
            )

    def resumable(self, records: int) -> bool:
        """Whether a trace of ``records`` is one a search writes: whole batches, or the whole
        budget (its last batch may be cut short by the budget)."""
        return records == self.budget or (records < self.budget and records % self.batch == 0)


class ReplayError(SharedSpaceError):
    """A saved trace is not one this search could have written."""


def _nevergrad() -> Any:
    try:
        import nevergrad
    except ImportError:
        raise SharedSpaceError(INSTALL) from None
    return nevergrad


# A batch of candidates (B, N) → one result per candidate, each with its "loss" (the rest, e.g.
# the scores it came from, is kept in the trace).
Evaluate = Callable[[np.ndarray], list[dict[str, float]]]


class Search:
    """nevergrad's ask/tell loop over [0, 1]^``n``, batch by batch, recording a trace."""

    def __init__(self, n: int, cfg: SearchConfig, trace: list[dict[str, Any]] | None = None):
        ng = _nevergrad()
        registry = ng.optimizers.registry
        if cfg.optimizer not in registry or cfg.optimizer.startswith("NGOpt"):
            # NGOpt's meta-model path breaks with NumPy ≥ 2.3 in nevergrad 1.0.12
            names = [k for k in registry if not k.startswith("NGOpt")]
            close = difflib.get_close_matches(cfg.optimizer, names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(
                f"search.optimizer: {cfg.optimizer!r} is not a usable nevergrad optimizer{hint}"
            )
        parametrization = ng.p.Array(shape=(n,), lower=0.0, upper=1.0)
        parametrization.random_state = np.random.RandomState(cfg.seed)
        self.optimizer = registry[cfg.optimizer](
            parametrization=parametrization, budget=cfg.budget, num_workers=cfg.batch
        )
        self.cfg, self.n, self.trace = cfg, n, []
        trace = trace or []
        if not (isinstance(trace, list) and cfg.resumable(len(trace))):
            raise ReplayError(
                f"the search trace does not replay: expected a list of whole batches of "
                f"{cfg.batch} or all {cfg.budget} records"
            )
        for start in range(0, len(trace), cfg.batch):
            self._replay(trace[start : start + cfg.batch], start)

    @property
    def done(self) -> bool:
        return len(self.trace) >= self.cfg.budget

    def step(self, evaluate: Evaluate) -> list[dict[str, Any]]:
        """Ask the next batch, score it with ``evaluate``, tell the losses; returns its records
        (``x``: the candidate, ``loss`` and whatever else ``evaluate`` gave)."""
        size = min(self.cfg.batch, self.cfg.budget - len(self.trace))
        asked = [self.optimizer.ask() for _ in range(size)]
        results = evaluate(np.stack([a.value for a in asked]))
        if len(results) != size:
            raise ValueError(f"evaluate gave {len(results)} results for {size} candidates")
        records = []
        for candidate, result in zip(asked, results, strict=True):
            self.optimizer.tell(candidate, float(result["loss"]))
            records.append({"x": candidate.value.tolist(), **result})
        self.trace += records
        return records

    def best(self, count: int = 1) -> list[dict[str, Any]]:
        """The ``count`` records of lowest loss, best first (the earlier on ties)."""
        return sorted(self.trace, key=lambda r: r["loss"])[:count]

    def _replay(self, records: list[dict[str, Any]], start: int) -> None:
        asked = [self.optimizer.ask() for _ in records]
        for i, (candidate, record) in enumerate(zip(asked, records, strict=True)):
            if not self._well_formed(record):
                raise ReplayError(
                    f"the search trace does not replay: record {start + i} is not "
                    f'{{"x": {self.n} numbers, "loss": a finite number, …}}'
                )
            if not np.array_equal(candidate.value, np.asarray(record["x"])):
                raise ReplayError(
                    f"the search trace does not replay: candidate {start + i} differs from the "
                    f"one recorded (another optimizer, seed, batch or nevergrad version?)"
                )
            self.optimizer.tell(candidate, float(record["loss"]))
        self.trace += records

    def _well_formed(self, record: Any) -> bool:
        """Checked before numpy or nevergrad see it: a record's x is n floats, its loss finite."""
        if not isinstance(record, dict):
            return False
        x, loss = record.get("x"), record.get("loss")
        return (
            isinstance(x, list)
            and len(x) == self.n
            and all(isinstance(v, float) for v in x)
            and isinstance(loss, float)
            and math.isfinite(loss)
        )
