"""The specdec claims at the quick preset: the tabular ones (numpy, about a minute for their ten seeds) run by
default, the claims on the trained tiny pair (which train it once, minutes, then distil and time it) are marked
slow. Each claim must pass and its negative control must fail."""
from __future__ import annotations

import pytest

from paper_checks import available, claims_of, evaluate
from paper_checks.report import markdown, text_table

CLAIMS = claims_of("specdec")
TABULAR = {"exact_tabular", "block_efficiency_formula"}
# measured over seeds 0-9 (docs/specdec.md): deterministic on a CPU, so strict (the day one passes, this says so);
# the speed claim depends on the machine's timings, so not strict
KNOWN_FAILURES = {
    "distillation_raises_greedy_acceptance": pytest.mark.xfail(
        strict=True, reason="greedy gain of the weakest divergence -0.0027 [-0.019, 0.014] straddles 0.005"),
    "onpolicy_data_as_good": pytest.mark.xfail(
        strict=True, reason="on-policy minus target-generated -0.0102 [-0.0123, -0.0081] straddles -0.01"),
    "speedup_formula": pytest.mark.xfail(
        strict=False, reason="measured speed-up 0.70 [0.59, 0.82] of the formula on a shared 2-core CPU"),
}


@pytest.mark.parametrize("name", sorted(TABULAR))
def test_tabular_claim_passes_and_its_control_fails(quick_context, name):
    out = evaluate(next(c for c in CLAIMS if c.name == name), quick_context)
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"
    assert len(out.values) == 10


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=KNOWN_FAILURES[n]) if n in KNOWN_FAILURES else n
                                  for n in sorted({c.name for c in CLAIMS} - TABULAR)])
def test_trained_claim_passes_and_its_control_fails(quick_context, name):
    out = evaluate(next(c for c in CLAIMS if c.name == name), quick_context)
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


def test_every_claim_has_a_control_a_source_and_a_unique_name():
    assert "specdec" in available()
    assert len({c.name for c in CLAIMS}) == len(CLAIMS) >= 10
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.paper == "specdec"
        assert c.expect.origin


def test_report_lists_the_tabular_claims(quick_context, tmp_path):
    outs = [evaluate(c, quick_context) for c in CLAIMS if c.name in TABULAR]
    md, table = markdown(outs, quick_context, [], tmp_path), text_table(outs)
    for o in outs:
        assert f"specdec.{o.claim.name}" in md and f"specdec.{o.claim.name}" in table
