"""Every MIFA claim at the quick preset over three seeds: the claim must pass and its negative control (MIFA
without memory, data-independent availability, full availability) must fail. Results are cached per session."""
from __future__ import annotations

import pytest

from paper_checks import Context, claims_of, evaluate
from paper_checks.report import markdown, text_table

CLAIMS = claims_of("mifa")
SLOW = {"mnist_rare_classes_recovered"}  # six torch runs on real MNIST, ~20 s: run with `pytest -m slow`
FAST_CLAIMS = [c for c in CLAIMS if c.name not in SLOW]


@pytest.fixture(scope="module")
def outcomes(quick_context):
    return {c.name: evaluate(c, quick_context) for c in FAST_CLAIMS}


def _check(out, name):
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


@pytest.mark.parametrize("name", [c.name for c in FAST_CLAIMS])
def test_claim_passes_and_its_control_fails(outcomes, name):
    _check(outcomes[name], name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_slow_claim_passes_and_its_control_fails(quick_context, name):
    pytest.importorskip("torch")
    _check(evaluate(next(c for c in CLAIMS if c.name == name), quick_context), name)


def test_every_claim_has_a_control_and_a_source():
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS) == 7
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source


def test_memory_is_what_removes_the_bias(outcomes):
    """The control of the unbiasedness claim sits at the biased floor (log10 ratio ~ 0), MIFA ~5 decades below."""
    out = outcomes["mifa_unbiased"]
    assert abs(out.control_estimate.mean) < 0.1
    assert out.estimate.mean < -4


def test_report_lists_every_claim(outcomes, tmp_path):
    ctx = Context(preset="quick", seeds=(0, 1, 2))
    md = markdown(list(outcomes.values()), ctx, [], tmp_path)
    table = text_table(list(outcomes.values()))
    for c in FAST_CLAIMS:
        assert f"mifa.{c.name}" in md and f"mifa.{c.name}" in table
