"""Tests of theory.knapsack (Gu, Lyu, Li, Zhang, arXiv 2505.18091, Sec. 4 and App. F): the knapsack solution,
its thresholds, subsampling and frequency groups, by property tests and against numeric solvers."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import knapsack as K

FAST = settings(max_examples=40, deadline=None)

alphas = st.floats(0.1, 0.9)
ratios = st.floats(1e-3, 0.9)
log_ms = st.floats(0.5, 5.0)
Hs = st.floats(1.0, 200.0)
ps = st.floats(1e-4, 1e-2)


@FAST
@given(alphas, ratios, log_ms, Hs, ps)
def test_solution_is_feasible_and_matches_the_numeric_solver(a, r, lm, H, p):
    web = K.PowerLawLoss(1.0, a)
    M = 10 ** lm
    m1 = K.optimal_m1(M, r, p, H, web)
    assert 0.0 <= m1 <= min(M, H) + 1e-12
    num = K.optimal_m1_numeric(M, r, p, H, web)
    assert abs(num - m1) <= 1e-6 * max(1.0, H)
    # optimality: no feasible m1 on a grid does better
    grid = np.linspace(0, min(M, H) * (1 - 1e-12), 201)
    best = K.objective(m1, M, r, p, H, web)
    assert np.all(K.objective(grid, M, r, p, H, web) >= best - 1e-12 * max(1.0, abs(best)))


@FAST
@given(alphas, ratios, log_ms, Hs, ps)
def test_marginal_values_are_equal_at_interior_optima(a, r, lm, H, p):
    web = K.PowerLawLoss(1.0, a)
    M = 10 ** lm
    phi = K.memorized_fraction(M, r, p, H, web)
    res = K.marginal_value_residual(M, r, p, H, web)
    if 1e-9 < phi < 1 - 1e-9:
        assert abs(res) <= 1e-8 * r * p + 1e-15
    elif phi <= 1e-9:
        assert res <= 1e-15          # facts worth less than the web's marginal bit: store none
    else:
        assert res >= -1e-15         # facts worth more: store all


@FAST
@given(alphas, ps, Hs, st.lists(ratios, min_size=2, max_size=6), st.lists(log_ms, min_size=2, max_size=6))
def test_memorized_fraction_is_monotone_in_r_and_M(a, p, H, rs, lms):
    web = K.PowerLawLoss(1.0, a)
    rs, Ms = np.sort(rs), 10 ** np.sort(lms)
    phi = K.memorized_fraction(Ms[:, None], rs[None, :], p, H, web)
    assert np.all(np.diff(phi, axis=0) >= -1e-12) and np.all(np.diff(phi, axis=1) >= -1e-12)


@FAST
@given(alphas, ratios, ps, Hs)
def test_total_loss_is_non_increasing_and_convex_in_M(a, r, p, H):
    web = K.PowerLawLoss(1.0, a)
    M = np.linspace(1.0, 5e4, 4001)
    L = K.total_loss(M, r, p, H, web)
    assert np.all(np.diff(L) <= 1e-12)
    assert np.all(np.diff(L, 2) >= -1e-10 * np.abs(L[:-2]).max())


@FAST
@given(alphas, ratios, ps, Hs)
def test_threshold_and_ramp(a, r, p, H):
    web = K.PowerLawLoss(1.0, a)
    M0 = float(K.critical_model_size(r, p, web))
    assert M0 == pytest.approx((a * (1 - r) / (r * p)) ** (1 / (a + 1)), rel=1e-12)
    assert K.memorized_fraction(M0 * (1 - 1e-9), r, p, H, web) == 0.0
    assert K.memorized_fraction(M0 + H, r, p, H, web) == pytest.approx(1.0)
    for x in (0.1, 0.5, 0.9):
        assert K.memorized_fraction(M0 + x * H, r, p, H, web) == pytest.approx(x, abs=1e-9)
    assert float(K.transition_width_log_m(r, p, H, web)) == pytest.approx(np.log1p(H / M0))


@FAST
@given(alphas, ps)
def test_threshold_laws_have_the_predicted_slopes(a, p):
    web = K.PowerLawLoss(1.0, a)
    M = np.logspace(3, 6, 30)
    rt = K.critical_ratio(M, p, web)
    slope = np.polyfit(np.log(M), np.log(rt / (1 - rt)), 1)[0]
    assert slope == pytest.approx(-(a + 1), abs=1e-9)
    r = np.logspace(-6, -4, 20)
    slope_m = np.polyfit(np.log(r / (1 - r)), np.log(K.critical_model_size(r, p, web)), 1)[0]
    assert slope_m == pytest.approx(-1 / (a + 1), abs=1e-9)
    # the critical ratio is the ratio whose critical size is M
    assert np.allclose(K.critical_model_size(rt, p, web), M, rtol=1e-9)


def test_threshold_frequency_does_not_depend_on_p_in_the_small_r_regime():
    web = K.PowerLawLoss(1.0, 0.283)
    f = np.array([K.threshold_frequency(3e4, p, web) for p in np.logspace(-4, -2, 7)])
    assert (f.max() - f.min()) / f.mean() < 0.01
    r = f / np.logspace(-4, -2, 7)
    assert r.max() / r.min() > 50  # while the critical ratio itself moves with p


def test_pure_knowledge_data_gives_the_linear_law():
    M = np.linspace(0, 200, 401)
    m1 = K.optimal_m1(M, 1.0, 1e-3, 50.0, K.PowerLawLoss())
    assert np.allclose(m1, np.minimum(M, 50.0))
    assert np.allclose(K.pure_knowledge_loss(M, 1e-3, 50.0), 1e-3 * np.maximum(50.0 - M, 0))


def test_sympy_derivation_matches_the_numeric_thresholds():
    m1_f, M0_f, rt_f = K.sympy_thresholds()
    web = K.PowerLawLoss(2.0, 0.4)
    for r in (0.01, 0.1, 0.5):
        assert M0_f(r, 1e-3, 2.0, 0.4) == pytest.approx(float(K.critical_model_size(r, 1e-3, web)), rel=1e-10)
        M = 2 * M0_f(r, 1e-3, 2.0, 0.4)
        assert m1_f(M, r, 1e-3, 2.0, 0.4) == pytest.approx(M - float(K.critical_model_size(r, 1e-3, web)))
    for M in (1e2, 1e4):
        assert rt_f(M, 1e-3, 2.0, 0.4) == pytest.approx(float(K.critical_ratio(M, 1e-3, web)), rel=1e-10)


def test_user_web_loss_is_validated():
    with pytest.raises(ValueError, match="non-increasing"):
        K.CallableLoss(lambda m: np.log1p(m))
    with pytest.raises(ValueError, match="convex"):
        K.CallableLoss(lambda m: 1.0 / (1.0 + (m / 20.0) ** 2))
    with pytest.raises(ValueError, match="callable"):
        K.CallableLoss(3.0)
    with pytest.raises(ValueError, match="mixing ratio"):
        K.optimal_m1(10.0, 1.5, 1e-3, 5.0)
    with pytest.raises(ValueError, match="alpha"):
        K.PowerLawLoss(1.0, -0.2)


def test_callable_loss_agrees_with_the_power_law_object():
    pl = K.PowerLawLoss(1.0, 0.3)
    user = K.CallableLoss(lambda m: m ** -0.3)
    for r in (0.01, 0.2):
        assert float(K.critical_model_size(r, 1e-3, user)) == pytest.approx(
            float(K.critical_model_size(r, 1e-3, pl)), rel=1e-5)
        for M in (50.0, 500.0, 5000.0):
            assert K.optimal_m1(M, r, 1e-3, 30.0, user) == pytest.approx(K.optimal_m1(M, r, 1e-3, 30.0, pl),
                                                                          abs=1e-3)
            assert K.optimal_m1_numeric(M, r, 1e-3, 30.0, user) == pytest.approx(
                K.optimal_m1(M, r, 1e-3, 30.0, pl), abs=1e-3)


def test_linear_web_loss_has_a_size_independent_critical_ratio():
    lin = K.LinearLoss(s=2e-3, m_max=1e5)
    rt = K.critical_ratio(np.logspace(1, 4, 10), 1e-3, lin)
    assert np.allclose(rt, rt[0])
    # bang-bang: below the ratio nothing until the web is learned, above it everything at once
    assert K.optimal_m1(500.0, 0.5, 1e-3, 50.0, lin) == 0.0
    assert K.optimal_m1(500.0, 0.9, 1e-3, 50.0, lin) == 50.0


@FAST
@given(alphas, st.floats(0.02, 0.3), st.floats(0.5, 0.98))
def test_subsampling_optimum_and_collapse(a, r, frac):
    web = K.PowerLawLoss(1.0, a)
    p, H = 1e-3, 50.0
    M = frac * float(K.critical_model_size(r, p, web))  # below threshold: nothing stored without subsampling
    assert float(K.subsampled_memorized(M, r, p, H, 1.0, web)) == 0.0
    rho_star = K.optimal_rho(M, r, p, H, web)
    rho = np.linspace(1e-4, 1, 20001)
    stored = K.subsampled_memorized(M, r, p, H, rho, web)
    assert abs(rho[np.argmax(stored)] - rho_star) <= 2e-4
    rc = K.subsampling_collapse_rho(M, r, p, web)
    assert rc == pytest.approx(frac ** (a + 1), rel=1e-9)
    assert float(K.subsampled_memorized(M, r, p, H, min(rc * 1.001, 1.0), web)) == 0.0
    assert float(K.subsampled_memorized(M, r, p, H, rc * 0.9, web)) > 0.0


@FAST
@given(alphas, st.floats(1e-3, 0.3), st.floats(1.0, 4.0), st.integers(2, 12))
def test_group_greedy_matches_a_generic_convex_solver(a, r, lm, G):
    web = K.PowerLawLoss(1.0, a)
    freqs = np.arange(1, G + 1, dtype=float) ** -1.5
    freqs /= freqs.sum()
    H = np.full(G, 2.0)
    M = 10 ** lm
    alloc = K.group_allocation(M, r, freqs, H, web)
    num = K.group_allocation_numeric(M, r, freqs, H, web)

    def obj(x):
        return -r * freqs @ x + (1 - r) * float(web(M - x.sum()))

    assert obj(alloc.bits) <= obj(num) + 1e-9
    assert np.all(np.diff(alloc.learned[np.argsort(-freqs)]) <= 1e-12)  # learned in order of frequency
    partial = (alloc.learned > 1e-9) & (alloc.learned < 1 - 1e-9)
    if partial.any():
        assert r * freqs[partial][0] == pytest.approx(alloc.lam, rel=1e-8)


def test_group_threshold_frequency_slope_is_minus_alpha_plus_one():
    web = K.PowerLawLoss(1.0, 0.283)
    freqs = np.arange(1, 10001, dtype=float) ** -1.5
    freqs /= freqs.sum()
    M = np.logspace(3, 5, 9)
    f = K.group_threshold_frequency(M, 0.01, freqs, np.full(freqs.size, 0.01), web)
    slope = np.polyfit(np.log(M), np.log(f), 1)[0]
    assert slope == pytest.approx(-1.283, abs=0.03)


def test_paper_numbers_are_recorded():
    assert K.PAPER["fthres_slope_measured"] == -1.152 and K.PAPER["fthres_slope_predicted"] == -1.283
    assert -(1 + K.PAPER["web_alpha"]) == pytest.approx(K.PAPER["fthres_slope_predicted"])
    assert len(K.PAPER["table1_ratio"]) == len(K.PAPER["table1_acc_pct"]) == 8


@FAST
@given(alphas, st.floats(1e-4, 1.0), st.floats(0.5, 5.5), Hs, ps)
def test_direct_search_finds_the_closed_form_within_its_resolution(a, r, lm, H, p):
    web = K.PowerLawLoss(1.0, a)
    M = 10 ** lm
    found = float(K.optimal_m1_search(M, r, p, H, web))
    assert 0.0 <= found <= min(M, H)
    # the resolution bounds where a search by values can end; over 4e5 random points the error stayed below half
    assert abs(found - float(K.optimal_m1(M, r, p, H, web))) <= float(K.search_resolution(M, r, p, H, web))


def test_direct_search_is_vectorised_exact_at_corners_and_finds_a_global_minimum():
    web = K.PowerLawLoss(1.0, 0.283)
    M, r = np.logspace(1, 5, 50)[:, None], np.logspace(-4, -0.05, 30)[None, :]
    found = K.optimal_m1_search(M, r, 1e-3, 50.0, web)
    closed = K.optimal_m1(M, r, 1e-3, 50.0, web)
    assert found.shape == (50, 30)
    assert np.all(np.abs(found - closed) <= K.search_resolution(M, r, 1e-3, 50.0, web))
    # pure knowledge data: the linear law, an end of the interval found exactly
    assert np.array_equal(K.optimal_m1_search(M[:, 0], 1.0, 1e-3, 50.0, web), np.minimum(M[:, 0], 50.0))
    # a web loss with two basins (non-convex): the grid brackets the deeper one before the golden-section search
    class TwoBasins:
        def __call__(self, m):
            m = np.asarray(m, float)
            return -np.exp(-((m - 90.0) / 3.0) ** 2) - 0.5 * np.exp(-((m - 60.0) / 3.0) ** 2)

        def slope(self, m):
            raise NotImplementedError

        capacity_at_slope = slope
    m1 = float(K.optimal_m1_search(100.0, 0.5, 1e-6, 50.0, TwoBasins()))
    assert m1 == pytest.approx(10.0, abs=0.1)  # web keeps 90 bits (the deeper basin), not 60
    with pytest.raises(ValueError, match="mixing ratio"):
        K.optimal_m1_search(10.0, 1.5, 1e-3, 5.0, web)
    with pytest.raises(ValueError, match="H_tot"):
        K.optimal_m1_search(10.0, 0.5, 1e-3, 0.0, web)


@settings(max_examples=10, deadline=None)
@given(alphas, st.floats(1e-3, 0.3), st.floats(1.0, 4.0), st.integers(2, 12))
def test_group_allocation_without_the_greedy_rule_matches_the_greedy(a, r, lm, G):
    web = K.PowerLawLoss(1.0, a)
    freqs = np.arange(1, G + 1, dtype=float) ** -1.5
    freqs /= freqs.sum()
    H = np.full(G, 2.0)
    M = 10 ** lm
    bits = K.group_allocation_search(M, r, freqs, H, web)
    greedy = K.group_allocation(M, r, freqs, H, web).bits
    assert np.all(bits >= -1e-9) and np.all(bits <= H + 1e-9) and bits.sum() <= M + 1e-9
    # the web's bits are placed by a value search: to its resolution, a few 1e-3 bits at most here
    assert np.abs(bits - greedy).max() <= 1e-2
