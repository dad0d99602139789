"""Power-law fits as the knapsack studies store them: one typed shape for the solver's threshold laws and the
training sweep's size laws."""
from __future__ import annotations

from dataclasses import dataclass

from sims.engine import Summary
from sims.engine.curves import fit_loglog


@dataclass(frozen=True)
class PowerLawFit(Summary):
    """A power law y ~ x^slope fitted by least squares of ln y on ln x, over the pairs where both are finite and
    positive. Every number is NaN when fewer pairs remain than the fit asks for (two or three); points still
    counts them.

    slope: the fitted exponent; low: lower end of its 95% t-interval (NaN with only two points);
    high: upper end of that interval; intercept: ln y at ln x = 0 (y = e^intercept x^slope);
    r2: coefficient of determination of the line in log-log space; points: the pairs fitted."""

    slope: float
    low: float
    high: float
    intercept: float
    r2: float
    points: int


def power_law_fit(x, y, min_points: int = 2) -> PowerLawFit:
    """`fit_loglog` of y on x (at least `min_points` pairs) as a `PowerLawFit`."""
    f = fit_loglog(x, y, min_points=min_points)
    return PowerLawFit(slope=f.slope, low=f.slope_low, high=f.slope_high, intercept=f.intercept, r2=f.r2,
                       points=f.points)
