"""Property tests of theory.raptr: schedule arithmetic and FLOPs against the paper's stated numbers, the Bernoulli
schedule's moments against exact enumeration, the stability quantity, the mean-field depth law against a small
numpy simulation, the log-log slope fit, the transition-gap bound, and the input checks."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import raptr

LAYERS = st.integers(1, 64)
PROB = st.floats(0.0, 1.0, allow_nan=False)


# ---- schedule arithmetic ---------------------------------------------------------------------------------
def test_bert_base_6_8_10_12_gives_exactly_three_quarters_and_four_thirds():
    assert raptr.block_flops_ratio([1, 1, 1, 1], [6, 8, 10, 12], 12) == 0.75
    res = raptr.paper_schedule_flops("bert_base")
    assert res.block_ratio == 0.75 and res.relative == 0.75
    assert res.speedup == pytest.approx(4.0 / 3.0, abs=1e-15)
    assert res.saving_percent == pytest.approx(25.0, abs=1e-12)
    assert round(res.speedup, 2) == res.stated_speedup == 1.33


def test_24_layer_schedule_gives_the_same_ratio_and_ul2_needs_a_third_outside_to_reach_1_2x():
    assert raptr.paper_schedule_flops("bert_large").block_ratio == 0.75
    ul2 = raptr.paper_schedule_flops("ul2_1.6b")
    assert ul2.speedup > ul2.stated_speedup  # the assumed schedule does not give the stated 1.2x by itself
    q = raptr.outside_share_for(1.0 / ul2.stated_speedup, ul2.block_ratio)
    assert q == pytest.approx(1.0 / 3.0, abs=1e-12)
    assert raptr.paper_schedule_flops("ul2_1.6b", q=q).speedup == pytest.approx(1.2, abs=1e-12)


def test_paper_schedules_end_with_the_full_network_and_carry_a_status():
    for sch in raptr.PAPER_SCHEDULES.values():
        assert sch.active[-1] == sch.n_layers and list(sch.active) == sorted(sch.active)
        assert "READ" in sch.status or "UNVERIFIED" in sch.status
    assert "UNVERIFIED" in raptr.PAPER_SCHEDULES["ul2_1.6b"].status


def test_the_stated_20_to_33_percent_range_maps_to_speedups_1_25_to_1_5():
    low, high = raptr.STATED_SAVING_RANGE_PERCENT
    assert raptr.speedup_from_saving(low) == pytest.approx(1.25, abs=1e-12)
    assert round(raptr.speedup_from_saving(high), 1) == 1.5  # 33 is 1/3 rounded
    assert raptr.saving_percent(1 / 1.5) == pytest.approx(100 / 3) and round(raptr.saving_percent(1 / 1.5)) == high
    assert raptr.saving_percent(1 / 1.25) == pytest.approx(low)


@given(LAYERS, st.data(), PROB)
def test_expected_active_and_inclusion_probability_round_trip(n, data, pi):
    f = data.draw(st.integers(0, n))
    active = raptr.expected_active(n, f, pi)
    assert f <= active <= n
    back = raptr.inclusion_probability(n, f, active)
    assert back == (1.0 if f == n else pytest.approx(pi, abs=1e-12))
    assert raptr.expected_active(n, f, back) == pytest.approx(active, abs=1e-12)


def test_fixed_first_and_last_layers_give_2_plus_pi_times_l_minus_2():
    assert raptr.expected_active(12, 2, 0.4) == pytest.approx(2 + 0.4 * 10)
    assert raptr.expected_active(12, 2, 0.0) == 2 and raptr.expected_active(12, 2, 1.0) == 12


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_relative_cost_is_monotone_in_q_and_equals_the_block_ratio_at_q_zero(ratio, q1, q2):
    assert raptr.relative_cost(ratio, 0.0) == ratio
    assert raptr.relative_cost(ratio, 1.0) == pytest.approx(1.0)
    lo, hi = sorted((q1, q2))
    assert raptr.relative_cost(ratio, lo) <= raptr.relative_cost(ratio, hi) + 1e-15
    assert ratio - 1e-15 <= raptr.relative_cost(ratio, hi) <= 1.0 + 1e-15


@given(st.floats(0.0, 0.99), st.floats(0.0, 1.0))
def test_outside_share_inverts_relative_cost(ratio, q):
    rel = raptr.relative_cost(ratio, q)
    assert raptr.outside_share_for(rel, ratio) == pytest.approx(q, abs=1e-9)


@given(st.lists(st.tuples(st.integers(1, 1000), st.integers(0, 24)), min_size=1, max_size=6))
def test_block_ratio_is_the_step_weighted_mean_of_active_over_l(stages):
    steps, active = zip(*stages)
    brute = sum(t * a for t, a in stages) / (sum(steps) * 24)
    assert raptr.block_flops_ratio(steps, active, 24) == pytest.approx(brute, rel=1e-12)
    if brute > 0:
        assert raptr.speedup(raptr.relative_cost(brute, 0.0)) == pytest.approx(1 / brute, rel=1e-12)


@settings(max_examples=50)
@given(st.integers(1, 10), st.data(), PROB)
def test_bernoulli_moments_equal_exact_enumeration_over_all_subsets(n, data, pi):
    f = data.draw(st.integers(0, n))
    free = n - f
    probs, counts = [], []
    for bits in itertools.product((0, 1), repeat=free):
        k = sum(bits)
        probs.append(pi ** k * (1 - pi) ** (free - k))
        counts.append(f + k)
    probs, counts = np.array(probs), np.array(counts, dtype=float)
    mean = float(np.sum(probs * counts))
    var_acc = float(np.sum(probs * (counts - mean) ** 2))
    m, v = raptr.active_count_moments(n, f, pi)
    assert m == pytest.approx(mean, abs=1e-9) and v == pytest.approx(var_acc, abs=1e-9)
    assert m == pytest.approx(raptr.expected_active(n, f, pi), abs=1e-12)


def test_executed_blocks_mean_over_t_l_is_the_block_ratio():
    steps, pis = [100, 100, 100, 100], [0.4, 0.6, 0.8, 1.0]
    mean, sd = raptr.executed_blocks_moments(steps, pis, 12, 2)
    active = [raptr.expected_active(12, 2, p) for p in pis]
    assert mean / (400 * 12) == pytest.approx(raptr.block_flops_ratio(steps, active, 12), rel=1e-12)
    assert sd == pytest.approx(math.sqrt(100 * 10 * (0.24 + 0.24 + 0.16))), "the full stage adds no variance"


# ---- stability -------------------------------------------------------------------------------------------
def test_layer_removal_changes_is_relative_and_averages_over_inputs():
    full = np.array([[3.0, 4.0], [0.0, 2.0]])
    removed = np.stack([full, full + np.array([[0.0, 5.0], [1.0, 0.0]])])
    per_layer = raptr.layer_removal_changes(full, removed)
    assert per_layer[0] == 0.0 and per_layer[1] == pytest.approx((5 / 5 + 1 / 2) / 2)
    assert raptr.stability(full, removed) == pytest.approx(per_layer.mean())
    assert raptr.layer_removal_changes(full, full + 1.0)[0] > 0  # a single [n, d] array is one removed layer


def _ln(h):
    h = h - h.mean(-1, keepdims=True)
    return h / np.sqrt((h * h).mean(-1, keepdims=True))


def _simulated_gap(variant: str, n_layers: int, d: int = 256, n: int = 8, seed: int = 0) -> float:
    """An independent numpy simulation of the notes' setting (input N(0, 1), W ~ N(0, 1/d), final LN)."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 1.0 / math.sqrt(d), (n_layers, d, d))
    x = rng.normal(size=(n, d))
    a = 1.0 / math.sqrt(n_layers) if variant == "preln_scaled" else 1.0

    def lin(h, w):  # h @ w.T without BLAS threads, which stall on a loaded 2-core machine
        return np.einsum("nd,ed->ne", h, w)

    blocks = {"preln": lambda h, w: h + a * lin(_ln(h), w), "preln_scaled": lambda h, w: h + a * lin(_ln(h), w),
              "no_ln": lambda h, w: h + lin(h, w), "post_ln": lambda h, w: _ln(h + lin(h, w)),
              "no_residual": lambda h, w: _ln(lin(h, w))}

    def forward(skip: int) -> np.ndarray:
        h = x
        for k in range(n_layers):
            if k != skip:
                h = blocks[variant](h, weights[k])
        return _ln(h)

    full = forward(-1)
    return raptr.stability(full, np.stack([forward(skip) for skip in range(n_layers)]))


@pytest.mark.parametrize("variant,tol", [("preln_scaled", 0.05), ("preln", 0.08), ("no_ln", 0.08),
                                         ("post_ln", 0.08), ("no_residual", 0.03)])
def test_mean_field_gap_matches_a_small_simulation(variant, tol):
    for n_layers in (8, 16):
        sim = _simulated_gap(variant, n_layers)
        assert sim == pytest.approx(raptr.mean_field_gap(n_layers, variant), rel=tol), (variant, n_layers)


def test_mean_field_gap_agrees_with_the_notes_table_and_its_slopes():
    depths = raptr.NOTES_MEASURED_DEPTHS
    for name, gaps in raptr.NOTES_MEASURED_GAPS.items():
        pred = np.array([raptr.mean_field_gap(L, name) for L in depths])
        assert np.max(np.abs(pred / np.array(gaps) - 1)) < 0.2, name
    assert raptr.mean_field_gap(10 ** 6, "preln_scaled") * 1000 == pytest.approx(2 * (math.sqrt(2) - 1), rel=1e-3)
    assert raptr.mean_field_slope("preln_scaled", depths) == pytest.approx(-0.5, abs=0.02)
    assert -0.45 < raptr.mean_field_slope("preln", depths) < -0.3  # flatter than -1/2 at finite depth
    assert raptr.mean_field_slope("preln", [2 ** 16, 2 ** 18, 2 ** 20]) == pytest.approx(-0.5, abs=0.01)


def test_predicted_slopes_follow_the_lemma_with_residual_and_ln_and_are_flat_otherwise():
    assert raptr.predicted_slope("preln_scaled") == -0.5 and raptr.predicted_slope("preln") == -0.5
    for name in ("no_ln", "post_ln", "no_residual"):
        assert raptr.predicted_slope(name) == 0.0
    assert {v.name for v in raptr.STABILITY_VARIANTS.values() if v.basis == "lemma"} == \
        {"preln_scaled", "no_ln", "no_residual"}
    for name, v in raptr.STABILITY_VARIANTS.items():
        assert abs(v.measured_slope - v.slope) < 0.15, name


@given(st.floats(-3.0, 3.0), st.floats(0.01, 100.0), st.integers(2, 12))
def test_loglog_slope_recovers_an_exact_power_law_with_zero_standard_error(k, c, m):
    x = 2.0 ** np.arange(1, m + 1)
    fit = raptr.loglog_slope(x, c * x ** k)
    assert fit.slope == pytest.approx(k, abs=1e-9)
    assert fit.intercept == pytest.approx(math.log(c), abs=1e-9)
    assert fit.points == m
    assert math.isnan(fit.slope_se) if m == 2 else fit.slope_se == pytest.approx(0.0, abs=1e-9)


def test_loglog_slope_standard_error_matches_the_textbook_formula():
    x = np.array([4, 8, 16, 32, 64, 128], dtype=float)
    y = np.array(raptr.NOTES_MEASURED_GAPS["preln"])
    fit = raptr.loglog_slope(x, y)
    lx, ly = np.log(x), np.log(y)
    b, a = np.polyfit(lx, ly, 1)
    resid = ly - (a + b * lx)
    se = math.sqrt(np.sum(resid ** 2) / (x.size - 2) / np.sum((lx - lx.mean()) ** 2))
    assert fit.slope == pytest.approx(b, abs=1e-12) and fit.slope_se == pytest.approx(se, rel=1e-9)


@pytest.mark.slow
def test_loglog_slope_gives_the_engine_fit_numbers():
    # sims.engine.curves imports scipy.stats (seconds), hence slow
    from sims.engine.curves import fit_loglog

    x = np.array(raptr.NOTES_MEASURED_DEPTHS, dtype=float)
    y = np.array(raptr.NOTES_MEASURED_GAPS["preln"])
    fit, ref = raptr.loglog_slope(x, y), fit_loglog(x, y)
    assert (fit.slope, fit.slope_se) == pytest.approx((ref.slope, ref.slope_se), rel=1e-12)


# ---- Theorem 1 ---------------------------------------------------------------------------------------------
@given(st.floats(0.0, 100.0), st.floats(0.0, 10.0), st.floats(0.01, 5.0))
def test_transition_gap_bound_and_the_implied_constant_are_consistent(c, l1, psi):
    assert raptr.transition_gap_bound(c, psi) == pytest.approx(c * psi)
    l2 = l1 + 0.5 * psi
    k = raptr.implied_constant(l2, l1, psi)
    assert k == pytest.approx(0.5)
    assert abs(l2 - l1) <= raptr.transition_gap_bound(k, psi) * (1 + 1e-12)


# ---- input checks ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("call,name", [
    (lambda: raptr.expected_active(12, 2, 1.5), "pi"),
    (lambda: raptr.expected_active(0, 0, 0.5), "n_layers"),
    (lambda: raptr.expected_active(4, 5, 0.5), "n_fixed"),
    (lambda: raptr.inclusion_probability(12, 2, 1), "active"),
    (lambda: raptr.block_flops_ratio([1, 1], [6], 12), "active"),
    (lambda: raptr.block_flops_ratio([1, 0], [6, 8], 12), "steps"),
    (lambda: raptr.block_flops_ratio([1], [13], 12), "active"),
    (lambda: raptr.relative_cost(0.75, -0.1), "q"),
    (lambda: raptr.speedup(0.0), "relative"),
    (lambda: raptr.speedup_from_saving(100), "percent"),
    (lambda: raptr.outside_share_for(0.5, 0.75), "relative"),
    (lambda: raptr.executed_blocks_moments([10], [1.2], 12, 2), "pis"),
    (lambda: raptr.paper_schedule_flops("gpt"), "name"),
    (lambda: raptr.layer_removal_changes(np.zeros((2, 3)), np.zeros((1, 2, 3))), "full"),
    (lambda: raptr.layer_removal_changes(np.ones((2, 3)), np.ones((1, 2, 4))), "removed"),
    (lambda: raptr.predicted_slope("pre_ln"), "variant"),
    (lambda: raptr.mean_field_gap(8, "transformer"), "variant"),
    (lambda: raptr.loglog_slope([1, 2, 3], [1, 0, 2]), "y"),
    (lambda: raptr.loglog_slope([1, -2], [1, 2]), "x"),
    (lambda: raptr.transition_gap_bound(-1, 0.1), "c"),
    (lambda: raptr.transition_gap_bound(1, -0.1), "stability_value"),
])
def test_bad_input_raises_one_sentence_naming_the_parameter(call, name):
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(name + " ") and msg.endswith(".") and msg.count(". ") == 0, msg


@pytest.mark.slow
def test_the_formulas_agree_with_the_schedule_type_of_the_simulations():
    # sims.raptr.subnet imports sims.engine (scipy.stats, torch): seconds, hence slow
    from sims.raptr.subnet import progressive

    sch = progressive(12, (6, 8, 10, 12), 400, fixed=(0, 11), mode="bernoulli")
    steps, active = zip(*sch.stages)
    assert sch.expected_active() / 12 == pytest.approx(raptr.block_flops_ratio(steps, active, 12), rel=1e-12)
    for s, (_, a) in enumerate(sch.stages):
        assert sch.inclusion(s) == pytest.approx(raptr.inclusion_probability(12, 2, a), rel=1e-12)
