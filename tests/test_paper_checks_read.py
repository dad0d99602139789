"""The helpers the papers' checks share to read measured values (`paper_checks.read`): a NaN reads as NaN, a
misspelt field is an error naming the summary rather than a silent NaN, and a measurement built from a run
selector and a field name reads exactly what the selector's runs hold."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from paper_checks import Context
from paper_checks.read import number, scalar, scalar_of
from sims.engine import Result, Summary


@dataclass(frozen=True)
class _Gain(Summary):
    """gain: the measured gain; other: another number."""

    gain: float
    other: int


def _runs(*values) -> list[Result]:
    return [Result("p.e", {"seed": i}, _Gain(gain=v, other=1)) for i, v in enumerate(values)]


def test_scalar_reads_floats_and_nan():
    vals = scalar(_runs(0.5, float("nan"), 3), "gain")
    assert vals[0] == 0.5 and math.isnan(vals[1]) and vals[2] == 3.0
    assert all(type(v) is float for v in vals)
    assert math.isnan(number(None)) and number(2) == 2.0


def test_scalar_of_a_missing_field_is_an_error_naming_the_summary():
    with pytest.raises(AttributeError, match="_Gain \\(in its summary\\) has no field 'gian'"):
        scalar(_runs(0.5), "gian")


def test_scalar_of_reads_the_selected_runs_and_says_what_it_reads():
    seen = []

    def _toy(ctx: Context):
        seen.append(ctx.preset)
        return _runs(0.25, 0.75)

    measure = scalar_of(_toy, "gain")
    assert measure(Context(preset="paper")) == [0.25, 0.75]
    assert seen == ["paper"]
    assert measure.__name__ == "gain_of_toy"


@dataclass(frozen=True)
class _Outer(Summary):
    """inner: a nested summary."""

    inner: _Gain


def test_a_dotted_name_reads_a_nested_field():
    runs = [Result("p.e", {"seed": 0}, _Outer(inner=_Gain(gain=0.5, other=2)))]
    assert scalar(runs, "inner.other") == [2.0]
    assert scalar_of(lambda ctx: runs, "inner.gain").__name__ == "inner_gain_of_<lambda>"
    with pytest.raises(AttributeError, match="_Gain \\(in its summary\\) has no field 'x'"):
        scalar(runs, "inner.x")
