"""Summary statistics over seeds: the mean with a Student-t confidence interval."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """Mean of n measurements with a two-sided confidence interval [low, high] at `level`."""

    mean: float
    low: float
    high: float
    n: int
    level: float
    values: tuple[float, ...]

    def __str__(self) -> str:
        if self.n == 1:
            return f"{self.mean:.4g} (1 run)"
        return f"{self.mean:.4g} [{self.low:.4g}, {self.high:.4g}]"


def mean_ci(values, level: float = 0.95) -> Estimate:
    """Mean and t-interval of the finite values (NaN values are an error: a failed measurement)."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"mean_ci got non-finite values: {x.tolist()}")
    m = float(x.mean())
    if x.size == 1:
        return Estimate(m, m, m, 1, level, tuple(x.tolist()))
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return Estimate(m, m - half, m + half, int(x.size), level, tuple(x.tolist()))


@dataclass(frozen=True)
class ChiSquare:
    """Pearson goodness-of-fit test: the statistic, its degrees of freedom, the p-value, and the number of cells
    after pooling."""

    statistic: float
    dof: int
    p_value: float
    cells: int


def _pool_small_cells(observed: np.ndarray, expected: np.ndarray, min_expected: float):
    """Merge the cells whose expected count is below min_expected into one cell, adding the next smallest cells
    until that pooled cell expects at least min_expected; ValueError if fewer than two cells would remain."""
    order = np.argsort(expected, kind="stable")
    exp_sorted, obs_sorted = expected[order], observed[order]
    n_small = int(np.sum(exp_sorted < min_expected))
    if n_small == 0:
        return observed, expected
    reached = np.nonzero(np.cumsum(exp_sorted) >= min_expected)[0]
    n_pool = max(n_small, int(reached[0]) + 1) if reached.size else exp_sorted.size
    if exp_sorted.size - n_pool + 1 < 2:
        raise ValueError(f"chi_square: fewer than two cells expect {min_expected} counts; collect more samples.")
    obs = np.append(obs_sorted[n_pool:], obs_sorted[:n_pool].sum())
    exp = np.append(exp_sorted[n_pool:], exp_sorted[:n_pool].sum())
    return obs, exp


def chi_square(counts, probs, min_expected: float = 5.0) -> ChiSquare:
    """Pearson's chi-square test of observed `counts` against the law `probs` (same shape, flattened): the
    statistic sum (O - E)^2 / E with E = n probs, compared with chi^2(cells - 1) (scipy.stats.chi2.sf). Cells
    expecting fewer than min_expected counts are pooled into one cell (with the next smallest cells until it
    expects min_expected). A count in a cell of probability 0 violates the law outright: statistic inf, p 0."""
    obs = np.asarray(counts, dtype=float).ravel()
    pr = np.asarray(probs, dtype=float).ravel()
    if np.shape(counts) != np.shape(probs):
        raise ValueError(f"chi_square: counts {np.shape(counts)} and probs {np.shape(probs)} differ in shape.")
    if not (np.all(np.isfinite(obs)) and np.all(obs >= 0)) or obs.sum() <= 0:
        raise ValueError("chi_square: counts must be finite, non-negative, and not all zero.")
    if not np.all(np.isfinite(pr)) or np.any(pr < 0) or abs(pr.sum() - 1.0) > 1e-9:
        raise ValueError(f"chi_square: probs must be non-negative and sum to 1 within 1e-9 (sum {pr.sum()!r}).")
    if np.any(obs[pr == 0] > 0):
        return ChiSquare(float("inf"), int(np.sum(pr > 0)) - 1, 0.0, int(np.sum(pr > 0)))
    keep = pr > 0
    o, e = _pool_small_cells(obs[keep], obs.sum() * pr[keep], float(min_expected))
    statistic = float(np.sum((o - e) ** 2 / e))
    dof = int(o.size) - 1
    return ChiSquare(statistic, dof, float(stats.chi2.sf(statistic, dof)), int(o.size))
