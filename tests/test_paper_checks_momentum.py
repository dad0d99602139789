"""Every momentum claim at the quick preset over three seeds: the claim must pass and its negative control
must fail, with an interval wholly outside the band and every control value finite. The torch control must
fail by a difference between two stable runs, never by a diverged one. Results are cached per test session, so
each simulation runs once."""
from __future__ import annotations

import numpy as np
import pytest

from paper_checks import Context, available, claims_of, evaluate
from paper_checks.momentum import (QUICK_CONTROL_BETA, memory_of_run_beta, stable_acc_diff, torch_stability,
                                   trained_stably)
from paper_checks.report import markdown, text_table
from sims.momentum import TORCH

CLAIMS = claims_of("momentum")


@pytest.fixture(scope="module")
def outcomes(quick_context):
    return {c.name: evaluate(c, quick_context) for c in CLAIMS}


@pytest.mark.parametrize("name", [c.name for c in CLAIMS])
def test_claim_passes_and_its_control_fails(outcomes, name):
    out = outcomes[name]
    assert out.estimate is not None and out.passed, f"{name}: {out.values}"
    assert out.control_outcome == "fails", f"{name} control: {out.control_values}"
    assert len(out.control_values) == 3 and np.all(np.isfinite(out.control_values)), name


def test_every_claim_has_a_control_and_a_source():
    assert "momentum" in available()
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS) >= 6
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.paper == "momentum"


def test_controls_leave_the_regime_by_a_wide_margin(outcomes):
    """The controls do not fail by a hair: each control mean sits well outside the expected interval."""
    for name, out in outcomes.items():
        est, exp = out.control_estimate, out.claim.expect
        assert est is not None, name
        width = (exp.high - exp.low) if np.isfinite(exp.high - exp.low) else 1.0
        gap = max(exp.low - est.mean, est.mean - exp.high)
        assert gap > 0.2 * width, f"{name}: control mean {est.mean} vs {exp}"


def test_report_lists_every_claim(outcomes, tmp_path):
    ctx = Context(preset="quick", seeds=(0, 1, 2))
    md = markdown(list(outcomes.values()), ctx, [], tmp_path)
    table = text_table(list(outcomes.values()))
    for c in CLAIMS:
        assert f"momentum.{c.name}" in md and f"momentum.{c.name}" in table


def test_torch_control_runs_are_stable_and_trained(quick_context):
    """The torch control compares two runs that both train: no network diverges, every final training loss is
    finite and below the loss at the start, every network ends at least twice chance on its training set; and
    SGD, which is the same run as in the claim, ends where it does in the claim."""
    assert QUICK_CONTROL_BETA == memory_of_run_beta(TORCH.presets["quick"].steps) > 0.998
    runs = quick_context.results(TORCH, beta=QUICK_CONTROL_BETA)
    claim_runs = quick_context.results(TORCH)
    for run, claim_run in zip(runs, claim_runs):
        st = torch_stability(run)
        assert trained_stably(run), st
        start = float(np.max(run.arrays["train_loss"][0]))
        for end in (st.sgd, st.sgdm):
            assert end.diverged == 0, st
            assert np.isfinite(end.max_train_loss) and end.max_train_loss < 0.6 * start, st
            assert end.min_train_acc >= 2 * st.chance, st
        assert run.summary.sgd.final_test_acc == claim_run.summary.sgd.final_test_acc


def test_a_diverged_run_gives_no_value(quick_context):
    """SGD beyond its stability edge (eta = 2) diverges: such a run is no control, and gives NaN."""
    ctx = Context(preset="quick", seeds=(0,), cache=quick_context.cache)
    runs = ctx.results(TORCH, eff_lr=2.0)
    assert runs[0].summary.sgd.diverged > 0 and not trained_stably(runs[0])
    assert np.isnan(stable_acc_diff(runs)[0])
