"""Skill composition and the square law of MATH^2.

Shah, Yu, Lyu, Park, Yu, He, Ke, Mozer, Bengio, Arora, Goyal, "AI-Assisted Generation of Difficult Math
Questions" (arXiv 2407.21009). MATH^2 questions are written from random pairs of skills; a model's accuracy Y on
them is observed to be about the square of its MATH accuracy X. The explanation the authors give (project
website, paraphrased in the research notes): if a model solves a question that needs skill i with probability
s_i, independently across skills, then X is the mean of the s_i and a question that needs skills i and j is
solved with probability s_i s_j, whose mean over random pairs is X^2.

Everything below is pure arithmetic on numbers and arrays. What is marked [ours] is our derivation, not a
statement of the paper:

* `pair_mean_with_replacement`: the mean of s_i s_j over all ordered pairs (i, j), i = j allowed, is exactly
  X^2 (the mean of a product of two independent draws);
* `pair_mean_distinct` [ours]: over unordered pairs i < j it is X^2 - Var(s)/(N - 1), Var the population
  variance (ddof 0), so drawing two *different* skills lowers Y below X^2 by at most 1/(4(N-1));
* `k_skill_mean`: k skills drawn independently with replacement give Y = X^k;
* `binomial_sd`: the sampling noise sqrt(p(1-p)/n) of an accuracy measured on n questions;
* `penalised_accuracy` [ours]: a composition penalty c (solving the combination succeeds with probability
  c s_i s_j) gives Y = c X^k, which a fit of Y = X^k reads as a larger exponent k + ln c / ln X;
* `mixed_math_accuracy`, `effective_exponent` [ours]: if a fraction q of MATH questions themselves need two
  skills, MATH measures X_obs = (1 - q) X + q X^2, and Y = X^2 against X_obs has a local exponent below 2;
* `correlated_pair_mean` [ours]: two skills of one question whose successes are correlated (correlation rho of
  the Bernoulli outcomes) give E[s_i s_j] + rho sqrt(s_i(1-s_i) s_j(1-s_j)); at equal s this is
  X^2 + rho X(1-X), which bends the log-log slope below 2.

And the fits used to compare a table with the law (deterministic): `r2_no_parameter` (R^2 of y against x^k with
nothing fitted), `fit_exponent` (least squares of y = x^k over k), `linear_r2` (the best straight line).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize


def pair_mean_with_replacement(s) -> float:
    """Mean of s_i s_j over all N^2 ordered pairs (i = j allowed): exactly X^2, X = mean(s)."""
    s = np.asarray(s, dtype=float)
    return float(np.mean(np.outer(s, s)))


def pair_mean_distinct(s) -> float:
    """Mean of s_i s_j over the N(N-1)/2 unordered pairs i < j (computed from the pairs themselves)."""
    s = np.asarray(s, dtype=float)
    n = s.size
    if n < 2:
        raise ValueError("pair_mean_distinct needs at least two skills.")
    total = (s.sum() ** 2 - np.sum(s * s)) / 2.0
    return float(total / (n * (n - 1) / 2.0))


def distinct_pair_identity(s) -> float:
    """[ours] The closed form of `pair_mean_distinct`: X^2 - Var(s)/(N-1), Var with ddof 0."""
    s = np.asarray(s, dtype=float)
    n = s.size
    if n < 2:
        raise ValueError("distinct_pair_identity needs at least two skills.")
    return float(s.mean() ** 2 - s.var() / (n - 1))


def k_skill_mean(s, k: int) -> float:
    """Mean over k skills drawn independently with replacement of prod s: X^k (the k-skill generalisation)."""
    s = np.asarray(s, dtype=float)
    return float(s.mean() ** k)


def binomial_sd(p, n: int):
    """Standard deviation sqrt(p(1-p)/n) of an accuracy with true value p measured on n questions."""
    p = np.asarray(p, dtype=float)
    return np.sqrt(p * (1.0 - p) / n)


def penalised_accuracy(x, k: int = 2, penalty: float = 1.0):
    """[ours] Y = c X^k: accuracy on k-skill questions when combining the skills succeeds with probability c."""
    return penalty * np.asarray(x, dtype=float) ** k


def apparent_exponent(x: float, k: int, penalty: float) -> float:
    """[ours] The exponent a single model with Y = c x^k appears to have: ln Y / ln x = k + ln c / ln x
    (above k for c < 1, as ln x < 0)."""
    return k + math.log(penalty) / math.log(x)


def mixed_math_accuracy(x, q: float):
    """[ours] What MATH measures when a fraction q of its questions need two skills: (1 - q) X + q X^2."""
    x = np.asarray(x, dtype=float)
    return (1.0 - q) * x + q * x * x


def effective_exponent(x, q: float):
    """[ours] d ln Y / d ln X_obs for Y = X^2 against X_obs = (1 - q) X + q X^2: 2 X_obs / (X (1 - q + 2 q X)),
    2 at q = 0 and below 2 for q > 0 and 0 < X < 1."""
    x = np.asarray(x, dtype=float)
    return 2.0 * mixed_math_accuracy(x, q) / (x * (1.0 - q + 2.0 * q * x))


def correlated_pair_mean(si, sj, rho: float):
    """[ours] P(both skills succeed) for Bernoulli(s_i), Bernoulli(s_j) with outcome correlation rho:
    s_i s_j + rho sqrt(s_i (1 - s_i) s_j (1 - s_j))."""
    si, sj = np.asarray(si, dtype=float), np.asarray(sj, dtype=float)
    return si * sj + rho * np.sqrt(si * (1 - si) * sj * (1 - sj))


# ---- comparing a table with the law (deterministic fits) ---------------------------------------------------
def r2_no_parameter(x, y, k: float = 2.0) -> float:
    """R^2 = 1 - sum (y - x^k)^2 / sum (y - mean y)^2 with nothing fitted (negative when x^k is worse than the
    mean; NaN when every y is the same, where R^2 is undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ss = float(np.sum((y - y.mean()) ** 2))
    if ss == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((y - x ** k) ** 2)) / ss


def fit_exponent(x, y, bounds: tuple[float, float] = (0.05, 10.0)) -> float:
    """Least-squares exponent k of y = x^k (x in (0, 1]), residuals in y (not in logs, so accuracies near 0 do
    not dominate)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    res = optimize.minimize_scalar(lambda k: float(np.sum((y - x ** k) ** 2)), bounds=bounds, method="bounded",
                                   options={"xatol": 1e-8})
    return float(res.x)


def fit_scale(x, y, k: float = 2.0) -> float:
    """Least-squares c of y = c x^k: sum y x^k / sum x^(2k)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.sum(y * x ** k) / np.sum(x ** (2 * k)))


def linear_r2(x, y) -> float:
    """R^2 of the best straight line y = b x + c (ordinary least squares)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    r = np.corrcoef(x, y)[0, 1]
    return float(r * r)
