"""Every grokking claim at the quick preset over three seeds: the claim must pass and its negative control must
fail (its whole interval outside the band, measured, never NaN). Results are cached per test session, so each
simulation runs once."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from paper_checks import Context, available, claims_of, evaluate
from paper_checks.claims import SOURCE_STATUSES
from paper_checks.grokking import lambda_rescaled_ratio, misgrok_drop, slope_of_delay
from paper_checks.report import markdown, text_table
from sims.engine import Result
from sims.grokking.diagonal import MarginClassifier
from sims.grokking.misgrok import MisgrokPoint, MisgrokSummary
from sims.grokking.sparse import SparsePoint, SparseSummary

CLAIMS = claims_of("grokking")
# the claims whose runs take 20-100 s on one core at the quick preset and are shared by no claim left in the default
# suite (`python -m paper_checks grokking` prints the times): the modular-arithmetic MLP sweep, the misgrokking sweep
# (two claims), the matrix-completion sweeps (two claims) and the sparse sweep without weight decay (the control of
# late_max_l1_margin); run with `pytest -m slow`, so that the default suite stays near 10 minutes on 2 cores. The
# other sparse-parity claims share one set of sweeps and stay in the default suite.
SLOW = {"modular_delay_grows", "misgrokking", "misgrokking_to_l1", "matrix_kernel_phase", "matrix_delay_log_linear",
        "late_max_l1_margin"}
FAST_CLAIMS = [c for c in CLAIMS if c.name not in SLOW]


@pytest.fixture(scope="module")
def outcomes(quick_context):
    return {c.name: evaluate(c, quick_context) for c in FAST_CLAIMS}


def _check(out, name):
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert all(math.isfinite(v) for v in out.control_values), f"{name} control: {out.control_values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values} ({out.control_placement})"
    assert out.ok


@pytest.mark.parametrize("name", [c.name for c in FAST_CLAIMS])
def test_claim_passes_and_its_control_fails(outcomes, name):
    _check(outcomes[name], name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_slow_claim_passes_and_its_control_fails(quick_context, name):
    _check(evaluate(next(c for c in CLAIMS if c.name == name), quick_context), name)


def test_every_claim_has_a_control_a_source_and_a_band_origin():
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS)
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source
        assert c.source_status in SOURCE_STATUSES and c.expect.origin.strip()
        assert "our notes" not in c.source + c.statement + c.measurement + c.expect.origin


def test_report_lists_every_claim(outcomes, tmp_path):
    ctx = Context(preset="quick", seeds=(0, 1, 2))
    md = markdown(list(outcomes.values()), ctx, [], tmp_path)
    table = text_table(list(outcomes.values()))
    for c in FAST_CLAIMS:
        assert f"grokking.{c.name}" in md and f"grokking.{c.name}" in table


def test_unknown_paper_is_a_clear_error():
    assert "grokking" in available()
    with pytest.raises(ValueError, match="unknown paper"):
        claims_of("nonexistent")


# ---- the measurements on hand-made runs ----------------------------------------------------------------------
NAN = float("nan")
NO_CLASSIFIER = MarginClassifier(test_acc=NAN, margin=NAN)


def _points(cls, **columns) -> list:
    """One `cls` per index of the equal-length `columns`; the fields not given are NaN."""
    size = len(next(iter(columns.values())))
    return [cls(**{f.name: float(columns[f.name][i]) if f.name in columns else NAN for f in dataclasses.fields(cls)})
            for i in range(size)]


def _sweep(init_norm, lam, t_grok, norm_start, norm_end) -> Result:
    points = _points(SparsePoint, init_norm=init_norm, lam=lam, t_grok=t_grok)
    summary = SparseSummary(points=points, max_l2_margin=NO_CLASSIFIER, max_l1_margin=NO_CLASSIFIER, delay_slopes=[])
    return Result("grokking.test", {}, summary, {"param_norm": np.array([norm_start, norm_end], dtype=float)})


def test_delay_slope_below_late_scale_fits_only_the_small_inits():
    """lambda*t = ln(init) above the late norm (3) and flat below it: the full slope is near 1 only above,
    the small-init slope is exactly 0."""
    norms = np.array([0.5, 1.0, 2.0, 8.0, 32.0])
    lam_t = np.where(norms > 3.0, np.log(norms), 0.2)
    run = _sweep(norms, [0.1] * 5, lam_t / 0.1, norms, [3.0] * 5)
    assert slope_of_delay([run], below_late_scale=True)[0] == pytest.approx(0.0, abs=1e-12)
    assert slope_of_delay([run])[0] > 0.3
    no_wd = _sweep(norms, [0.0] * 5, lam_t, norms, [3.0] * 5)
    assert math.isnan(slope_of_delay([no_wd])[0])
    one_small = _sweep(norms, [0.1] * 5, lam_t / 0.1, norms, [0.75] * 5)   # only ||theta0|| = 0.5 qualifies
    assert math.isnan(slope_of_delay([one_small], below_late_scale=True)[0])


def test_lambda_rescaled_ratio_is_one_for_a_1_over_lambda_clock_and_half_for_a_fixed_time():
    norms, lams = [1.0, 1.0], [0.01, 0.02]
    clock = _sweep(norms, lams, [300.0, 150.0], norms, norms)
    fixed = _sweep(norms, lams, [10.0, 10.0], norms, norms)
    assert lambda_rescaled_ratio([clock], init_norm=1.0)[0] == pytest.approx(1.0)
    assert lambda_rescaled_ratio([fixed], init_norm=1.0)[0] == pytest.approx(0.5)


def test_misgrok_drop_reads_a_lambda_zero_run_at_the_weight_decay_runs_instant():
    """The control without weight decay has no clock of its own: it is read at the clock run's T-_{1/2}, so a
    drop between that instant and the horizon shows (it is not the horizon minus itself)."""
    t = np.linspace(0.0, 100.0, 101)

    def run(lam, acc):
        points = _points(MisgrokPoint, init_norm=[64.0], lam=[lam], norm_final=[1.0], t_fit=[0.0],
                         test_acc_final=[acc[-1]])
        summary = MisgrokSummary(points=points, max_l2_margin=NO_CLASSIFIER, max_l1_margin=NO_CLASSIFIER)
        return Result("grokking.test", {}, summary, {"time": t, "test_acc": acc[:, None]})

    clock = run(0.1, np.ones_like(t))                 # T-_{1/2} = 0.5 ln(64)/0.1 = 20.8
    falling = run(0.0, np.where(t < 50.0, 1.0, 0.6))
    assert misgrok_drop([falling], clock_runs=[clock])[0] == pytest.approx(0.4)
    assert misgrok_drop([falling])[0] == pytest.approx(0.0)    # lambda = 0 alone: read at the horizon
