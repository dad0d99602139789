"""Every MIFA claim at the quick preset over three seeds: the claim must pass and its negative control (MIFA
without memory, data-independent availability, full availability) must fail. Results are cached per session."""
from __future__ import annotations

import pytest

from paper_checks import Context, claims_of, evaluate
from paper_checks.report import markdown, text_table

CLAIMS = claims_of("mifa")


@pytest.fixture(scope="module")
def outcomes(quick_context):
    return {c.name: evaluate(c, quick_context) for c in CLAIMS}


@pytest.mark.parametrize("name", [c.name for c in CLAIMS])
def test_claim_passes_and_its_control_fails(outcomes, name):
    out = outcomes[name]
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


def test_every_claim_has_a_control_and_a_source():
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS) == 6
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
    for c in CLAIMS:
        assert f"mifa.{c.name}" in md and f"mifa.{c.name}" in table
