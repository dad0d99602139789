"""Every knapsack claim at the quick preset over its default seeds (three; ten for the two size laws): the claim
must pass and its negative control must fail. The 13 solver checks are consistency checks (the model solved
numerically against the theorem or closed form) and run in the default suite (seconds); the training claims train
many small Transformers (several minutes per seed on 2 CPU cores) and are marked slow. A consistency check must
also fail when the closed form it checks is wrong, or the numeric solver is."""
from __future__ import annotations

import numpy as np
import pytest

from paper_checks import CONSISTENCY, EMPIRICAL, Context, claims_of, evaluate
from paper_checks import knapsack as PK
from paper_checks.claims import SOURCE_STATUSES
from paper_checks.knapsack import SIZE_LAW_SEEDS
from paper_checks.report import markdown
from sims.knapsack import solver
from theory import knapsack as K

CLAIMS = claims_of("knapsack")
SOLVER = [c for c in CLAIMS if not c.name.startswith("train_")]
TRAINING = [c for c in CLAIMS if c.name.startswith("train_")]


def _claim(name):
    return next(c for c in CLAIMS if c.name == name)


@pytest.mark.parametrize("name", [c.name for c in SOLVER])
def test_solver_check_passes_and_its_control_fails(quick_context, name):
    out = evaluate(_claim(name), quick_context)
    assert out.claim.kind == CONSISTENCY
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"
    assert out.ok


# measured over seeds 0-9 (docs/knapsack.md): the exponent gap is +0.34 [0.14, 0.54], outside the +-0.5 band at its upper
# end; strict, so the day it passes this test says so
_EXPONENT_FAILS = pytest.mark.xfail(strict=True, reason="quick preset: exponent gap +0.34 [0.14, 0.54] (seeds 0-9)")


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(c.name, marks=_EXPONENT_FAILS) if c.name == "train_exponent_matches"
                                  else c.name for c in TRAINING])
def test_training_claim_passes_and_its_control_fails(quick_context, name):
    out = evaluate(_claim(name), quick_context)
    assert out.claim.kind == EMPIRICAL
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"


@pytest.fixture
def fresh_solver_caches():
    """The numeric solutions are memoised per config within a process: start and end without them, so a test that
    breaks a solver neither sees nor leaves a stale solution."""
    def clear():
        solver._solve_numeric.cache_clear()
        for f in (PK._subsampling, PK._linear_group_thresholds, PK._ramp_ends):
            f.cache_clear()
    clear()
    yield
    clear()


def _one_seed(tmp_path):
    return Context(preset="quick", seeds=(0,), seeds_chosen=True, cache=tmp_path)


def test_consistency_checks_fail_when_the_closed_form_is_off_by_three_percent(tmp_path, monkeypatch,
                                                                               fresh_solver_caches):
    # M0 3% too large: the closed forms built on it (thresholds, ramp, width, subsampling optimum) move; the
    # numeric solver only evaluates F2 and does not
    true_m0 = K.PowerLawLoss.capacity_at_slope
    monkeypatch.setattr(K.PowerLawLoss, "capacity_at_slope", lambda self, t: 1.03 * true_m0(self, t))
    ctx = _one_seed(tmp_path)
    for name in ("zero_below_threshold", "linear_ramp", "critical_size_law", "subsampling_optimum",
                 "subsampling_rescues", "transition_width"):
        out = evaluate(_claim(name), ctx)
        assert out.estimate is not None and not out.passed, f"{name} missed a wrong M0: {out.values}"
    # the critical ratio (Eq. 5) 3% too high
    true_ratio = K.critical_ratio
    monkeypatch.setattr(K, "critical_ratio", lambda M, p, F2=None: 1.03 * true_ratio(M, p, F2))
    out = evaluate(_claim("critical_ratio_law"), ctx)
    assert out.estimate is not None and not out.passed


def test_consistency_checks_fail_when_the_numeric_solver_is_off(tmp_path, monkeypatch, fresh_solver_caches):
    true_search = K.optimal_m1_search
    monkeypatch.setattr(K, "optimal_m1_search", lambda *a, **k: 0.97 * np.asarray(true_search(*a, **k)))
    ctx = _one_seed(tmp_path)
    for name in ("full_above_threshold", "linear_ramp", "no_mixing_linear_law", "subsampling_rescues"):
        out = evaluate(_claim(name), ctx)
        assert out.estimate is not None and not out.passed, f"{name} missed a wrong solver: {out.values}"


def test_claims_are_complete_and_cite_the_paper(tmp_path):
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS) == 13 + 5
    assert len(SOLVER) == 13 and all(c.kind == CONSISTENCY for c in SOLVER)
    assert len(TRAINING) == 5 and all(c.kind == EMPIRICAL for c in TRAINING)
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.paper == "knapsack"
        assert c.source_status in SOURCE_STATUSES and c.expect.origin.strip()
        # sources are the paper's sections or theorems, or our closed forms in the repository: never notes
        text = " ".join((c.source, c.statement, c.measurement, c.expect.origin)).lower()
        assert "notes" not in text and "prediction" not in c.source.lower()
    ours = {c.name for c in CLAIMS if c.source_status == "ours"}
    assert {"linear_ramp", "transition_width", "subsampling_optimum"} <= ours
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


def test_longer_runs_of_the_seeds_at_once_equal_the_runs_one_by_one(tmp_path, monkeypatch):
    """`_longer` trains its one run per seed concurrently on shared workers (`Experiment.cached_all`); each equals
    the run trained alone."""
    from sims.knapsack import TRAIN

    tiny = TRAIN.config("quick", sizes=(8, 12), ratios=(0.01, 0.1, 0.5), steps=20, batch=32, n_people=4,
                        n_values=4, n_keys=56, n_alphabet=8)
    monkeypatch.setitem(TRAIN.presets, "quick", tiny)
    ctx = Context(preset="quick", seeds=(0, 1, 2), seeds_chosen=True, cache=tmp_path / "c", workers=2)
    got = PK._longer(ctx)
    assert [r.config["seed"] for r in got] == [0, 1, 2]
    for r in got:
        assert r.config["steps"] == 40 and r.config["sizes"] == [8]
        alone = TRAIN.run(TRAIN.config("quick", **{k: v for k, v in r.config.items()
                                                   if k in {"seed", "steps", "ratios", "sizes"}}, workers=1))
        assert np.array_equal(r.arrays["memorized_raw"], alone.arrays["memorized_raw"])
        assert np.array_equal(r.arrays["web_loss"], alone.arrays["web_loss"])
