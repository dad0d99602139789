"""Tests of theory.retrieval (Wen, Dang, Lyu, arXiv 2402.18510): the Fano bounds, their limits and monotonicity,
the achievable schemes, the IsTree counts."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from theory import retrieval as t

FAST = settings(max_examples=60, deadline=None)
V_ = st.integers(2, 512)


@FAST
@given(V=V_, p=st.floats(0.0, 1.0))
def test_fano_bits_between_zero_and_log_v(V, p):
    f = float(t.fano_bits_per_key(p, V))
    assert 0.0 <= f <= math.log2(V)
    if p <= 1.0 / V:
        assert f == 0.0          # exactly: chance success needs no information at all


@FAST
@given(V=V_)
def test_fano_bits_at_the_ends_and_convex(V):
    assert float(t.fano_bits_per_key(1.0, V)) == pytest.approx(math.log2(V))
    p = np.linspace(1.0 / V, 1.0, 200)
    f = t.fano_bits_per_key(p, V)
    assert np.all(np.diff(f) >= -1e-12)
    assert np.all(np.diff(f, 2) >= -1e-9)        # convex: Jensen over keys is allowed


@FAST
@given(s=st.floats(0, 2000), m=st.integers(1, 300), V=V_, ds=st.floats(0.1, 100), dm=st.integers(1, 50))
def test_bound_monotone_in_state_and_pairs(s, m, V, ds, dm):
    p = t.ar_success_upper_bound(s, m, V)
    assert t.ar_success_upper_bound(s + ds, m, V) >= p - 1e-10
    assert t.ar_success_upper_bound(s, m + dm, V) <= p + 1e-10
    assert 1.0 / V - 1e-12 <= p <= 1.0


@FAST
@given(m=st.integers(1, 200), V=V_, frac=st.floats(0.0, 2.0))
@example(m=13, V=3, frac=1.0)                  # (13 log2 3) / 13 rounds one ulp below log2 3
@example(m=1, V=3, frac=float(np.nextafter(1.0, 0.0)))
def test_bound_is_one_iff_state_holds_every_value(m, V, frac):
    s = frac * m * math.log2(V)
    p = t.ar_success_upper_bound(s, m, V)
    if frac >= 1:
        assert p == 1.0
    elif frac < 1 - 1e-13:
        assert p < 1.0
    else:
        # s/m = (1 - delta) log2 V with delta < 1e-13 (plus rounding of s/m): 1 - P* = e solves
        # e (log2((V-1)/e) + 1/ln 2) ~ delta log2 V, so e < 1e-13 and P* may round to 1 (half an ulp is 5.6e-17)
        assert 1 - 1e-13 <= p <= 1.0


@FAST
@given(m=st.integers(1, 200), V=V_)
def test_bound_tends_to_chance_without_state(m, V):
    assert t.ar_success_upper_bound(0.0, m, V) == 1.0 / V
    assert t.ar_success_upper_bound(1e-6, m, V) == pytest.approx(1.0 / V, abs=1e-3)


@FAST
@given(s=st.integers(0, 3000), m=st.integers(1, 300), V=V_, key_bits=st.integers(0, 10))
def test_achievable_never_exceeds_bound(s, m, V, key_bits):
    assert t.ar_prefix_store_success(s, m, V, key_bits) <= t.ar_success_upper_bound(s, m, V) + 1e-12


@FAST
@given(s=st.floats(1, 5000), V=V_, target=st.floats(0.05, 1.0))
@example(s=1.0, V=20, target=0.05)                                   # the draw that returned 1.1e15
@example(s=1.0, V=20, target=float(np.nextafter(0.05, 0.0)))
@example(s=1.0, V=20, target=float(np.nextafter(0.05, 1.0)))
@example(s=1.0, V=3, target=1.0 / 3)
@example(s=1.0, V=2, target=0.5)
@example(s=1.0, V=2, target=1.0)
def test_critical_pairs_inverts_the_bound(s, V, target):
    q = 1.0 / V
    m_star = t.critical_pairs(s, V, target)
    assert np.isfinite(m_star) == (target > q)       # infinite exactly at and below chance
    if not np.isfinite(m_star):
        return
    # at m*, the bound equals the target; beyond it the bound is below
    if m_star >= 1:
        assert t.ar_success_upper_bound(s, m_star, V) == pytest.approx(target, abs=1e-6)
    beyond = t.ar_success_upper_bound(s, m_star * 1.5 + 1, V)
    # In exact arithmetic beyond < target. Near chance f_V ~ (p - q)^2, so the gap is at least
    # (1 - 1/sqrt(1.5)) (target - q) = 0.18 (target - q): below half an ulp (the correctly rounded bound is then
    # the target itself) exactly when target is 1 or 2 ulps above q.
    assert beyond < target or (beyond == target and target - q <= 2 * np.spacing(target))


def test_bound_matches_the_notes_table():
    # notes 1.4, V = 64: upper bounds 0.79 / 0.50 / 0.31 / 0.20 for s/m = 4, 2, 1, 0.5 bits
    for ratio, want in ((4, 0.79), (2, 0.50), (1, 0.31), (0.5, 0.20)):
        assert t.ar_success_upper_bound(64 * ratio, 64, 64) == pytest.approx(want, abs=0.01)
    assert t.ar_prefix_store_success(64, 16, 64) == pytest.approx(0.63, abs=0.01)


def test_multiquery_bound_decreases_towards_the_first_query_bound():
    b = t.ar_multiquery_upper_bound(64, 32, 16, 8)
    assert b[0] == pytest.approx(t.ar_success_upper_bound(64, 32, 16))
    assert np.all(np.diff(b) >= 0)
    with pytest.raises(ValueError):
        t.ar_multiquery_upper_bound(64, 4, 16, 5)


@FAST
@given(n=st.integers(5, 2000), task=st.sampled_from(t.TASKS), V=st.integers(2, 64))
def test_memory_lower_bounds_linear_in_n(n, task, V):
    exact = t.memory_lower_bound(task, n, V)
    assert exact <= t.memory_lower_bound(task, 2 * n, V)
    if task in ("index", "ar"):
        assert exact == pytest.approx(n * math.log2(V))
    if task == "istree":
        assert exact == n - 3 and t.union_find_bits(n) >= exact
    # asking only for chance success needs no memory
    assert t.memory_lower_bound(task, n, V, success=1.0 / max(V, 2) if task in ("index", "ar", "cgram")
                                else 0.5) == 0.0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="task"):
        t.memory_lower_bound("sorting", 10)
    with pytest.raises(ValueError, match="success"):
        t.memory_lower_bound("ar", 10, 4, success=1.2)
    with pytest.raises(ValueError, match="V"):
        t.fano_bits_per_key(0.5, 1)
    with pytest.raises(ValueError, match="target"):
        t.critical_pairs(10, 4, 1.5)
    with pytest.raises(ValueError, match="s_bits"):
        t.critical_pairs(-1.0, 4, 0.5)
    with pytest.raises(ValueError, match="p must"):
        t.fano_bits_per_key(1.5, 4)
    with pytest.raises(ValueError, match="p must"):
        t.fano_bits_per_key(float("nan"), 4)
    with pytest.raises(ValueError, match="V"):
        t.ar_prefix_store_success(8, 4, 1)
    with pytest.raises(ValueError, match="s_bits"):
        t.ar_success_upper_bound(float("nan"), 4, 4)


@FAST
@given(n=st.integers(1, 10_000))
def test_euler_cot_and_controller_sizes(n):
    assert t.euler_cot_length(n) == 2 * n - 1
    assert t.controller_state_bits(n) == 6 * math.ceil(math.log2(n + 2)) + 3
    if n >= 512:
        assert t.controller_state_bits(n) < t.memory_lower_bound("istree", n) / 4


@FAST
@given(n=st.integers(6, 1000), k=st.integers(0, 1000))
def test_istree_budget_formula_limits_and_bound(n, k):
    bits = t.istree_budget_bits(n, min(k, n))
    acc = t.istree_budget_success(bits, n)
    assert 0.5 <= acc <= 1.0
    assert (acc == 1.0) == (min(k, n) == n)
    assert acc <= t.istree_success_upper_bound(bits, n) + 1e-12


# --- the chance boundary p = 1/V (regressions: s = 1, V = 20, target = 0.05 gave m* = 1.1e15 instead of inf) ----
# f_V(p) = D(Bern(p) || Bern(q)) / ln 2 with q = 1.0 / V (the double nearest 1/V), so f_V(q) = 0 exactly and
# f_V(q + d) = d^2 / (2 ln 2 q (1 - q)) (1 + O(d / q)): finite, tiny and exactly computable just above chance.

def _ulps_above(x: float, k: int) -> float:
    for _ in range(k):
        x = float(np.nextafter(x, 2.0))
    return x


def _near_chance_bits(V: int, target: float) -> float:
    q = 1.0 / V
    d = target - q                      # exact (Sterbenz) for target within a factor 2 of q
    return d * d / (2 * math.log(2) * q * (1 - q))


def test_fano_bits_vanish_exactly_at_chance_for_every_alphabet():
    for V in range(2, 513):
        q = 1.0 / V
        assert t.fano_bits_per_key(q, V) == 0.0
        assert t.fano_bits_per_key(float(np.nextafter(q, 0.0)), V) == 0.0
        assert t.fano_bits_per_key(1.0, V) == math.log2(V)
        up = _ulps_above(q, 1)
        assert t.fano_bits_per_key(up, V) == pytest.approx(_near_chance_bits(V, up), rel=1e-12)


def test_critical_pairs_failing_draw_and_its_neighbours():
    assert t.critical_pairs(1.0, 20, 0.05) == math.inf
    assert t.critical_pairs(1.0, 20, float(np.nextafter(0.05, 0.0))) == math.inf
    assert t.critical_pairs(0.0, 20, 0.05) == math.inf              # no state, chance success: any m
    previous = math.inf
    for k in range(1, 9):                   # 1..8 ulps above chance: finite, ~ s / (d^2 / (2 ln 2 q (1-q)))
        target = _ulps_above(0.05, k)
        m_star = t.critical_pairs(1.0, 20, target)
        assert np.isfinite(m_star) and m_star < previous
        assert m_star == pytest.approx(1.0 / _near_chance_bits(20, target), rel=1e-12)
        assert t.ar_success_upper_bound(1.0, m_star, 20) == target    # the inversion is exact to the ulp
        previous = m_star
    assert t.critical_pairs(0.0, 20, _ulps_above(0.05, 1)) == 0.0


def test_critical_pairs_is_infinite_exactly_up_to_chance_for_every_alphabet():
    s = np.array([0.0, 1.0, 64.0])
    for V in range(2, 513):
        q = 1.0 / V
        assert np.all(t.critical_pairs(s, V, q) == math.inf)
        assert np.all(t.critical_pairs(s, V, float(np.nextafter(q, 0.0))) == math.inf)
        above = t.critical_pairs(s, V, _ulps_above(q, 1))
        assert above[0] == 0.0 and np.all(np.isfinite(above)) and above[2] > above[1] > 1e29


@FAST
@given(V=V_, rel=st.floats(1e-14, 1e-4), s=st.floats(0.5, 5000))
def test_critical_pairs_near_chance_follows_the_quadratic_law(V, rel, s):
    # m* = 2 ln 2 q (1-q) s / d^2 (1 + O(d / q)) for target = q + d: continuous from above, no blow-up to a
    # rounding-noise value, and the bound evaluated at m* gives the target back
    q = 1.0 / V
    target = q * (1 + rel)
    m_star = t.critical_pairs(s, V, target)
    assert m_star == pytest.approx(s / _near_chance_bits(V, target), rel=4 * rel + 1e-9)
    assert t.ar_success_upper_bound(s, m_star, V) == pytest.approx(target, rel=1e-14)


@FAST
@given(V=V_, bits=st.floats(1e-20, 1e-10))
def test_bound_leaves_chance_as_a_square_root(V, bits):
    # P*(bits) - q = d = sqrt(2 ln 2 q (1-q) bits) (1 + O(d / q)); here d / q < 3e-4 and d > 1e5 ulps of q, so
    # the law holds to 1e-3 in the returned double (the old solver, xtol = 1e-13, could not resolve d < 1e-13)
    q = 1.0 / V
    p = t.ar_success_upper_bound(bits, 1, V)
    assert p > q
    assert (p - q) == pytest.approx(math.sqrt(2 * math.log(2) * q * (1 - q) * bits), rel=1e-3)


def test_bound_reaches_one_only_at_full_state():
    for V in (2, 3, 7, 20, 64, 512):
        L = math.log2(V)
        assert t.ar_success_upper_bound(L, 1, V) == 1.0
        assert t.ar_success_upper_bound(float(np.nextafter(L, 0.0)), 1, V) == 1.0   # 1 - P* ~ 1e-18 rounds to 1
        assert t.ar_success_upper_bound(L * (1 - 1e-9), 1, V) < 1.0
        for m in range(1, 200):                     # (m L) / m may round an ulp below L: still 1
            assert t.ar_success_upper_bound(m * L, m, V) == 1.0


def test_integer_bit_counts_are_exact_beyond_float_precision():
    # ceil(log2 k) by bit length: math.log2(2**53 + 1) rounds to 53
    assert t.node_bits(2**53 - 1) == 54 and t.node_bits(2**53 - 2) == 53
    assert t.union_find_bits(2**53 + 1) == (2**53 + 1) * 54
    for n in range(1, 5000):
        assert t.node_bits(n) == math.ceil(math.log2(n + 2))
