"""The helpers the papers' checks share to read measured values (`paper_checks.read`): a stored NaN (written as
null) reads as NaN, a misspelt key is an error rather than a silent NaN, and a measurement built from a run
selector and a key reads exactly what the selector's runs hold."""
from __future__ import annotations

import math

import pytest

from paper_checks import Context
from paper_checks.read import number, scalar, scalar_of
from sims.engine import Result


def _runs(*values) -> list[Result]:
    return [Result("p.e", {"seed": i}, {"gain": v, "other": 1}) for i, v in enumerate(values)]


def test_scalar_reads_floats_and_null_as_nan():
    vals = scalar(_runs(0.5, None, 3), "gain")
    assert vals[0] == 0.5 and math.isnan(vals[1]) and vals[2] == 3.0
    assert all(type(v) is float for v in vals)
    assert math.isnan(number(None)) and number(2) == 2.0


def test_scalar_of_a_missing_key_is_an_error():
    with pytest.raises(KeyError):
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
