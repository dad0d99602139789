"""Every grokking claim at the quick preset over three seeds: the claim must pass and its negative control
must fail. Results are cached per test session, so each simulation runs once."""
from __future__ import annotations

import pytest

from paper_checks import Context, available, claims_of, evaluate
from paper_checks.report import markdown, text_table

CLAIMS = claims_of("grokking")


@pytest.fixture(scope="module")
def outcomes(quick_context):
    return {c.name: evaluate(c, quick_context) for c in CLAIMS}


@pytest.mark.parametrize("name", [c.name for c in CLAIMS])
def test_claim_passes_and_its_control_fails(outcomes, name):
    out = outcomes[name]
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_passed is False, f"{name} control: {out.control_values}"


def test_every_claim_has_a_control_and_a_source():
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS)
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source


def test_report_lists_every_claim(outcomes, tmp_path):
    ctx = Context(preset="quick", seeds=(0, 1, 2))
    md = markdown(list(outcomes.values()), ctx, [], tmp_path)
    table = text_table(list(outcomes.values()))
    for c in CLAIMS:
        assert f"grokking.{c.name}" in md and f"grokking.{c.name}" in table


def test_unknown_paper_is_a_clear_error():
    assert "grokking" in available()
    with pytest.raises(ValueError, match="unknown paper"):
        claims_of("nonexistent")
