"""The RaPTr claims (paper_checks/raptr.py): their form, the FLOPs relations (exact, at any preset), and the
experiment claims at the test preset, where the networks are too small for the paper's effects and only the
machinery is asserted (a value per seed for claim and control). Their verdicts at the quick preset are one slow
test."""
from __future__ import annotations

import math

import pytest

from paper_checks import CONSISTENCY, PUBLISHED, Context, available, claims_of, evaluate
from paper_checks import raptr as checks
from paper_checks.claims import EMPIRICAL

CLAIMS = {c.name: c for c in claims_of("raptr")}


def test_every_claim_has_a_control_a_source_and_an_origin():
    assert "raptr" in available() and len(CLAIMS) == len(checks.CLAIMS)
    for c in checks.CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.expect.origin, c.name
    assert {c.name for c in checks.CLAIMS if c.kind == PUBLISHED} == {"bert_schedule_speedup"}
    assert {c.name for c in checks.CLAIMS if c.kind == CONSISTENCY} == {"counted_flops_equal_formula"}
    assert all(c.kind == EMPIRICAL for c in checks.CLAIMS if c.name.startswith(("stability", "increasing")))


def test_the_bert_schedule_gives_the_stated_speedup_and_its_control_does_not():
    out = evaluate(CLAIMS["bert_schedule_speedup"], Context(preset="test", seeds=(0, 1), seeds_chosen=True))
    assert out.values == [pytest.approx(4 / 3 / 1.33)] * 2 and out.passed
    assert out.control_values == [pytest.approx(4 / 3 / 1.2)] * 2 and out.control_outcome == "fails"


@pytest.fixture(scope="module")
def test_context(tmp_path_factory):
    return Context(preset="test", seeds=(0, 1), cache=tmp_path_factory.mktemp("raptr-claims"), seeds_chosen=True)


@pytest.mark.parametrize("name", [n for n in CLAIMS if n != "bert_schedule_speedup"])
def test_the_experiment_claims_measure_a_value_per_seed_at_the_test_preset(name, test_context):
    out = evaluate(CLAIMS[name], test_context)
    assert len(out.values) == len(out.control_values) == 2
    assert all(math.isfinite(v) for v in out.values + out.control_values), (out.values, out.control_values)


def test_counted_flops_are_exact_for_fixed_size_subsets(test_context):
    out = evaluate(CLAIMS["counted_flops_equal_formula"], test_context)
    assert out.values == [0.75, 0.75] and out.control_values == [1.0, 1.0]


@pytest.mark.slow
def test_the_raptr_claims_at_the_quick_preset(quick_context):
    """The verdicts of record (run of 2026-12-03, seeds 0-2): the stability slopes and counted FLOPs hold with
    their controls failing; RaPTr does not match the baseline at this scale (its PLD control fails too); the
    staircase and transition-jump claims hold but their controls do not fail (PLD is as bad on the degree-1
    target; jumps are as small without scaling), so those checks are not counted as passed."""
    for name in ("counted_flops_equal_formula", "stability_decays_with_residual_and_ln",
                 "stability_flat_without_ln", "stability_flat_without_residual"):
        out = evaluate(CLAIMS[name], quick_context)
        assert out.passed and out.control_outcome == "fails", (name, out.values, out.control_values)
    lm = evaluate(CLAIMS["raptr_matches_baseline_at_fewer_flops"], quick_context)
    assert not lm.passed and lm.control_outcome == "fails", (lm.values, lm.control_values)
    for name in ("increasing_beats_decreasing", "transition_jumps_small_with_scaling"):
        out = evaluate(CLAIMS[name], quick_context)
        assert out.passed and out.control_outcome != "fails", (name, out.values, out.control_values)
