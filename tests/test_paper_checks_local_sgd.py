"""Every Local SGD claim at the quick preset over three seeds: the claim must pass and its negative control
must fail. Results are cached per test session, so each simulation runs once."""
from __future__ import annotations

import numpy as np
import pytest

from paper_checks import Context, available, claims_of, evaluate
from paper_checks.report import markdown, text_table
from sims.local_sgd import TOY

CLAIMS = claims_of("local_sgd")
SLOW = {"torch_flatter"}  # the MLP run takes ~20 s on one core: run with `pytest -m slow`
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
def test_torch_claim_on_real_digits(cache_dir):
    """The torch claim on the real 8x8 digits: Local SGD ends flatter (gain 0.120 [0.079, 0.162] on seeds 0-2, 0.104
    on 3-5). Its short-training control does not fail there (1/100 of the steps already gives 0.058 [0.029, 0.087]
    on seeds 0-2 and 0.099 on 3-5, also at the gradient-flow projections of the iterates), a measured verdict
    recorded in docs/local_sgd.md; so the claim is asserted, and the control only for a value per inner seed."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    ctx = Context(preset="quick", seeds=(0, 1, 2), cache=cache_dir)
    out = evaluate(next(c for c in CLAIMS if c.name == "torch_flatter"), ctx)
    assert out.estimate is not None and out.passed, out.values
    assert len(out.control_values) == 4 and all(np.isfinite(out.control_values)), out.control_values


def test_every_claim_has_a_control_and_a_source():
    assert "local_sgd" in available()
    names = {c.name for c in CLAIMS}
    assert len(names) == len(CLAIMS) >= 5
    for c in CLAIMS:
        assert c.control is not None and c.control_setting and c.source and c.paper == "local_sgd"


def test_report_lists_every_claim(outcomes, tmp_path):
    ctx = Context(preset="quick", seeds=(0, 1, 2))
    md = markdown(list(outcomes.values()), ctx, [], tmp_path)
    table = text_table(list(outcomes.values()))
    for c in FAST_CLAIMS:
        assert f"local_sgd.{c.name}" in md and f"local_sgd.{c.name}" in table


@pytest.mark.parametrize("name", [c.name for c in FAST_CLAIMS])
def test_controls_fail_decisively(outcomes, name):
    """The control's whole confidence interval lies outside the expected band (it does not fail by straddling an
    edge), and the claim's whole interval inside it with its values, so a small shift cannot flip either verdict."""
    out = outcomes[name]
    lo, hi = out.claim.expect.low, out.claim.expect.high
    ce = out.control_estimate
    assert ce is not None and (ce.high < lo or ce.low > hi), (name, ce)
    assert all(lo <= v <= hi for v in out.values), (name, out.values)


def test_large_lr_control_keeps_the_slow_time_and_alpha(cache_dir):
    """The large-learning-rate control changes eta only: same eta^2 * steps and eta * H as the claim's runs, so
    its failure is not the saturation of both algorithms at the flattest point after 100x the slow time."""
    from paper_checks.local_sgd import _large_lr

    ctx = Context(preset="quick", seeds=(0,), cache=cache_dir)
    base = TOY.presets["quick"]
    cfg = _large_lr(ctx)[0].config
    assert cfg["eta"] == pytest.approx(10 * base.eta)
    assert cfg["eta"] ** 2 * cfg["steps"] == pytest.approx(base.eta ** 2 * base.steps)
    assert cfg["eta"] * cfg["H"] == pytest.approx(base.eta * base.H)
    assert _large_lr(ctx)[0].summary.sgd.final_sharpness > 2.2  # SGD is far from the flattest point (2)
