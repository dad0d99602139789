"""The knapsack (capacity-allocation) model of data mixing and its phase transitions.

Paper: Gu, Lyu, Li, Zhang, "Data Mixing Can Induce Phase Transitions in Knowledge Acquisition",
arXiv 2505.18091 (NeurIPS 2025), Section 4 and Appendix F.

An optimal learner with capacity M bits (mutual information with the data, Def. 4.1) trained on the mixture
``r * D1 + (1 - r) * D2`` splits its capacity into m1 bits about the knowledge set (K facts of equal exposure
frequency p, H_tot bits in all) and M - m1 bits about the web, whose best achievable loss with m bits is F2(m)
(convex and non-increasing, Lemma F.1). Lemmas F.6/F.7 reduce the problem to the fractional knapsack

    minimise over m1 in [0, min(M, H_tot)]:   r * (C1 + p * (H_tot - m1)) + (1 - r) * F2(M - m1).

For convex F2 the objective is convex and its solution is (our closed form, consistent with Thm 4.3)

    m1* = clip(M - M0(r p / (1 - r)), 0, H_tot),    M0(t) = sup{M : -F2'(M) > t},

so nothing is learned below the critical size M0, everything above M0 + H_tot (Thm 4.3), and, our addition, a
linear ramp in between whose width in ln M is ln(1 + H_tot / M0). For the power law
F2(M) = C + A M^(-alpha) (Sec. 4.4): M0(t) = (A alpha / t)^(1/(alpha+1)), giving the critical model size (Eq. 4)
``M_thres ~ (r p)^(-1/(alpha+1))``, the critical mixing ratio (Eq. 5) ``r/(1-r) = A alpha / (p M^(alpha+1))`` and
the threshold frequency (Eq. 6) ``f_thres ~ A alpha M^(-(alpha+1))``. Also here: subsampling of the knowledge set
(Sec. 6; the optimal kept fraction rho* is our closed form), heterogeneous-frequency groups solved as a greedy
fractional knapsack (Sec. 5), numeric solvers that must agree with the closed forms (a direct search on the
objective's values with its resolution, a bounded Brent search, SLSQP and a linear program for the groups), and a
sympy derivation of the thresholds.

Units: capacity in bits, losses in bits per token (any unit works if used consistently); frequencies are
probabilities per training token (or sequence). No randomness, no I/O. Bad input raises ValueError naming the
parameter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import optimize

__all__ = [
    "CallableLoss", "GroupAllocation", "LinearLoss", "PowerLawLoss", "as_web_loss",
    "check_convex_nonincreasing", "critical_model_size", "critical_ratio", "group_allocation",
    "group_allocation_numeric", "group_allocation_search", "group_threshold_frequency", "losses",
    "marginal_value_residual", "memorized_fraction", "optimal_m1", "optimal_m1_numeric", "optimal_m1_search",
    "optimal_rho", "pure_knowledge_loss", "search_resolution", "subsampled_memorized", "subsampling_collapse_rho",
    "sympy_thresholds", "threshold_frequency", "total_loss", "transition_width_log_m", "PAPER",
]


# ---------------------------------------------------------------------------------------------------------
# the paper's published numbers (cited from arXiv 2505.18091: Table 1, Sec. 5, Sec. 6)
# ---------------------------------------------------------------------------------------------------------
PAPER = {
    # Table 1: 70M model, SynBio-320k, 32B tokens; mean accuracy (%) over 3 seeds, by mixing ratio r
    "table1_ratio": (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45),
    "table1_acc_pct": (0.4, 0.4, 0.4, 0.8, 7.3, 27.5, 40.4, 58.1),
    "table1_sd_pct": (0.0, 0.0, 0.0, 0.0, 2.8, 2.8, 3.1, 3.1),
    # Sec. 5: FineWeb-Edu loss fit L2(N) = 1.769 + 4.952 N^-0.283 and the threshold-frequency slope
    "web_alpha": 0.283,
    "web_fit": (1.769, 4.952, 0.283),
    "fthres_slope_measured": -1.152,
    "fthres_slope_predicted": -1.283,
    "fthres_group_zipf": 1.5,
    "fthres_groups": 100,
    "fthres_ratio": 0.01,
    # Sec. 6: random subsampling of SynBio (fraction rho kept) -> accuracy (%); no subsampling ~0
    "subsample_rho": (0.25, 0.50, 0.5625, 0.625),
    "subsample_acc_pct": (23.53, 37.46, 39.81, 0.0),
    "bits_per_param": 2.0,
}


# ---------------------------------------------------------------------------------------------------------
# web losses F2
# ---------------------------------------------------------------------------------------------------------
def _positive(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return v


@dataclass(frozen=True)
class PowerLawLoss:
    """F2(M) = C + A M^(-alpha) (Sec. 4.4), alpha > 0: the web's model-size scaling law."""

    A: float = 1.0
    alpha: float = 0.283
    C: float = 0.0

    def __post_init__(self) -> None:
        _positive("A", self.A)
        _positive("alpha", self.alpha)

    def __call__(self, M):
        M = np.asarray(M, dtype=float)
        with np.errstate(divide="ignore"):
            return self.C + self.A * np.power(M, -self.alpha)

    def slope(self, M):
        """F2'(M) = -A alpha M^(-alpha-1)."""
        M = np.asarray(M, dtype=float)
        with np.errstate(divide="ignore"):
            return -self.A * self.alpha * np.power(M, -self.alpha - 1.0)

    def capacity_at_slope(self, t):
        """M0(t) = (-F2')^{-1}(t) = (A alpha / t)^(1/(alpha+1)); +inf at t = 0."""
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore"):
            return np.power(self.A * self.alpha / t, 1.0 / (self.alpha + 1.0))


@dataclass(frozen=True)
class LinearLoss:
    """F2(M) = C + s * max(m_max - M, 0): every web bit is worth the same until the web is learned (control).

    Convex (weakly) and non-increasing; -F2' is the step s on [0, m_max), so no power law in M."""

    s: float = 1e-3
    m_max: float = 1e4
    C: float = 0.0

    def __post_init__(self) -> None:
        _positive("s", self.s)
        _positive("m_max", self.m_max)

    def __call__(self, M):
        return self.C + self.s * np.maximum(self.m_max - np.asarray(M, dtype=float), 0.0)

    def slope(self, M):
        return np.where(np.asarray(M, dtype=float) < self.m_max, -self.s, 0.0)

    def capacity_at_slope(self, t):
        """M0(t) = sup{M >= 0 : -F2'(M) > t} = m_max for t < s, else 0."""
        t = np.asarray(t, dtype=float)
        return np.where(t < self.s, self.m_max, 0.0)


def check_convex_nonincreasing(f: Callable, lo: float = 1e-3, hi: float = 1e7, n: int = 400,
                               rtol: float = 1e-9) -> None:
    """Raise ValueError unless f is finite, non-increasing and convex on a log grid over [lo, hi] (Lemma F.1)."""
    M = np.geomspace(lo, hi, n)
    y = np.asarray([float(f(m)) for m in M])
    if not np.all(np.isfinite(y)):
        bad = M[~np.isfinite(y)][0]
        raise ValueError(f"F2 must be finite for positive capacities; F2({bad:.4g}) = {f(bad)!r}.")
    scale = rtol * max(1.0, float(np.max(np.abs(y))))
    dy = np.diff(y)
    if np.any(dy > scale):
        i = int(np.argmax(dy > scale))
        raise ValueError(f"F2 must be non-increasing in the capacity M; it increases between M={M[i]:.4g} "
                         f"and M={M[i + 1]:.4g}.")
    slopes = dy / np.diff(M)
    ds = np.diff(slopes)
    tol = rtol * max(1.0, float(np.max(np.abs(slopes))))
    if np.any(ds < -tol):
        i = int(np.argmax(ds < -tol))
        raise ValueError(f"F2 must be convex in the capacity M (Lemma F.1); its slope decreases around "
                         f"M={M[i + 1]:.4g}.")


class CallableLoss:
    """A user-supplied F2 (callable of M), validated as convex and non-increasing on [lo, hi].

    derivative: optional callable F2'(M); without it a central difference is used. M0(t) is found by bisection
    of -F2'(M) = t on [lo, hi] (capped at the ends)."""

    def __init__(self, f: Callable, derivative: Callable | None = None, lo: float = 1e-3, hi: float = 1e7):
        if not callable(f):
            raise ValueError(f"F2 must be a callable of the capacity M, got {type(f).__name__}.")
        if derivative is not None and not callable(derivative):
            raise ValueError("derivative must be a callable of the capacity M.")
        check_convex_nonincreasing(f, lo, hi)
        self.f, self.derivative, self.lo, self.hi = f, derivative, float(lo), float(hi)

    def __call__(self, M):
        M = np.asarray(M, dtype=float)
        return np.vectorize(lambda m: float(self.f(m)))(M) if M.ndim else np.asarray(float(self.f(float(M))))

    def _d(self, m: float) -> float:
        if self.derivative is not None:
            return float(self.derivative(m))
        h = 1e-6 * max(m, 1e-3)
        return (float(self.f(m + h)) - float(self.f(max(m - h, 1e-12)))) / (m + h - max(m - h, 1e-12))

    def slope(self, M):
        M = np.asarray(M, dtype=float)
        return np.vectorize(self._d)(M) if M.ndim else np.asarray(self._d(float(M)))

    def capacity_at_slope(self, t):
        def one(tv: float) -> float:
            g = lambda m: -self._d(m) - tv  # noqa: E731  decreasing in m
            if g(self.lo) <= 0:
                return 0.0
            if g(self.hi) > 0:
                return self.hi
            return math.exp(optimize.brentq(lambda x: g(math.exp(x)), math.log(self.lo), math.log(self.hi),
                                            xtol=1e-13, rtol=1e-13))
        t = np.asarray(t, dtype=float)
        return np.vectorize(one)(t) if t.ndim else np.asarray(one(float(t)))


WebLoss = PowerLawLoss | LinearLoss | CallableLoss


def as_web_loss(F2) -> WebLoss:
    """A web-loss object from a PowerLawLoss/LinearLoss/CallableLoss, or from a plain callable (validated)."""
    if F2 is None:
        return PowerLawLoss()
    if isinstance(F2, (PowerLawLoss, LinearLoss, CallableLoss)):
        return F2
    if all(callable(getattr(F2, name, None)) for name in ("slope", "capacity_at_slope")):
        return F2  # a loss object of the caller's own (used unvalidated, e.g. for negative controls)
    return CallableLoss(F2)


# ---------------------------------------------------------------------------------------------------------
# the two-domain knapsack: closed form
# ---------------------------------------------------------------------------------------------------------
def _check_common(r, p, H) -> tuple[np.ndarray, float, float]:
    r = np.asarray(r, dtype=float)
    if np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
        raise ValueError(f"r (mixing ratio) must lie in [0, 1], got {r!r}.")
    _positive("p", p)
    _positive("H_tot", H)
    return r, float(p), float(H)


def _marginal_ratio(r: np.ndarray, p: float) -> np.ndarray:
    """t = r p / (1 - r): the facts' marginal value per bit in units of the web's weight (inf at r = 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r >= 1.0, np.inf, r * p / np.where(r >= 1.0, 1.0, 1.0 - r))


def critical_model_size(r, p: float, F2=None):
    """M0(r) = (-F2')^{-1}(r p / (1 - r)) (Thm 4.3): below it the optimal learner stores no fact (Eq. 4 for the
    power law). r = 0 gives +inf, r = 1 gives 0."""
    r = np.asarray(r, dtype=float)
    web = as_web_loss(F2)
    _check_common(r, p, 1.0)
    t = _marginal_ratio(r, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.isinf(t), 0.0, np.where(t <= 0, np.inf, web.capacity_at_slope(np.where(
            (t > 0) & np.isfinite(t), t, 1.0))))
    return out[()] if out.ndim == 0 else out


def optimal_m1(M, r, p: float, H_tot: float, F2=None):
    """Closed-form optimal knowledge bits m1* = clip(M - M0(r), 0, min(M, H_tot)).

    Our closed form, not stated in the paper: for convex F2 the knapsack objective is convex in m1 with slope
    -r p + (1 - r)(-F2'(M - m1)), which changes sign where the web keeps M0(r) bits. It agrees with Thm 4.3 (nothing
    stored for M <= M0, everything for M >= M0 + H_tot) and fills the gap the theorem leaves: between the two the
    stored bits rise one for one with M, a linear ramp of slope 1/H_tot in the memorised fraction."""
    r, p, H = _check_common(r, p, H_tot)
    M = np.asarray(M, dtype=float)
    if np.any(M < 0):
        raise ValueError("M (capacity) must be non-negative.")
    M0 = critical_model_size(r, p, F2)
    out = np.clip(M - M0, 0.0, np.minimum(M, H))
    return out[()] if out.ndim == 0 else out


def memorized_fraction(M, r, p: float, H_tot: float, F2=None):
    """phi = m1* / H_tot = clip((M - M0(r)) / H_tot, 0, 1): the fraction of the knowledge set stored (Fig. 1-2
    y-axis in the model): 0 up to M0, 1 from M0 + H_tot, linear in between (our closed form, see `optimal_m1`)."""
    return optimal_m1(M, r, p, H_tot, F2) / float(H_tot)


def losses(M, r, p: float, H_tot: float, F2=None, C1: float = 0.0) -> tuple:
    """(L1, L2) at the optimum: knowledge loss C1 + p (H_tot - m1*) and web loss F2(M - m1*)."""
    web = as_web_loss(F2)
    m1 = optimal_m1(M, r, p, H_tot, web)
    return C1 + p * (H_tot - m1), web(np.asarray(M, dtype=float) - m1)


def total_loss(M, r, p: float, H_tot: float, F2=None, C1: float = 0.0):
    """Optimal mixture loss r L1 + (1 - r) L2 (non-increasing and convex in M, Lemma F.1)."""
    L1, L2 = losses(M, r, p, H_tot, F2, C1)
    r = np.asarray(r, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(r >= 1, r * L1, r * L1 + (1 - r) * L2)


def objective(m1, M: float, r: float, p: float, H_tot: float, F2=None, C1: float = 0.0):
    """The knapsack objective r (C1 + p (H - m1)) + (1 - r) F2(M - m1) at a feasible m1."""
    web = as_web_loss(F2)
    m1 = np.asarray(m1, dtype=float)
    web_part = 0.0 if r >= 1 else (1 - r) * web(M - m1)
    return r * (C1 + p * (H_tot - m1)) + web_part


def optimal_m1_search(M, r, p, H_tot, F2=None, C1: float = 0.0, grid: int = 33, iters: int = 100) -> np.ndarray:
    """The knapsack solved by direct search on the objective's values, elementwise over broadcast arrays of
    (M, r, p, H_tot): the objective r (C1 + p (H - m1)) + (1 - r) F2(M - m1) at `grid` evenly spaced m1 in
    [0, min(M, H_tot)] (both ends included), then golden-section search (`iters` steps) in the two grid cells
    around the best grid point, then the better of that point and the grid's best (an exact tie goes to the
    smaller m1: store nothing that does not lower the loss). Only F2's values are used: no derivative, no critical
    size, no closed form, so it checks `optimal_m1`. The grid makes it find the global minimum of an objective
    with several basins (a non-convex F2) up to the grid's cell; for a convex objective the grid only brackets.

    Resolution (`search_resolution`): a search by values cannot order two points whose objective values differ by
    less than the rounding of their evaluation, so it ends somewhere the objective is within ~8 eps |g| of its
    minimum (eps = 2.2e-16), a distance y from the minimiser with c y + g'' y^2 / 2 = 8 eps |g| (c: |slope| at a
    corner optimum, 0 inside; g'' the objective's curvature)."""
    web = as_web_loss(F2)
    M, r, p, H = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (M, r, p, H_tot)))
    if np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
        raise ValueError("r (mixing ratio) must lie in [0, 1].")
    for name, v in (("p", p), ("H_tot", H)):
        if np.any(~np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be positive and finite.")
    if np.any(~np.isfinite(M)) or np.any(M < 0):
        raise ValueError("M (capacity) must be non-negative and finite.")
    if int(grid) < 2 or int(iters) < 1:
        raise ValueError("grid must be at least 2 and iters at least 1.")
    hi = np.minimum(M, H)

    def g(m1):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            web_part = np.where(r >= 1, 0.0, (1 - r) * web(M - m1))
        return r * (C1 + p * (H - m1)) + web_part

    best_x = np.zeros_like(hi)
    best_g = g(best_x)
    for k in range(1, int(grid)):
        x = hi * (k / (int(grid) - 1))
        gx = g(x)
        better = gx < best_g
        best_x, best_g = np.where(better, x, best_x), np.where(better, gx, best_g)
    step = hi / (int(grid) - 1)
    a, b = np.maximum(best_x - step, 0.0), np.minimum(best_x + step, hi)
    shrink = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - shrink * (b - a), a + shrink * (b - a)
    gc, gd = g(c), g(d)
    for _ in range(int(iters)):
        left = gc <= gd  # the minimum lies in [a, d] (ties to the smaller m1)
        a, b = np.where(left, a, c), np.where(left, d, b)
        x_new = np.where(left, b - shrink * (b - a), a + shrink * (b - a))
        g_new = g(x_new)
        c, gc, d, gd = (np.where(left, x_new, d), np.where(left, g_new, gd),
                        np.where(left, c, x_new), np.where(left, gc, g_new))
    x_s, g_s = np.where(gc <= gd, c, d), np.minimum(gc, gd)
    take = (g_s < best_g) | ((g_s == best_g) & (x_s < best_x))
    out = np.where(take, x_s, best_x)
    return out[()] if out.ndim == 0 else out


def search_resolution(M, r, p, H_tot, F2=None, C1: float = 0.0) -> np.ndarray:
    """How far from the true minimiser m1* (the closed form) `optimal_m1_search` may end, in bits: the y solving
    c y + g'' y^2 / 2 = 8 eps G, i.e. y = 16 eps G / (c + sqrt(c^2 + 16 eps G g'')), where
    G = r (|C1| + p H) + |(1 - r) F2(M - m1*)| bounds the objective's terms, g'' = (1 - r) F2''(M - m1*) its
    curvature (a central difference of F2') and c = |r p + (1 - r) F2'(M - m1*)| its slope at a corner optimum (0
    inside). Each evaluation rounds by a few eps G; two values closer than 8 eps G may be misordered. A bound on the
    search's precision, used to set the tolerance of checks against it; at an interior optimum it is
    sqrt(16 eps G / g''). Over 4e5 random power-law instances the search's error stayed below half of it."""
    web = as_web_loss(F2)
    M, r, p, H = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (M, r, p, H_tot)))
    if np.ptp(p) == 0 and np.ptp(H) == 0:
        m1 = np.asarray(optimal_m1(M, r, float(p.flat[0]), float(H.flat[0]), web), dtype=float)
    else:
        m1 = np.vectorize(lambda *a: float(optimal_m1(*a, web)), otypes=[float])(M, r, p, H)
    m2 = M - m1
    inside = (m1 > 0) & (m1 < np.minimum(M, H))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        web_on = r < 1
        F = np.where(web_on, np.abs((1 - r) * web(np.where(web_on, m2, 1.0))), 0.0)
        G = r * (abs(C1) + p * H) + F
        h = 1e-4 * np.maximum(m2, 1e-12)
        curv = (web.slope(m2 + h) - web.slope(np.maximum(m2 - h, 1e-300))) / (m2 + h - np.maximum(m2 - h, 1e-300))
        g2 = np.where(web_on, (1 - r) * curv, 0.0)
        slope = np.where(web_on, r * p + (1 - r) * web.slope(np.where(web_on, m2, 1.0)), r * p)
        c = np.where(inside, 0.0, np.abs(slope))
        eg = 16 * np.finfo(float).eps * G
        out = eg / (c + np.sqrt(c ** 2 + eg * g2))
    return out[()] if out.ndim == 0 else out


def optimal_m1_numeric(M: float, r: float, p: float, H_tot: float, F2=None) -> float:
    """The knapsack solved numerically (bounded Brent over m1 plus both endpoints), for checking the closed form."""
    _check_common(r, p, H_tot)
    web = as_web_loss(F2)
    hi = min(float(M), float(H_tot))
    if hi <= 0:
        return 0.0
    if r >= 1:
        return hi
    f = lambda m: float(objective(m, M, r, p, H_tot, web))  # noqa: E731
    res = optimize.minimize_scalar(f, bounds=(0.0, hi), method="bounded",
                                   options={"xatol": 1e-10 * max(1.0, hi), "maxiter": 2000})
    cands = [(f(0.0), 0.0), (f(hi) if hi < M else np.inf, hi), (float(res.fun), float(res.x))]
    best = min(c[0] for c in cands)
    # among near-ties (flat objective: linear F2) prefer the smallest m1 that attains the minimum
    tol = 1e-12 * max(1.0, abs(best))
    return float(min(c[1] for c in cands if c[0] <= best + tol))


def marginal_value_residual(M, r, p: float, H_tot: float, F2=None):
    """r p - (1 - r)(-F2'(M - m1*)) at the optimum: zero at interior optima (the knapsack's KKT condition)."""
    web = as_web_loss(F2)
    m1 = optimal_m1(M, r, p, H_tot, web)
    r = np.asarray(r, dtype=float)
    return r * p - (1 - r) * (-web.slope(np.asarray(M, dtype=float) - m1))


def critical_ratio(M, p: float, F2=None):
    """r_thres(M) solving r p / (1 - r) = -F2'(M) (Eq. 5): below it nothing is stored.
    Power law: r_thres = A alpha / (A alpha + p M^(alpha+1)) ~ M^-(alpha+1)."""
    _positive("p", p)
    web = as_web_loss(F2)
    t = -web.slope(np.asarray(M, dtype=float))
    out = t / (p + t)
    return out[()] if np.ndim(out) == 0 else out


def threshold_frequency(M, p: float, F2=None):
    """f_thres = r_thres p: the per-fact exposure frequency at which a fact becomes worth storing (Eq. 6);
    independent of p and K in the small-r regime (~ A alpha M^-(alpha+1))."""
    return critical_ratio(M, p, F2) * p


def transition_width_log_m(r, p: float, H_tot: float, F2=None):
    """Width of the ramp 0 -> 1 in ln M: ln(1 + H_tot / M0(r)) (sharp when H_tot << M0).

    Our closed form, not stated in the paper: the ramp of `optimal_m1` runs from M0 to M0 + H_tot. It makes the
    paper's "sharp" transition quantitative: a width ~ H_tot / M0 that vanishes as the capacity outgrows the facts."""
    M0 = critical_model_size(r, p, F2)
    return np.log1p(H_tot / M0)


def pure_knowledge_loss(M, p: float, H_tot: float, C: float = 0.0):
    """Thm 4.2 (facts only, r = 1): F(M) = C + p max(H_tot - M, 0); stored bits min(M, H_tot) (linear law)."""
    return C + p * np.maximum(H_tot - np.asarray(M, dtype=float), 0.0)


# ---------------------------------------------------------------------------------------------------------
# subsampling (Sec. 6)
# ---------------------------------------------------------------------------------------------------------
def subsampled_memorized(M, r: float, p: float, H_tot: float, rho, F2=None):
    """Fraction of the *original* K facts stored when only a fraction rho of them is kept (per-fact frequency
    p/rho, entropy rho H_tot): clip(M - M0(r p / rho), 0, rho H_tot) / H_tot (our closed form: `optimal_m1` with
    the kept set's frequency and entropy; Sec. 6 motivates subsampling by the raised frequency)."""
    rho = np.asarray(rho, dtype=float)
    if np.any(rho <= 0) or np.any(rho > 1):
        raise ValueError(f"rho (kept fraction) must lie in (0, 1], got {rho!r}.")
    web = as_web_loss(F2)
    r_arr = np.asarray(r, dtype=float)
    _check_common(r_arr, p, H_tot)
    t = _marginal_ratio(r_arr, p) / rho
    with np.errstate(divide="ignore", invalid="ignore"):
        M0 = np.where(np.isinf(t), 0.0, np.where(t <= 0, np.inf, web.capacity_at_slope(np.where(
            (t > 0) & np.isfinite(t), t, 1.0))))
    return np.clip(np.asarray(M, dtype=float) - M0, 0.0, rho * H_tot) / H_tot


def optimal_rho(M: float, r: float, p: float, H_tot: float, F2=None) -> float:
    """The kept fraction rho* maximising the stored facts: rho H_tot = M - M0(r p / rho) (power law: solved by
    bisection), or 1 when keeping everything fits.

    Our closed form, not stated in the paper (Sec. 6 reports subsampling's effect, not an optimum): with
    `subsampled_memorized` the stored amount is min(rho H_tot, M - M0(r p / rho)), the first rising in rho and the
    second falling, so the maximum is where they cross; for the power law M0(r p / rho) = M0(r) rho^(1/(alpha+1))."""
    web = as_web_loss(F2)
    # stored(rho) = min(rho H, M - M0(r p / rho)): the first branch rises, the second falls; they cross at rho*
    g = lambda rho: rho * H_tot - (M - float(critical_model_size(r, p / rho, web)))  # noqa: E731
    if g(1.0) <= 0:
        return 1.0
    lo = 1e-12
    if g(lo) > 0:
        return float("nan")
    return float(optimize.brentq(g, lo, 1.0, xtol=1e-14, rtol=1e-12))


def subsampling_collapse_rho(M: float, r: float, p: float, F2=None) -> float:
    """The kept fraction beyond which nothing is stored: M0(r p / rho) = M, i.e. rho = r p / ((1-r)(-F2'(M)));
    power law: rho = (M / M0(r))^(alpha+1)."""
    web = as_web_loss(F2)
    return float(r * p / ((1 - r) * (-web.slope(float(M)))))


# ---------------------------------------------------------------------------------------------------------
# heterogeneous frequencies: greedy fractional knapsack (Sec. 5)
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupAllocation:
    """bits[g] stored about group g (of H[g]), learned[g] = bits/H, web_bits = M - sum(bits), and the
    marginal value level lam = (1 - r)(-F2'(web_bits)) shared by every partially learned group."""

    bits: np.ndarray
    learned: np.ndarray
    web_bits: float
    lam: float


def _group_inputs(freqs, H, r) -> tuple[np.ndarray, np.ndarray]:
    """The groups' per-fact frequencies and entropies as float arrays, checked (1-d, same non-zero length,
    positive), and the mixing ratio checked."""
    freqs = np.asarray(freqs, dtype=float)
    H = np.asarray(H, dtype=float)
    if freqs.shape != H.shape or freqs.ndim != 1 or freqs.size == 0:
        raise ValueError("freqs and H must be 1-d arrays of the same, non-zero length.")
    if np.any(freqs <= 0) or np.any(H <= 0):
        raise ValueError("freqs and H must be positive.")
    _check_common(r, 1.0, 1.0)
    return freqs, H


def group_allocation(M: float, r: float, freqs: Sequence[float], H: Sequence[float], F2=None) -> GroupAllocation:
    """Optimal allocation over fact groups with per-fact frequencies p_g and entropies H_g: fill groups in
    decreasing p_g, each up to where its marginal value r p_g meets the web's (1 - r)(-F2'(m2))."""
    web = as_web_loss(F2)
    freqs, H = _group_inputs(freqs, H, r)
    order = np.argsort(-freqs, kind="stable")
    bits = np.zeros_like(H)
    used = 0.0
    for g in order:
        if r >= 1:
            x = min(H[g], M - used)
        else:
            M0 = float(web.capacity_at_slope(r * freqs[g] / (1 - r))) if r > 0 else np.inf
            x = float(np.clip(M - used - M0, 0.0, H[g]))
        bits[g] = x
        used += x
        if x < H[g]:
            break
    web_bits = float(M - used)
    lam = 0.0 if r >= 1 else float((1 - r) * -web.slope(web_bits))
    return GroupAllocation(bits, bits / H, web_bits, lam)


def group_allocation_numeric(M: float, r: float, freqs: Sequence[float], H: Sequence[float], F2=None) -> np.ndarray:
    """The same problem by a generic convex solver (SLSQP over the bits per group), for checking."""
    web = as_web_loss(F2)
    freqs = np.asarray(freqs, dtype=float)
    H = np.asarray(H, dtype=float)

    def f(x):
        return -r * float(freqs @ x) + (1 - r) * float(web(max(M - x.sum(), 1e-12)))

    def grad(x):
        return -r * freqs + (1 - r) * -float(web.slope(max(M - x.sum(), 1e-12)))

    x0 = np.zeros_like(H)
    cons = [{"type": "ineq", "fun": lambda x: M - 1e-9 - x.sum(), "jac": lambda x: -np.ones_like(x)}]
    res = optimize.minimize(f, x0, jac=grad, bounds=list(zip(np.zeros_like(H), H)), constraints=cons,
                            method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    return np.asarray(res.x)


def group_allocation_search(M: float, r: float, freqs: Sequence[float], H: Sequence[float], F2=None) -> np.ndarray:
    """The group knapsack solved without the greedy rule, for checking `group_allocation`: for b bits given to the
    facts, the best fact value V(b) = max {sum p_g x_g : sum x_g <= b, 0 <= x_g <= H_g} is a linear program (solved
    by HiGHS); the web keeps m2 = M - b bits, and m2 minimises the one-dimensional (1 - r) F2(m2) - r V(M - m2) by
    bounded Brent search on its values (both ends also tried). Returns the bits per group. Its precision is the
    scalar search's (see `search_resolution`): a value-based search places m2 to ~sqrt(16 eps |g| / g'')."""
    web = as_web_loss(F2)
    freqs, H = _group_inputs(freqs, H, r)
    M = float(M)
    if not math.isfinite(M) or M < 0:
        raise ValueError("M (capacity) must be non-negative and finite.")
    ones = np.ones((1, freqs.size))
    bounds = list(zip(np.zeros_like(H), H))

    def facts(b: float) -> tuple[float, np.ndarray]:
        res = optimize.linprog(-freqs, A_ub=ones, b_ub=[max(b, 0.0)], bounds=bounds, method="highs")
        if res.status != 0:
            raise RuntimeError(f"the facts' linear program failed: {res.message}")
        return -float(res.fun), np.asarray(res.x)

    lo, hi = max(M - float(H.sum()), 0.0), M
    if r >= 1:
        return facts(M - lo)[1]

    def h(m2: float) -> float:
        with np.errstate(divide="ignore"):
            return (1 - r) * float(web(m2)) - r * facts(M - m2)[0]

    cands = [(h(hi), hi), (h(lo), lo)]
    if hi > lo:
        res = optimize.minimize_scalar(h, bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-12 * max(1.0, M), "maxiter": 500})
        cands.append((float(res.fun), float(res.x)))
    best = min(c[0] for c in cands)
    m2 = max(c[1] for c in cands if c[0] <= best)  # exact ties: fewer bits to the facts
    return facts(M - m2)[1]


def group_threshold_frequency(M, r: float, freqs: Sequence[float], H: Sequence[float], F2=None,
                              target: float = 0.8) -> np.ndarray:
    """Per M: the lowest corpus frequency r p_g among groups stored to at least `target` (the paper's Sec. 5
    f_thres at 80% accuracy); NaN when no group reaches it."""
    freqs = np.asarray(freqs, dtype=float)
    out = []
    for m in np.atleast_1d(np.asarray(M, dtype=float)):
        a = group_allocation(float(m), r, freqs, H, F2)
        ok = a.learned >= target - 1e-12
        out.append(float(r * freqs[ok].min()) if ok.any() else float("nan"))
    return np.asarray(out)


# ---------------------------------------------------------------------------------------------------------
# sympy derivation
# ---------------------------------------------------------------------------------------------------------
def sympy_thresholds():
    """Derive, with sympy, the interior optimum m1*(M, r) of the power-law knapsack, the critical size M0(r) and
    the critical ratio r_thres(M), and return them as numpy functions of (M, r, p, A, alpha) / (r, p, A, alpha) /
    (M, p, A, alpha)."""
    import sympy as sp

    M, m1, r, p, A, a = sp.symbols("M m1 r p A alpha", positive=True)
    g = -r * p * m1 + (1 - r) * A * (M - m1) ** (-a)
    # stationarity: -r p + (1 - r) A a (M - m1)^(-a-1) = 0, solved for the web bits m2 = M - m1
    m2 = sp.symbols("m2", positive=True)
    stationary = sp.Eq(sp.diff(g, m1).subs(M - m1, m2).subs(m1, M - m2), 0)
    m2_star = sp.solve(stationary, m2)
    if len(m2_star) != 1:
        raise RuntimeError(f"expected one stationary point, sympy found {m2_star}")
    M0 = sp.simplify(m2_star[0])
    m1_star = sp.simplify(M - M0)
    # the critical ratio: the stationarity condition holds with all capacity on the web (m2 = M); linear in r
    r_thres = sp.solve(stationary.subs(m2, M), r)
    if len(r_thres) != 1:
        raise RuntimeError(f"expected one critical ratio, sympy found {r_thres}")
    return (sp.lambdify((M, r, p, A, a), m1_star, "numpy"), sp.lambdify((r, p, A, a), M0, "numpy"),
            sp.lambdify((M, p, A, a), sp.simplify(r_thres[0]), "numpy"))
