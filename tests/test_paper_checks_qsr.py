"""The QSR claims (paper_checks/qsr.py): their form; every claim's machinery at the test preset (a value per seed
for claim and control); the verdicts of the numpy claims and of the real-process semantics at the quick preset;
the verdicts of the torch run's claims at the quick preset (one slow test)."""
from __future__ import annotations

import math

import pytest

from paper_checks import CONSISTENCY, Context, available, claims_of, evaluate
from paper_checks import qsr as checks
from paper_checks.claims import EMPIRICAL

CLAIMS = {c.name: c for c in claims_of("qsr")}
TORCH_CLAIMS = ("allreduces_follow_the_schedule", "wall_time_model", "qsr_saves_wall_time",
                "qsr_beats_constant_accuracy")
SEMANTICS = ("h1_local_equals_data_parallel", "ranks_identical_after_average", "allreduces_follow_the_schedule",
             "vit_recipe_rounds")
NEEDS_TORCH = TORCH_CLAIMS + SEMANTICS[:2]


def test_every_claim_has_a_control_a_source_and_an_origin():
    assert "qsr" in available() and len(CLAIMS) == len(checks.CLAIMS) == 13
    for c in checks.CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.expect.origin, c.name
    assert {c.name for c in checks.CLAIMS if c.kind == CONSISTENCY} == {
        "vit_recipe_rounds", "h1_local_equals_data_parallel", "ranks_identical_after_average",
        "allreduces_follow_the_schedule"}
    assert sum(c.kind == EMPIRICAL for c in checks.CLAIMS) == 9
    # the paper's published numbers are shown beside the claims, never as bands
    assert "79.32" in CLAIMS["qsr_beats_constant_accuracy"].paper_value
    assert "26.7" in CLAIMS["qsr_saves_wall_time"].paper_value


def test_the_vit_recipe_gives_the_replayed_count_and_power_one_another(tmp_path):
    out = evaluate(CLAIMS["vit_recipe_rounds"], Context(seeds=(0, 1), cache=tmp_path, seeds_chosen=True))
    assert out.values == [9711.0, 9711.0] and out.passed
    assert out.control_values == [16718.0, 16718.0] and out.control_outcome == "fails"


@pytest.fixture(scope="module")
def test_context(tmp_path_factory):
    return Context(preset="test", seeds=(0, 1), cache=tmp_path_factory.mktemp("qsr-claims"), seeds_chosen=True)


# two torch claims whose test-preset runs take 8-14 s each and check no identity (the identities in SEMANTICS stay
# in the default suite): under -m slow, to keep the default suite near 10 minutes on 2 cores
SLOW_AT_TEST = ("qsr_saves_wall_time", "qsr_beats_constant_accuracy")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_AT_TEST else n
                                  for n in sorted(CLAIMS)])
def test_every_claim_measures_a_value_per_seed_at_the_test_preset(name, test_context):
    if name in NEEDS_TORCH:
        pytest.importorskip("torch")
        pytest.importorskip("sklearn")
    out = evaluate(CLAIMS[name], test_context)
    assert len(out.values) == len(out.control_values) == 2
    assert all(math.isfinite(v) for v in out.values + out.control_values), (out.values, out.control_values)
    if name in SEMANTICS:  # exact or rounding-level identities: every seed's value in the band, every control's out
        band = CLAIMS[name].expect
        assert all(band.low <= v <= band.high for v in out.values), (name, out.values)
        assert not any(band.low <= v <= band.high for v in out.control_values), (name, out.control_values)


@pytest.mark.parametrize("name", ["qsr_drift_matches_slow_sde", "inverse_lr_drift_matches_slow_sde",
                                  "sgd_drift_matches_slow_sde", "qsr_factor_grows_as_eta_decays",
                                  "ranking_constant_inverse_qsr", "qsr_fewest_rounds"])
def test_the_numpy_claims_hold_at_the_quick_preset_and_their_controls_fail(name, quick_context):
    """Verdicts of record (2026-12-04, seeds 0-2): the drift law within 3% (the finite-eta variance of the discrete
    iteration), the ranking by 2.3% of the sharpness range, QSR at 0.74 of the nearer rule's rounds; every control
    lies outside its band."""
    out = evaluate(CLAIMS[name], quick_context)
    assert out.passed and out.control_outcome == "fails", (name, out.values, out.control_values)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["h1_local_equals_data_parallel", "ranks_identical_after_average"])
def test_the_real_process_semantics_at_the_quick_preset(name, quick_context):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = evaluate(CLAIMS[name], quick_context)
    assert out.passed and out.control_outcome == "fails", (name, out.values, out.control_values)


@pytest.mark.slow
def test_the_torch_claims_at_the_quick_preset(quick_context):
    """The torch run's claims at the quick preset (five seeds): the all-reduce count is the schedule's and QSR saves
    wall time; the wall-time model (fails in the run of record: 0.24 [0.12, 0.36], the model misses the ranks' wait
    at each average) and the accuracy comparison (fails: every rule ends at the same accuracy) are measurements
    whose verdicts are recorded in docs/qsr.md: the wall-time model's control is asserted, and the accuracy claim
    only for a value per seed (its one-process control is 0 by construction, so asserting it would test nothing)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = evaluate(CLAIMS["allreduces_follow_the_schedule"], quick_context)
    assert out.passed and out.control_outcome == "fails", (out.values, out.control_values)
    # timing: the control (as many all-reduces as data-parallel) sits at a ratio of 1 up to the machine's jitter,
    # which may straddle the band's edge (the claim declares it); it must never land inside the band
    out = evaluate(CLAIMS["qsr_saves_wall_time"], quick_context)
    assert out.passed and out.control_ok and out.control_outcome != "passes", (out.values, out.control_values)
    out = evaluate(CLAIMS["wall_time_model"], quick_context)
    assert out.control_outcome == "fails", (out.values, out.control_values)
    out = evaluate(CLAIMS["qsr_beats_constant_accuracy"], quick_context)
    assert len(out.values) == checks.TIMING_SEEDS and all(math.isfinite(v) for v in out.values), out.values
