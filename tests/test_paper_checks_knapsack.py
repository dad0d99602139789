"""Every knapsack claim at the quick preset over its default seeds (three; ten for the two size laws): the claim
must pass and its negative control must fail. The solver claims run in the default suite (seconds); the training
claims train many small Transformers (several minutes per seed on 2 CPU cores) and are marked slow."""
from __future__ import annotations

import pytest

from paper_checks import Context, claims_of, evaluate
from paper_checks.knapsack import SIZE_LAW_SEEDS
from paper_checks.report import markdown

CLAIMS = claims_of("knapsack")
SOLVER = [c for c in CLAIMS if not c.name.startswith("train_")]
TRAINING = [c for c in CLAIMS if c.name.startswith("train_")]


@pytest.mark.parametrize("name", [c.name for c in SOLVER])
def test_solver_claim_passes_and_its_control_fails(quick_context, name):
    out = evaluate(next(c for c in SOLVER if c.name == name), quick_context)
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_passed is False, f"{name} control: {out.control_values}"


# measured over seeds 0-9 (README): the exponent gap is +0.34 [0.12, 0.57], outside the +-0.5 band at its upper
# end; strict, so the day it passes this test says so
_EXPONENT_FAILS = pytest.mark.xfail(strict=True, reason="quick preset: exponent gap +0.34 [0.12, 0.57] (seeds 0-9)")


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(c.name, marks=_EXPONENT_FAILS) if c.name == "train_exponent_matches"
                                  else c.name for c in TRAINING])
def test_training_claim_passes_and_its_control_fails(quick_context, name):
    out = evaluate(next(c for c in TRAINING if c.name == name), quick_context)
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_passed is False, f"{name} control: {out.control_values}"


def test_claims_are_complete_and_cite_the_paper(tmp_path):
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS) >= 13 + 4
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.paper == "knapsack"
    cited = " ".join(c.paper_value for c in CLAIMS)
    for number in ("-1.152", "-1.283", "58.1", "37.46"):
        assert number in cited
    md = markdown([], Context(), [], tmp_path)
    assert "Paper checks" in md


def test_size_law_claims_are_measured_over_their_own_seeds_by_default():
    # a slope through four sizes varies ~0.33 between seeds: three seeds cannot decide a +-0.5 band
    laws = [c for c in CLAIMS if c.name in ("train_threshold_falls_with_size", "train_exponent_matches")]
    assert len(laws) == 2 and SIZE_LAW_SEEDS >= 10
    for c in laws:
        assert Context().for_claim(c).seeds == tuple(range(SIZE_LAW_SEEDS))
        assert Context(seeds=(0, 1), seeds_chosen=True).for_claim(c).seeds == (0, 1)
    assert all(c.seeds == 0 for c in CLAIMS if c not in laws)
