"""Typed result summaries: JSON round trip, NaN and infinities, nested shapes, clear errors, documented fields."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

from sims.engine import Experiment, Result, Summary, cache
from sims.engine.summary import SummaryError, undocumented_fields


@dataclass(frozen=True)
class Fit(Summary):
    """slope: fitted slope; r2: coefficient of determination; n: points fitted."""

    slope: float
    r2: float
    n: int


@dataclass(frozen=True)
class Outer(Summary):
    """fits: one fit per algorithm; best: the best algorithm's name, None when none converged;
    horizons: the horizons; pair: a fixed pair; flags: one flag per horizon."""

    fits: dict[str, Fit]
    best: str | None
    horizons: list[float]
    pair: tuple[int, float]
    flags: tuple[bool, ...]


@dataclass(frozen=True)
class Undocumented(Summary):
    """x: documented."""

    x: float
    y: float
    inner: Fit | None


@dataclass(frozen=True)
class NoDoc(Summary):
    a: float


def _outer() -> Outer:
    return Outer(fits={"mifa": Fit(-1.0, 0.99, 10), "fedavg": Fit(float("nan"), float("-inf"), 0)}, best=None,
                 horizons=[1.0, float("inf")], pair=(3, 0.5), flags=(True, False))


def test_a_nested_summary_survives_a_json_round_trip_with_nan_and_infinities():
    data = json.loads(json.dumps(_outer().to_json(), allow_nan=False))  # strict JSON: no NaN tokens
    assert data["fits"]["fedavg"] == {"slope": None, "r2": "-inf", "n": 0}
    back = Outer.from_json(data)
    assert back.fits["mifa"] == Fit(-1.0, 0.99, 10) and math.isnan(back.fits["fedavg"].slope)
    assert back.fits["fedavg"].r2 == float("-inf") and back.best is None
    assert back.horizons == [1.0, float("inf")] and back.pair == (3, 0.5) and back.flags == (True, False)


def test_a_stored_summary_that_does_not_match_its_class_is_named_in_the_error():
    data = _outer().to_json()
    del data["fits"]["mifa"]["r2"]
    with pytest.raises(SummaryError, match=r"Outer\.fits\['mifa'\].*missing: \['r2'\]"):
        Outer.from_json(data)
    data = _outer().to_json()
    data["fits"]["mifa"]["extra"] = 1.0
    with pytest.raises(SummaryError, match="unknown: \\['extra'\\]"):
        Outer.from_json(data)
    data = _outer().to_json()
    data["fits"]["mifa"]["n"] = 2.5
    with pytest.raises(SummaryError, match=r"Outer\.fits\['mifa'\]\.n: expected an integer"):
        Outer.from_json(data)
    data = _outer().to_json()
    data["horizons"] = "1, 2"
    with pytest.raises(SummaryError, match="horizons: expected a list"):
        Outer.from_json(data)


def test_fields_without_a_line_in_the_docstring_are_found_also_in_nested_summaries():
    assert undocumented_fields(Outer) == []
    assert sorted(undocumented_fields(Undocumented)) == ["Undocumented.inner", "Undocumented.y"]
    assert undocumented_fields(NoDoc) == ["NoDoc.a"]  # the signature dataclass writes is no documentation


@dataclass(frozen=True)
class _Cfg:
    seed: int = 0

    def validate(self) -> None:
        pass


def _run(cfg: _Cfg) -> Result:
    return Result("toy.typed", cache.config_dict(cfg), Fit(slope=-1.0 - cfg.seed, r2=1.0, n=3))


def _wrong(cfg: _Cfg) -> Result:
    return Result("toy.typed", cache.config_dict(cfg), {"slope": -1.0})


def test_an_experiment_reads_its_cached_results_back_as_its_summary_class(tmp_path):
    exp = Experiment("toy", "typed", "typed toy", _Cfg, {"quick": _Cfg(), "paper": _Cfg()}, _run,
                     lambda r: f"{r.summary.slope}", Fit)
    first = exp.seeds(exp.config("quick"), [0, 1], tmp_path)
    again = exp.seeds(exp.config("quick"), [0, 1], tmp_path)
    assert [r.meta["from_cache"] for r in again] == [True, True]
    assert [r.summary for r in again] == [r.summary for r in first] == [Fit(-1.0, 1.0, 3), Fit(-2.0, 1.0, 3)]
    bad = Experiment("toy", "wrong", "untyped run", _Cfg, {"quick": _Cfg(), "paper": _Cfg()}, _wrong, str, Fit)
    with pytest.raises(TypeError, match="not the declared Fit"):
        bad.cached(bad.config("quick"), tmp_path)


def _experiments():
    import importlib

    import paper_checks

    for paper in paper_checks.available():
        for exp in importlib.import_module(f"sims.{paper}").EXPERIMENTS:
            yield pytest.param(exp, id=exp.id)


@pytest.mark.parametrize("exp", _experiments())
def test_every_experiment_declares_a_documented_summary(exp):
    assert isinstance(exp.summary, type) and issubclass(exp.summary, Summary), f"{exp.id} declares no summary"
    assert undocumented_fields(exp.summary) == [], f"{exp.id}: fields without a 'name:' line in their docstring"


def test_a_dict_in_a_summary_keeps_the_order_the_run_built_through_the_cache(tmp_path):
    from sims.engine import results

    fits = {name: Fit(float(i), 1.0, i) for i, name in enumerate(["rnn16", "rnn2", "rnn4", "attention"])}
    res = Result("toy.order", {}, Outer(fits=fits, best="rnn2", horizons=[], pair=(1, 1.0), flags=()))
    results.save(res, tmp_path / "r")
    assert list(results.load(tmp_path / "r", Outer).summary.fits) == ["rnn16", "rnn2", "rnn4", "attention"]
