"""The knapsack model solved over grids: phase diagrams, threshold power laws, subsampling and frequency groups.

Everything here is computed from `theory.knapsack`: the closed forms, and beside them the same quantities from the
numeric solvers alone (`solve_numeric`: a direct search on the knapsack objective's values, bisection of its solution
for the thresholds, a linear program inside a bounded search for the frequency groups; arrays named `*_numeric`),
which the consistency checks of `paper_checks.knapsack` hold against the closed forms. No randomness, so every seed
gives the same result. Paper: Gu, Lyu, Li, Zhang, arXiv 2505.18091,
Sec. 4 (Thm 4.3, Eqs. 4-6), Sec. 5 (threshold frequency), Sec. 6 (subsampling).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from theory import knapsack as K

from .fits import PowerLawFit, power_law_fit


@dataclass(frozen=True)
class PhaseConfig:
    """alpha, A: power-law web loss F2(M) = A M^-alpha; p: per-fact frequency of the knowledge set; H_tot: its
    bits; log10 grids of capacity M and mixing ratio r; n_check: grid points re-solved numerically;
    rho_*: subsampling study at capacity rho_M and ratio rho_r; groups: number of frequency groups with per-fact
    frequencies ∝ g^-group_zipf at ratio group_r (the paper's SynBio-10k-power-law); group_H: bits per group;
    p_decades: range of p for the threshold-frequency check."""

    alpha: float = 0.283
    A: float = 1.0
    p: float = 1e-3
    H_tot: float = 50.0
    log10_m: tuple[float, float] = (1.0, 5.0)
    n_m: int = 241
    log10_r: tuple[float, float] = (-4.0, float(np.log10(0.9)))
    n_r: int = 121
    n_check: int = 30
    rho_M: float = 400.0
    rho_r: float = 0.1
    n_rho: int = 2001
    groups: int = 100
    group_zipf: float = 1.5
    group_r: float = 0.01
    group_H: float = 1.0
    p_decades: float = 2.0
    seed: int = 0

    def validate(self) -> None:
        validate.positive("alpha", self.alpha)
        validate.positive("A", self.A)
        validate.probability("p", self.p, open_low=True)
        validate.positive("H_tot", self.H_tot)
        if len(self.log10_m) != 2 or self.log10_m[0] >= self.log10_m[1]:
            raise validate.ConfigError("log10_m must be two increasing numbers (low, high).")
        if len(self.log10_r) != 2 or self.log10_r[0] >= self.log10_r[1] or self.log10_r[1] >= 0:
            raise validate.ConfigError("log10_r must be two increasing numbers below 0 (low, high).")
        validate.positive_int("n_m", self.n_m, 20)
        validate.positive_int("n_r", self.n_r, 10)
        validate.positive_int("n_check", self.n_check, 1)
        validate.positive("rho_M", self.rho_M)
        validate.probability("rho_r", self.rho_r, open_low=True, open_high=True)
        validate.positive_int("n_rho", self.n_rho, 10)
        validate.positive_int("groups", self.groups, 2)
        validate.positive("group_zipf", self.group_zipf)
        validate.probability("group_r", self.group_r, open_low=True, open_high=True)
        validate.positive("group_H", self.group_H)
        validate.positive("p_decades", self.p_decades)


QUICK = PhaseConfig()
PAPER = PhaseConfig(n_m=801, n_r=401, n_check=400, n_rho=20001)


def web_loss(cfg: PhaseConfig, kind: str = "power"):
    """The web loss of the study: the power law, or (control) a linear loss with the same value at M = 1."""
    if kind == "power":
        return K.PowerLawLoss(cfg.A, cfg.alpha)
    if kind == "linear":
        return K.LinearLoss(s=cfg.A * cfg.alpha * 10 ** (-(cfg.alpha + 1) * cfg.log10_m[0]),
                            m_max=10 * 10 ** cfg.log10_m[1])
    raise ValueError(f"web loss kind must be power or linear, got {kind!r}.")


def group_frequencies(cfg: PhaseConfig) -> np.ndarray:
    """Per-fact frequencies p_g of the groups (summing to 1 over all facts): group g holds an equal share of facts
    and is sampled ∝ g^-group_zipf, as in SynBio-10k-power-law."""
    w = np.arange(1, cfg.groups + 1, dtype=float) ** (-cfg.group_zipf)
    return w / w.sum()


def fit_slope(x, y) -> PowerLawFit:
    """The power law y ~ x^slope over at least three points, as the phase study fits its threshold laws."""
    return power_law_fit(x, y, min_points=3)


def threshold_frequency_capacity(cfg: PhaseConfig) -> float:
    """M_f = 10^log10_m[1] / 3: the capacity at which the threshold frequency is studied over p."""
    return 10 ** cfg.log10_m[1] / 3


# ---- the model solved numerically (no closed form): the measured side of the consistency checks ---------------
# Bisection brackets for the numeric thresholds, in decades beyond the capacity grid: two below, three above.
SEARCH_DECADES = (2.0, 3.0)
BISECTIONS = 64
# The level above which a numeric solution counts as storing something: a fraction of the capacity. Just below M0
# the search may return noise up to delta^2 / (2 v) bits (v = M0 - M, delta its resolution at M0): a level of
# 1e-7 M keeps that noise from passing for a threshold (it moves the threshold by <= 3e-7 of M0 on the study's grid).
STORE_LEVEL = 1e-7
GROUP_STRIDE = 3  # the frequency groups are solved numerically at every third capacity of their grid


def _bisect(pred, lo: np.ndarray, hi: np.ndarray, iters: int = BISECTIONS) -> np.ndarray:
    """Per element, where pred turns from False (at lo) to True (at hi), by bisection: the first True point to
    `iters` halvings; lo where pred already holds at lo; NaN where it does not hold at hi."""
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    at_lo, at_hi = pred(lo), pred(hi)
    a, b = lo.copy(), hi.copy()
    for _ in range(iters):
        mid = 0.5 * (a + b)
        t = pred(mid)
        a, b = np.where(t, a, mid), np.where(t, mid, b)
    return np.where(at_lo, lo, np.where(at_hi, b, np.nan))


def numeric_fraction(M, r, p, H_tot, web) -> np.ndarray:
    """Memorised fraction m1/H_tot from the direct search on the knapsack objective (`K.optimal_m1_search`)."""
    return np.asarray(K.optimal_m1_search(M, r, p, H_tot, web), float) / H_tot


def _ln_m_bracket(cfg: PhaseConfig) -> tuple[float, float]:
    lo, hi = cfg.log10_m
    return (lo - SEARCH_DECADES[0]) * np.log(10), (hi + SEARCH_DECADES[1]) * np.log(10)


def numeric_critical_size(cfg: PhaseConfig, r, web, full: bool = False, p: float | None = None) -> np.ndarray:
    """Per r, the smallest capacity M at which the numerically optimal learner stores more than STORE_LEVEL M bits
    (full: all but STORE_LEVEL M of the H_tot bits), by bisection in ln M of the direct search's solution (Thm 4.3:
    M0(r), and M0(r) + H_tot for full); the lower end of the bracket where it already does there, NaN where it
    never does inside the bracket."""
    r = np.asarray(r, float)
    p = cfg.p if p is None else p

    def pred(lm):
        M = np.exp(lm)
        m1 = K.optimal_m1_search(M, r, p, cfg.H_tot, web)
        return m1 >= cfg.H_tot - STORE_LEVEL * M if full else m1 > STORE_LEVEL * M

    lo, hi = _ln_m_bracket(cfg)
    return np.exp(_bisect(pred, np.full(r.shape, lo), np.full(r.shape, hi)))


def numeric_critical_ratio(cfg: PhaseConfig, M, web, p=None) -> np.ndarray:
    """Per capacity M (and per-fact frequency p, broadcast with M; cfg.p by default), the smallest mixing ratio at
    which the numerically optimal learner stores more than STORE_LEVEL M bits, by bisection in ln(r/(1-r)) over
    [-40, 40] of the direct search's solution (Eq. 5: r_thres(M))."""
    M, p = np.broadcast_arrays(np.asarray(M, float), np.asarray(cfg.p if p is None else p, float))
    pred = lambda z: (K.optimal_m1_search(M, 1.0 / (1.0 + np.exp(-z)), p, cfg.H_tot, web)  # noqa: E731
                      > STORE_LEVEL * M)
    z = _bisect(pred, np.full(M.shape, -40.0), np.full(M.shape, 40.0))
    return 1.0 / (1.0 + np.exp(-z))


def numeric_subsampling(cfg: PhaseConfig, web, boost: bool = True, iters: int = 60) -> tuple[float, float, float]:
    """(rho, stored fraction at rho, stored fraction at rho = 1): the kept fraction that maximises the facts the
    numerically optimal learner stores, of all H_tot bits, at (rho_M, rho_r). Keeping a fraction rho makes each
    kept fact rho^-1 times as frequent and leaves rho H_tot bits (boost=False: the frequency stays p, the control).
    The maximum is bracketed on the n_rho grid and refined by golden-section search; ties go to the larger rho,
    and rho = 1 is kept unless subsampling stores more than STORE_LEVEL rho_M bits more (the search's noise)."""
    def stored(rho):
        rho = np.asarray(rho, float)
        pr = cfg.p / rho if boost else np.full_like(rho, cfg.p)
        return np.asarray(K.optimal_m1_search(cfg.rho_M, cfg.rho_r, pr, rho * cfg.H_tot, web), float) / cfg.H_tot

    rho = np.linspace(1.0 / cfg.n_rho, 1.0, cfg.n_rho)
    s = stored(rho)
    k = int(len(rho) - 1 - np.argmax(s[::-1]))  # the largest rho among the grid's best
    a, b = rho[max(k - 1, 0)], rho[min(k + 1, len(rho) - 1)]
    shrink = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - shrink * (b - a), a + shrink * (b - a)
    sc, sd = float(stored(c)), float(stored(d))
    for _ in range(iters):
        if sd >= sc:  # the maximum lies in [c, b] (ties to the larger rho)
            a, c, sc = c, d, sd
            d = a + shrink * (b - a)
            sd = float(stored(d))
        else:
            b, d, sd = d, c, sc
            c = b - shrink * (b - a)
            sc = float(stored(c))
    x, sx = (d, sd) if sd >= sc else (c, sc)
    best, s_best = (x, sx) if (sx > s[k] or (sx == s[k] and x > rho[k])) else (float(rho[k]), float(s[k]))
    if s_best - s[-1] <= STORE_LEVEL * cfg.rho_M / cfg.H_tot:  # no gain above the search's noise: keep everything
        best, s_best = 1.0, float(s[-1])
    return float(best), float(s_best), float(s[-1])


def numeric_group_thresholds(cfg: PhaseConfig, M, web, target: float = 0.8) -> np.ndarray:
    """Per capacity, the lowest corpus frequency r p_g among the groups stored to at least `target` when the
    allocation is found without the greedy rule (`K.group_allocation_search`: a linear program for the facts
    inside a bounded search over the web's bits); NaN where no group reaches it."""
    freqs = group_frequencies(cfg)
    H_g = np.full(cfg.groups, cfg.group_H)
    out = []
    for m in np.atleast_1d(np.asarray(M, float)):
        learned = K.group_allocation_search(float(m), cfg.group_r, freqs, H_g, web) / H_g
        ok = learned >= target - 1e-12
        out.append(float(cfg.group_r * freqs[ok].min()) if ok.any() else float("nan"))
    return np.asarray(out)


NumericSubsampling = tuple[float, float, float]  # (rho, stored fraction at rho, at rho = 1): numeric_subsampling


@lru_cache(maxsize=8)
def _solve_numeric(cfg: PhaseConfig, kind: str, full: bool) -> tuple[dict, NumericSubsampling | None]:
    web = web_loss(cfg, kind)
    M = np.logspace(*cfg.log10_m, cfg.n_m)
    r = np.logspace(*cfg.log10_r, cfg.n_r)
    arrays = {"phi_numeric": numeric_fraction(M[:, None], r[None, :], cfg.p, cfg.H_tot, web),
              "M0_numeric": numeric_critical_size(cfg, r, web),
              "r_thres_numeric": numeric_critical_ratio(cfg, M, web)}
    if not full:
        return arrays, None
    arrays["M_full_numeric"] = numeric_critical_size(cfg, r, web, full=True)
    ps = cfg.p * np.logspace(-cfg.p_decades / 2, cfg.p_decades / 2, 9)
    arrays["r_thres_p_numeric"] = numeric_critical_ratio(cfg, threshold_frequency_capacity(cfg), web, ps)
    arrays["f_thres_p_numeric"] = arrays["r_thres_p_numeric"] * ps
    subsampling = numeric_subsampling(cfg, web)
    M_g = np.logspace(*cfg.log10_m, 61)[::GROUP_STRIDE]
    arrays["M_groups_numeric"] = M_g
    arrays["f_thres_groups_numeric"] = numeric_group_thresholds(cfg, M_g, web)
    return arrays, subsampling


def solve_numeric(cfg: PhaseConfig, kind: str = "power",
                  full: bool = True) -> tuple[dict, NumericSubsampling | None]:
    """The study's quantities from the numeric solvers alone (no closed form): the memorised fraction over the
    (M, r) grid, the critical size per r and ratio per M by bisection, and (full) the ramp's end per r, the
    critical ratio over p at M = 10^log10_m[1] / 3, the group thresholds and, beside the arrays, the best kept
    fraction (`numeric_subsampling`; None unless full). The model has no randomness, so runs that differ only in
    their seed share one computation."""
    arrays, subsampling = _solve_numeric(replace(cfg, seed=0), kind, full)
    return {k: v.copy() for k, v in arrays.items()}, subsampling


# ---- the study: closed forms over the grids, beside the numeric solution ----------------------------------------
@dataclass(frozen=True)
class ThresholdSlopes(Summary):
    """The threshold laws of one web loss, each a power-law fit over the study's grids (at least three points;
    every number NaN when fewer qualify).

    slope_M0_vs_r: the closed-form critical size M0 against the mixing ratio r, over r <= 0.01 (Eq. 4:
    -1/(alpha+1) for the power-law web); slope_logit_rthres_vs_M: the critical odds r_thres/(1-r_thres) against
    the capacity M over the whole M grid (Eq. 5: -(alpha+1)); slope_rthres_vs_M: r_thres itself against M, over
    the capacities where r_thres <= 0.05; slope_group_fthres_vs_M: the power-law groups' threshold frequency
    against M, over the capacities where it is neither the top nor the bottom group's (Sec. 5: -(alpha+1))."""

    slope_M0_vs_r: PowerLawFit
    slope_logit_rthres_vs_M: PowerLawFit
    slope_rthres_vs_M: PowerLawFit
    slope_group_fthres_vs_M: PowerLawFit


@dataclass(frozen=True)
class Subsampling(Summary):
    """Keeping a random fraction rho of the facts (each kept fact rho^-1 times as frequent; Sec. 6), at capacity
    rho_M and mixing ratio rho_r of the power-law web.

    rho_star_theory: the best kept fraction rho* of our closed form (`K.optimal_rho`); rho_star_grid: the rho of
    the n_rho grid where the closed form stores the most; rho_collapse_theory: the kept fraction above which
    nothing is stored, (M/M0)^(alpha+1) (above 1 when keeping everything still stores something);
    stored_gain: the closed form's stored amount at rho_star_grid over that at rho = 1 (inf when nothing is stored
    at rho = 1); rho_star_numeric: the best kept fraction found by the numeric solver (`numeric_subsampling`: grid,
    then golden-section search; 1 when no rho stores more than keeping everything); stored_best_numeric: the
    fraction of all H_tot bits the numerically optimal learner stores at rho_star_numeric; stored_all_numeric:
    the same at rho = 1."""

    rho_star_theory: float
    rho_star_grid: float
    rho_collapse_theory: float
    stored_gain: float
    rho_star_numeric: float
    stored_best_numeric: float
    stored_all_numeric: float


@dataclass(frozen=True)
class PhaseSummary(Summary):
    """The knapsack model solved (Sec. 4-6): the closed forms against the numeric solver, the threshold laws, the
    threshold frequency's independence of p, and subsampling.

    max_closed_vs_numeric: largest |m1 of the numeric optimiser (`K.optimal_m1_numeric`) - closed form| / H_tot
    over the check sub-grid (n_check capacities x 7 ratios); M_f: the capacity (bits) of the threshold-frequency
    study, 10^log10_m[1] / 3; f_thres_rel_spread: (max - min) / mean of the closed-form threshold frequency
    r_thres p at M_f over the p grid (Eq. 6: ~0); r_thres_rel_spread: the same spread of the critical ratio
    (large: r_thres itself depends on p); power_web: the threshold laws of the power-law web loss;
    linear_web: the same fits for the linear web loss of the control (`web_loss(cfg, "linear")`);
    predicted_slope: -(alpha+1), the exponent Eq. 5 and Sec. 5 predict; subsampling: the subsampling study."""

    max_closed_vs_numeric: float
    M_f: float
    f_thres_rel_spread: float
    r_thres_rel_spread: float
    power_web: ThresholdSlopes
    linear_web: ThresholdSlopes
    predicted_slope: float
    subsampling: Subsampling


def solve_phase(cfg: PhaseConfig, kind: str = "power") -> dict[str, np.ndarray]:
    """The closed forms for one web loss over the study's grids: the phase diagram phi over (M, r) and the total
    loss, the critical size per r and ratio per M, the threshold frequency over p at M_f, the stored amount over
    the kept fraction rho, and the power-law groups' threshold frequency."""
    web = web_loss(cfg, kind)
    M = np.logspace(*cfg.log10_m, cfg.n_m)
    r = np.logspace(*cfg.log10_r, cfg.n_r)
    phi = K.memorized_fraction(M[:, None], r[None, :], cfg.p, cfg.H_tot, web)

    # threshold frequency at fixed M for p over `p_decades` decades (small-r regime)
    ps = cfg.p * np.logspace(-cfg.p_decades / 2, cfg.p_decades / 2, 9)
    M_f = threshold_frequency_capacity(cfg)
    f_thres = np.array([float(K.threshold_frequency(M_f, pv, web)) for pv in ps])

    # heterogeneous groups (Sec. 5)
    H_g = np.full(cfg.groups, cfg.group_H)
    M_g = np.logspace(*cfg.log10_m, 61)
    rho = np.linspace(1.0 / cfg.n_rho, 1.0, cfg.n_rho)
    return {"M": M, "r": r, "phi": phi, "M0": np.asarray(K.critical_model_size(r, cfg.p, web), float),
            "r_thres": np.asarray(K.critical_ratio(M, cfg.p, web), float),
            "total_loss": np.asarray(K.total_loss(M[:, None], r[None, :], cfg.p, cfg.H_tot, web), float),
            "p_grid": ps, "f_thres_p": f_thres, "r_thres_p": f_thres / ps, "rho": rho,
            "stored_rho": K.subsampled_memorized(cfg.rho_M, cfg.rho_r, cfg.p, cfg.H_tot, rho, web),
            "M_groups": M_g,
            "f_thres_groups": K.group_threshold_frequency(M_g, cfg.group_r, group_frequencies(cfg), H_g, web)}


def closed_vs_numeric_error(cfg: PhaseConfig, a: dict[str, np.ndarray], kind: str = "power") -> float:
    """Largest |m1 of the numeric optimiser - closed form| / H_tot over a sub-grid of n_check capacities and 7
    ratios of the phase diagram `a` (from `solve_phase`)."""
    web = web_loss(cfg, kind)
    M, r, phi = a["M"], a["r"], a["phi"]
    idx_m = np.linspace(0, cfg.n_m - 1, min(cfg.n_check, cfg.n_m)).astype(int)
    idx_r = np.linspace(0, cfg.n_r - 1, 7).astype(int)
    err = 0.0
    for i in idx_m:
        for j in idx_r:
            num = K.optimal_m1_numeric(M[i], r[j], cfg.p, cfg.H_tot, web)
            err = max(err, abs(num - phi[i, j] * cfg.H_tot) / cfg.H_tot)
    return err


def threshold_slopes(cfg: PhaseConfig, a: dict[str, np.ndarray]) -> ThresholdSlopes:
    """The threshold laws fitted to the closed forms `a` of one web loss (from `solve_phase`)."""
    M, r, M0, r_thres = a["M"], a["r"], a["M0"], a["r_thres"]
    small, low = r <= 0.01, r_thres <= 0.05
    freqs, f_group = group_frequencies(cfg), a["f_thres_groups"]
    # interior: some but not all groups learned (f_thres neither the top nor the bottom group's frequency)
    ok = np.isfinite(f_group) & (f_group > cfg.group_r * freqs.min() * (1 + 1e-9)) \
        & (f_group < cfg.group_r * freqs.max() * (1 - 1e-9))
    return ThresholdSlopes(slope_M0_vs_r=fit_slope(r[small], M0[small]),
                           slope_logit_rthres_vs_M=fit_slope(M, r_thres / (1 - r_thres)),
                           slope_rthres_vs_M=fit_slope(M[low], r_thres[low]),
                           slope_group_fthres_vs_M=fit_slope(a["M_groups"][ok], f_group[ok]))


def relative_spread(x: np.ndarray) -> float:
    """(max - min) / mean of x."""
    return float((x.max() - x.min()) / x.mean())


def subsampling_summary(cfg: PhaseConfig, a: dict[str, np.ndarray], numeric: NumericSubsampling) -> Subsampling:
    """The subsampling study: the closed form's optimum and collapse, its stored amount over the rho grid of `a`
    (from `solve_phase`), and the numeric solver's optimum `numeric` (from `solve_numeric`)."""
    web = web_loss(cfg)
    rho, stored = a["rho"], a["stored_rho"]
    rho_num, best_num, all_num = numeric
    return Subsampling(
        rho_star_theory=K.optimal_rho(cfg.rho_M, cfg.rho_r, cfg.p, cfg.H_tot, web),
        rho_star_grid=float(rho[int(np.argmax(stored))]),
        rho_collapse_theory=K.subsampling_collapse_rho(cfg.rho_M, cfg.rho_r, cfg.p, web),
        stored_gain=float(stored.max() / stored[-1]) if stored[-1] > 0 else float("inf"),
        rho_star_numeric=rho_num, stored_best_numeric=best_num, stored_all_numeric=all_num)


def run_phase(cfg: PhaseConfig) -> Result:
    arrays = solve_phase(cfg, "power")
    lin = solve_phase(cfg, "linear")
    num_arrays, numeric = solve_numeric(cfg, "power")
    lin_num, _ = solve_numeric(cfg, "linear", full=False)
    summary = PhaseSummary(max_closed_vs_numeric=closed_vs_numeric_error(cfg, arrays),
                           M_f=threshold_frequency_capacity(cfg),
                           f_thres_rel_spread=relative_spread(arrays["f_thres_p"]),
                           r_thres_rel_spread=relative_spread(arrays["r_thres_p"]),
                           power_web=threshold_slopes(cfg, arrays), linear_web=threshold_slopes(cfg, lin),
                           predicted_slope=-(cfg.alpha + 1), subsampling=subsampling_summary(cfg, arrays, numeric))
    arrays.update(num_arrays)
    arrays.update({f"{k}_linear_web": v for k, v in lin_num.items()})
    arrays["phi_linear_web"] = lin["phi"]
    arrays["r_thres_linear_web"] = lin["r_thres"]
    return Result("knapsack.phase", config_dict(cfg), summary, arrays)


def summarize_phase(res: Result) -> str:
    s, c, a = res.summary, res.config, res.arrays
    alpha, laws, sub = c["alpha"], s.power_web, s.subsampling
    lines = [f"Knapsack model, power-law web loss F2 = {c['A']} M^-{alpha}, p = {c['p']}, H_tot = {c['H_tot']} bits",
             f"closed form vs numeric solver: max |phi difference| = {s.max_closed_vs_numeric:.2e}; direct "
             f"search over the whole grid: {float(np.max(np.abs(a['phi_numeric'] - a['phi']))):.2e}"
             f"; critical sizes by bisection within "
             f"{float(np.max(np.abs(a['M0_numeric'] / a['M0'] - 1))):.1e} (relative)",
             f"critical size M0 vs r (r <= 0.01): slope {laws.slope_M0_vs_r.slope:.4f} "
             f"(theory -1/(alpha+1) = {-1 / (alpha + 1):.4f})",
             f"critical ratio logit(r_thres) vs M: slope {laws.slope_logit_rthres_vs_M.slope:.4f} "
             f"(theory -(alpha+1) = {-(alpha + 1):.4f}); log r_thres vs log M: {laws.slope_rthres_vs_M.slope:.4f}",
             f"threshold frequency over {c['p_decades']} decades of p: relative spread {s.f_thres_rel_spread:.2e} "
             f"(r_thres spread {s.r_thres_rel_spread:.2f})",
             f"frequency groups ({c['groups']} groups ∝ g^-{c['group_zipf']}, r = {c['group_r']}): "
             f"slope of f_thres vs M {laws.slope_group_fthres_vs_M.slope:.4f} "
             f"(paper: measured {K.PAPER['fthres_slope_measured']}, predicted {K.PAPER['fthres_slope_predicted']})",
             f"subsampling at M = {c['rho_M']}, r = {c['rho_r']}: best rho {sub.rho_star_grid:.4f} "
             f"(theory {sub.rho_star_theory:.4f}), collapse at rho = {sub.rho_collapse_theory:.4f}, "
             f"stored fraction {float(np.max(a['stored_rho'])):.3f} at the best rho vs "
             f"{float(a['stored_rho'][-1]):.3f} keeping everything",
             "control, linear web loss: slope of logit(r_thres) vs M "
             f"{s.linear_web.slope_logit_rthres_vs_M.slope:.3g}"]
    return "\n".join(lines)


PHASE = Experiment(paper="knapsack", name="phase",
                   description="the knapsack model solved: phase diagram, threshold laws, subsampling, groups",
                   config_cls=PhaseConfig, presets={"quick": QUICK, "paper": PAPER},
                   run=run_phase, summarize=summarize_phase, summary=PhaseSummary)
