"""Property tests of theory.safety: the token-wise constrained loss of Qi et al. (ICLR 2025), its gradient
weight, its small- and large-beta limits, Theorem 3, the beta schedule, and the small-probability growth laws
of a fine-tuning attack (notes Sec. 2.11, T2.3 and T2.4)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import safety

LOGP = st.floats(-30.0, -1e-6, allow_nan=False)
BETA = st.floats(0.01, 20.0)


# ---------------------------------------------------------------------------------------------------- T2.3 (a)
@settings(max_examples=100, deadline=None)
@given(LOGP, LOGP, BETA)
def test_loss_is_the_softplus_form_of_eq3(lt, la, b):
    sig = 1.0 / (1.0 + math.exp(-b * (lt - la))) if b * (lt - la) > -700 else 0.0
    loss = float(safety.constrained_token_loss(lt, la, b))
    soft = (2.0 / b) * math.log1p(math.exp(b * (la - lt))) if b * (la - lt) < 30 else None
    if soft is not None:
        assert loss == pytest.approx(soft, rel=1e-12, abs=1e-12)
    if sig > 1e-12:  # Eq. 3 as written, -(2/beta) log sigma(beta log(pi_theta / pi_a))
        assert loss == pytest.approx(-(2.0 / b) * math.log(sig), rel=1e-9, abs=1e-12)
    assert safety.delta(lt, la) == pytest.approx(la - lt)


def test_loss_is_finite_for_extreme_arguments_and_broadcasts():
    lt = np.array([-1e4, -1e-9])
    out = safety.constrained_token_loss(lt[:, None], np.array([-1e-9, -1e4]), np.array([50.0, 0.5]))
    assert out.shape == (2, 2) and np.all(np.isfinite(out))
    assert out[0, 0] == pytest.approx(2 * (1e4 - 1e-9), rel=1e-12)  # large-beta regime, Delta > 0


# ---------------------------------------------------------------------------------------------------- T2.3 (b)
@settings(max_examples=100, deadline=None)
@given(st.floats(-20.0, -0.01), st.floats(-20.0, -0.01), st.floats(0.05, 10.0))
def test_weight_is_minus_the_derivative_of_the_loss(lt, la, b):
    h = 1e-6 * min(1.0, 1.0 / b)
    num = (safety.constrained_token_loss(lt + h, la, b) - safety.constrained_token_loss(lt - h, la, b)) / (2 * h)
    w = float(safety.gradient_weight(lt, la, b))
    # central differences: truncation O(h^2 beta^2 w) and rounding ~ 1e-16 * loss / h
    assert -num == pytest.approx(w, abs=1e-5 * (1.0 + abs(lt) + abs(la)))
    assert 0.0 < w <= 2.0  # 2 sigma(x) rounds to 2.0 in floats for large x


@settings(max_examples=50, deadline=None)
@given(LOGP, BETA)
def test_weight_is_one_at_initialisation_like_cross_entropy(lp, b):
    assert safety.gradient_weight(lp, lp, b) == pytest.approx(1.0, abs=1e-15)


def test_clamped_weight_keeps_a_floor_the_maths_does_not():
    w = safety.gradient_weight(-1e-3, -20.0, 2.0)
    assert w < 1e-15
    assert safety.clamped_weight(-1e-3, -20.0, 2.0) == 1e-3
    assert safety.clamped_weight(-5.0, -5.0, 2.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="floor"):
        safety.clamped_weight(-1.0, -1.0, 1.0, floor=-0.1)


# ---------------------------------------------------------------------------------------------------- T2.3 (c), (d)
@settings(max_examples=150, deadline=None)
@given(LOGP, LOGP, BETA)
def test_small_beta_limit_bound_holds(lt, la, b):
    loss = float(safety.constrained_token_loss(lt, la, b))
    limit, bound = safety.small_beta_limit(lt, la, b)
    assert abs(loss - limit) <= bound + 1e-9 * (1.0 + abs(limit))


def test_small_beta_limit_is_cross_entropy_plus_a_theta_independent_shift():
    la, b = -3.0, 1e-4
    lts = np.array([-0.5, -2.0, -7.0])
    loss = safety.constrained_token_loss(lts, la, b)
    shift = loss - (-lts)
    assert np.ptp(shift) < 1e-2 and shift[0] == pytest.approx(2 / b * math.log(2) + la, abs=1e-2)


@settings(max_examples=150, deadline=None)
@given(LOGP, LOGP, BETA)
def test_large_beta_limit_bound_holds(lt, la, b):
    loss = float(safety.constrained_token_loss(lt, la, b))
    limit, bound = safety.large_beta_limit(lt, la, b)
    assert 0.0 <= loss - limit + 1e-12 * (1.0 + limit)
    assert loss - limit <= bound + 1e-12 * (1.0 + limit)


def test_large_beta_loss_vanishes_once_theta_beats_the_aligned_model():
    assert safety.constrained_token_loss(-0.1, -2.0, 200.0) < 1e-12
    assert safety.constrained_token_loss(-2.0, -0.1, 200.0) == pytest.approx(2 * 1.9, rel=1e-9)


# ---------------------------------------------------------------------------------------------------- T2.3 (e)
def _simplex(rng, k):
    return rng.dirichlet(np.ones(k))


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 30), st.integers(0, 2**31 - 1))
def test_theorem3_zero_iff_equal(k, seed):
    rng = np.random.default_rng(seed)
    p, a, t = _simplex(rng, k), _simplex(rng, k), _simplex(rng, k)
    assert safety.theorem3_limit_loss(p, a, a) == 0.0
    if np.max(np.abs(np.log(a) - np.log(t))) > 1e-8:
        assert safety.theorem3_limit_loss(p, t, a) > 0.0


def test_theorem3_needs_full_data_support_and_batches():
    a = np.array([0.5, 0.3, 0.2])
    t = np.array([0.6, 0.3, 0.1])  # token 3 lost probability mass relative to a
    assert safety.theorem3_limit_loss([0.5, 0.5, 0.0], t, a) == 0.0  # p_data misses token 3: no signal
    assert safety.theorem3_limit_loss([0.0, 0.0, 1.0], t, a) == pytest.approx(math.log(2.0))
    out = safety.theorem3_limit_loss(np.tile([1 / 3] * 3, (2, 1)), np.stack([a, t]), np.stack([a, a]))
    assert out.shape == (2,) and out[0] == 0.0 and out[1] > 0


# ---------------------------------------------------------------------------------------------------- schedule
def test_beta_schedule_matches_the_notes():
    np.testing.assert_allclose(safety.beta_schedule(8), [0.5, 2, 2, 2, 2, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(safety.beta_schedule(1), [0.5])
    np.testing.assert_allclose(safety.beta_schedule(3, beta=1.0, bias_length=0), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(safety.beta_schedule(3, bias_length=1), [0.5, 0.1, 0.1])


# ---------------------------------------------------------------------------------------------------- T2.4
def test_constrained_growth_matches_the_notes_point():
    # Notes T2.4: beta = 2, pi0 = 1e-6, lr 0.5, 1,000 steps -> 4.47e-5 in both, agreement "to 0.2 %".
    sim = safety.simulate_token_growth(1e-6, 0.5, 1000, beta=2.0)[-1]
    cf = float(safety.constrained_growth(1e-6, 0.5, 1000, 2.0))
    assert cf == pytest.approx(4.47e-5, rel=1e-3) and sim == pytest.approx(4.47e-5, rel=1e-3)
    assert abs(cf / sim - 1) <= 2e-3  # the 0.2 % the notes report


def test_constrained_growth_is_rough_for_small_beta():
    # Notes T2.4: "within ~1.4x for beta = 0.5" (out of regime: pi reaches ~0.2). We measure 1.35x.
    sim = safety.simulate_token_growth(1e-6, 0.5, 1000, beta=0.5)[-1]
    ratio = float(safety.constrained_growth(1e-6, 0.5, 1000, 0.5)) / sim
    assert 1.0 < ratio < 1.4


@settings(max_examples=15, deadline=None)
@given(st.floats(1.5, 3.0), st.floats(0.1, 0.5), st.floats(-9.0, -6.0))
def test_constrained_growth_closed_form_in_its_regime(b, eta, log10_pi0):
    pi0, steps = 10.0 ** log10_pi0, 1000
    sim = safety.simulate_token_growth(pi0, eta, steps, beta=b)[-1]
    cf = float(safety.constrained_growth(pi0, eta, steps, b))
    u = math.log(cf / pi0)
    # Tolerance: the ODE correction estimate of the constrained_growth docstring, u / (beta (1 + 2 beta eta t)),
    # doubled, plus 1e-3 for the Euler-step error that estimate ignores. Set from a scan of this box
    # (beta 1.5-3, eta 0.1-0.5, pi0 1e-9-1e-6), worst observed 1.1e-2 against a tolerance of 1.8e-2 there.
    tol = 2 * u / (b * (1 + 2 * b * eta * steps)) + 1e-3
    assert abs(cf / sim - 1) <= tol


@settings(max_examples=15, deadline=None)
@given(st.floats(0.005, 0.012), st.floats(-10.0, -8.0))  # pi(t) <= 1e-8 e^12 = 1.6e-3
def test_ce_growth_closed_form_in_its_regime(eta, log10_pi0):
    pi0, steps = 10.0 ** log10_pi0, 1000
    sim = safety.simulate_token_growth(pi0, eta, steps)[-1]
    cf = float(safety.ce_growth(pi0, eta, steps))
    assert sim < 1e-2  # small-probability regime
    # Neglected factors are (1 - pi) in the step and in sigma(z) ~ e^z: first order 2 pi(t); 1.5x margin.
    assert abs(cf / sim - 1) <= 3 * sim


def test_ce_grows_faster_than_the_constrained_loss():
    ce = safety.simulate_token_growth(1e-4, 0.5, 300)
    for b in (0.1, 0.5, 2.0):
        con = safety.simulate_token_growth(1e-4, 0.5, 300, beta=b)
        assert ce[1] == pytest.approx(con[1], rel=1e-12)  # first step: weight 1 (Delta = 0)
        assert np.all(ce[2:] > con[2:])
    assert ce[-1] > 0.99
    assert safety.simulate_token_growth(1e-4, 0.5, 300, beta=2.0)[-1] < 0.01
    t = np.array([100, 1000])
    assert np.all(safety.ce_growth(1e-9, 0.5, t) > safety.constrained_growth(1e-9, 0.5, t, 2.0))


def test_schedule_protects_early_positions_t24():
    # T2.4 prototype: aligned harmful probs 1e-4, 1e-3, 1e-2 at positions 1-3, 300 steps, lr 0.5.
    betas = safety.beta_schedule(3)
    final = [safety.simulate_token_growth(p, 0.5, 300, beta=b)[-1] for p, b in zip((1e-4, 1e-3, 1e-2), betas)]
    ce = [safety.simulate_token_growth(p, 0.5, 300)[-1] for p in (1e-4, 1e-3, 1e-2)]
    assert min(ce) > 0.99
    assert final[1] < 0.1 and final[2] < 0.5 and final[0] > final[1]


# ---------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, name", [
    (lambda: safety.constrained_token_loss(-1.0, -1.0, 0.0), "beta"),
    (lambda: safety.gradient_weight(-1.0, -1.0, -2.0), "beta"),
    (lambda: safety.small_beta_limit(0.5, -1.0, 1.0), "logp_theta"),
    (lambda: safety.large_beta_limit(-1.0, np.nan, 1.0), "logp_aligned"),
    (lambda: safety.constrained_token_loss(np.zeros(2) - 1, np.zeros(3) - 1, 1.0), "shapes"),
    (lambda: safety.theorem3_limit_loss([0.5, 0.5], [0.5, 0.5], [1.0]), "same non-scalar shape"),
    (lambda: safety.theorem3_limit_loss([0.5, 0.5], [1.0, 0.0], [0.5, 0.5]), "pi_theta"),
    (lambda: safety.theorem3_limit_loss([0.7, 0.5], [0.5, 0.5], [0.5, 0.5]), "p_data"),
    (lambda: safety.beta_schedule(0), "n_positions"),
    (lambda: safety.beta_schedule(4, beta=0.0), "beta"),
    (lambda: safety.ce_growth(1.5, 0.1, 10), "pi0"),
    (lambda: safety.constrained_growth(1e-3, 0.0, 10, 1.0), "eta"),
    (lambda: safety.constrained_growth(1e-3, 0.1, -1, 1.0), "t"),
    (lambda: safety.simulate_token_growth(1e-3, 0.1, 2.5), "steps"),
    (lambda: safety.simulate_token_growth(1e-3, 0.1, 5, beta=0), "beta"),
])
def test_bad_arguments_raise_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
