"""Helpers for training curves: evaluation schedules, threshold crossings, line and power-law fits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
from scipy import stats

from . import progress


def eval_schedule(total_steps: int, n_log: int = 100, n_linear: int = 200) -> np.ndarray:
    """Steps at which to evaluate: step 0, `n_log` log-spaced steps and `n_linear` evenly spaced ones.

    The log part resolves the fast early phase on a log-time axis; the linear part resolves a late
    transition with uniform precision in time.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}.")
    log_part = np.geomspace(1, total_steps, num=max(n_log, 2))
    lin_part = np.linspace(0, total_steps, num=max(n_linear, 2))
    steps = np.unique(np.concatenate([[0], np.rint(log_part), np.rint(lin_part)]).astype(np.int64))
    return steps[(steps >= 0) & (steps <= total_steps)]


def training_steps(steps: np.ndarray, record: Callable[[int], None], desc: str,
                   bar_every: int = 1000) -> Iterator[int]:
    """The steps of a training loop evaluated at `steps` (increasing, the last one the final step, as from
    `eval_schedule`): calls record(step) at each evaluation step, yields every step whose update comes next, and
    ends once the last evaluation is recorded; a progress bar counts the steps in strides of `bar_every`.

        for step in training_steps(steps, record, "name"):
            ...one update...
    """
    total = int(steps[-1])
    next_eval = 0
    bar = progress.bar(total, desc)
    try:
        for step in range(total + 1):
            if step == steps[next_eval]:
                record(step)
                next_eval += 1
                if next_eval == len(steps):
                    return
            yield step
            if step % bar_every == 0:
                bar.update(min(bar_every, total - bar.n))
    finally:
        bar.close()


def first_crossing(t: np.ndarray, y: np.ndarray, threshold: float, rising: bool = True) -> np.ndarray:
    """First time each curve reaches `threshold`, linearly interpolated between evaluations.

    t: (T,) increasing times; y: (T,) or (T, B) values. Returns a float (or (B,) array) with NaN where
    the curve never reaches the threshold. For rising=False the first time y <= threshold.
    """
    t = np.asarray(t, dtype=float)
    y2 = np.asarray(y, dtype=float)
    squeeze = y2.ndim == 1
    if squeeze:
        y2 = y2[:, None]
    sign = 1.0 if rising else -1.0
    z = sign * (y2 - threshold)
    out = np.full(y2.shape[1], np.nan)
    for b in range(y2.shape[1]):
        hit = np.nonzero(z[:, b] >= 0)[0]
        if hit.size == 0:
            continue
        i = hit[0]
        if i == 0:
            out[b] = t[0]
            continue
        z0, z1 = z[i - 1, b], z[i, b]
        frac = 0.0 if z1 == z0 else -z0 / (z1 - z0)
        out[b] = t[i - 1] + frac * (t[i] - t[i - 1])
    return out[0] if squeeze else out


def value_at(t: np.ndarray, y: np.ndarray, t_query: float) -> np.ndarray:
    """Linear interpolation of curve(s) y(t) at t_query (clamped to the recorded range)."""
    t = np.asarray(t, dtype=float)
    y2 = np.asarray(y, dtype=float)
    if y2.ndim == 1:
        return float(np.interp(t_query, t, y2))
    return np.array([np.interp(t_query, t, y2[:, b]) for b in range(y2.shape[1])])


@dataclass(frozen=True)
class LineFit:
    """Least-squares line y = slope x + intercept with the slope's standard error and t-interval, over `points`
    (x, y) pairs."""

    slope: float
    intercept: float
    slope_se: float
    slope_low: float
    slope_high: float
    r2: float
    points: int = 0


def fit_line(x, y, level: float = 0.95) -> LineFit:
    """Ordinary least squares of y on x with a Student-t interval for the slope."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2 or x.size != y.size:
        raise ValueError("fit_line needs at least two (x, y) pairs of equal length.")
    res = stats.linregress(x, y)
    if x.size > 2:
        half = stats.t.ppf(0.5 + level / 2, x.size - 2) * res.stderr
    else:
        half = float("nan")
    return LineFit(float(res.slope), float(res.intercept), float(res.stderr),
                   float(res.slope - half), float(res.slope + half), float(res.rvalue**2), int(x.size))


def fit_loglog(x, y, min_points: int = 2, level: float = 0.95) -> LineFit:
    """Power law y ~ x^slope: `fit_line` of ln y on ln x over the pairs where both are finite and positive.
    When fewer than `min_points` such pairs remain, every number of the fit is NaN (`points` still counts them)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    points = int(ok.sum())
    if points < max(min_points, 2):
        nan = float("nan")
        return LineFit(nan, nan, nan, nan, nan, nan, points)
    return fit_line(np.log(x[ok]), np.log(y[ok]), level)
