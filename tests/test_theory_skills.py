"""Property tests of theory.skills: the skill-product identities of the MATH^2 square law, the k-skill law, the
binomial noise, and the direction in which a composition penalty, MATH questions that need two skills, and
correlated skills move the exponent."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from theory import skills

SKILLS = st.integers(2, 200).flatmap(
    lambda n: arrays(np.float64, n, elements=st.floats(0.0, 1.0, allow_nan=False)))
ACC = st.floats(0.01, 0.99)


@settings(max_examples=200)
@given(SKILLS)
def test_pairs_with_replacement_average_to_x_squared(s):
    assert skills.pair_mean_with_replacement(s) == pytest.approx(s.mean() ** 2, abs=1e-12)


@settings(max_examples=200)
@given(SKILLS)
def test_distinct_pairs_average_to_x_squared_minus_variance_over_n_minus_1(s):
    brute = np.mean([s[i] * s[j] for i in range(s.size) for j in range(i + 1, s.size)]) if s.size <= 40 else None
    closed = skills.distinct_pair_identity(s)
    assert skills.pair_mean_distinct(s) == pytest.approx(closed, abs=1e-12)
    if brute is not None:
        assert brute == pytest.approx(closed, abs=1e-12)
    assert closed <= s.mean() ** 2 + 1e-15
    assert s.mean() ** 2 - closed <= 0.25 / (s.size - 1) + 1e-15


def test_distinct_pairs_fall_below_x_squared_exactly_by_the_variance_term():
    s = np.array([0.0, 1.0])
    assert skills.pair_mean_distinct(s) == 0.0 and skills.pair_mean_with_replacement(s) == 0.25


@settings(max_examples=100)
@given(SKILLS, st.integers(1, 4))
def test_k_independent_skills_give_x_to_the_k(s, k):
    n = min(s.size, 6)
    t = s[:n]
    grids = np.meshgrid(*([t] * k), indexing="ij")
    brute = float(np.mean(np.prod(np.stack(grids), axis=0)))
    assert skills.k_skill_mean(t, k) == pytest.approx(brute, abs=1e-12)


def test_binomial_noise_of_210_questions_is_at_most_0_035():
    assert float(skills.binomial_sd(0.5, 210)) == pytest.approx(math.sqrt(0.25 / 210))
    assert float(skills.binomial_sd(0.5, 210)) < 0.035
    assert float(skills.binomial_sd(0.0, 210)) == 0.0


@given(ACC, st.floats(0.3, 0.99))
def test_a_composition_penalty_raises_the_apparent_exponent(x, c):
    y = float(skills.penalised_accuracy(x, 2, c))
    k = skills.apparent_exponent(x, 2, c)
    assert x ** k == pytest.approx(y, rel=1e-9)
    assert k > 2


@given(ACC, st.floats(0.05, 1.0))
def test_two_skill_math_questions_bend_the_exponent_below_two(x, q):
    assert float(skills.effective_exponent(x, q)) < 2.0
    assert float(skills.effective_exponent(x, 0.0)) == pytest.approx(2.0)
    # numeric derivative of ln Y against ln X_obs
    h = 1e-6
    lo, hi = x * (1 - h), x * (1 + h)
    num = (2 * math.log(hi / lo)) / math.log(skills.mixed_math_accuracy(hi, q) / skills.mixed_math_accuracy(lo, q))
    assert float(skills.effective_exponent(x, q)) == pytest.approx(num, rel=1e-4)


def test_positively_correlated_skills_raise_y_above_x_squared_and_flatten_the_slope():
    x = np.linspace(0.1, 0.9, 9)
    y0 = skills.correlated_pair_mean(x, x, 0.0)
    y1 = skills.correlated_pair_mean(x, x, 0.3)
    assert np.allclose(y0, x ** 2) and np.all(y1 > y0)
    slope = np.polyfit(np.log(x), np.log(y1), 1)[0]
    assert slope < 2.0


def test_correlation_one_gives_min_for_equal_skills():
    assert float(skills.correlated_pair_mean(0.4, 0.4, 1.0)) == pytest.approx(0.4)


@given(st.floats(0.5, 4.0))
def test_fit_exponent_recovers_an_exact_power_law_and_r2_is_one(k):
    x = np.linspace(0.05, 0.95, 25)
    assert skills.fit_exponent(x, x ** k) == pytest.approx(k, abs=1e-5)
    assert skills.r2_no_parameter(x, x ** k, k) == pytest.approx(1.0)
    assert skills.fit_scale(x, 0.7 * x ** k, k) == pytest.approx(0.7)


def test_r2_no_parameter_is_negative_when_the_curve_is_worse_than_the_mean():
    x = np.linspace(0.1, 0.9, 10)
    assert skills.r2_no_parameter(x, x[::-1] ** 2) < 0
    assert skills.linear_r2(x, 3 * x + 1) == pytest.approx(1.0)
