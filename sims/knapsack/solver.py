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

from sims.engine import Experiment, Result, validate
from sims.engine.cache import config_dict
from sims.engine.curves import fit_loglog
from theory import knapsack as K


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


def fit_slope(x, y) -> dict:
    """Least-squares slope of log y on log x with its interval (`fit_loglog` over at least three points), as the
    phase study stores it."""
    f = fit_loglog(x, y, min_points=3)
    return {"slope": f.slope, "low": f.slope_low, "high": f.slope_high, "r2": f.r2, "points": f.points}


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


@lru_cache(maxsize=8)
def _solve_numeric(cfg: PhaseConfig, kind: str, full: bool) -> tuple[dict, dict]:
    web = web_loss(cfg, kind)
    M = np.logspace(*cfg.log10_m, cfg.n_m)
    r = np.logspace(*cfg.log10_r, cfg.n_r)
    arrays = {"phi_numeric": numeric_fraction(M[:, None], r[None, :], cfg.p, cfg.H_tot, web),
              "M0_numeric": numeric_critical_size(cfg, r, web),
              "r_thres_numeric": numeric_critical_ratio(cfg, M, web)}
    scalars: dict = {}
    if full:
        arrays["M_full_numeric"] = numeric_critical_size(cfg, r, web, full=True)
        ps = cfg.p * np.logspace(-cfg.p_decades / 2, cfg.p_decades / 2, 9)
        arrays["r_thres_p_numeric"] = numeric_critical_ratio(cfg, 10 ** cfg.log10_m[1] / 3, web, ps)
        arrays["f_thres_p_numeric"] = arrays["r_thres_p_numeric"] * ps
        rho, best, at_one = numeric_subsampling(cfg, web)
        scalars.update(rho_star_numeric=rho, stored_best_numeric=best, stored_all_numeric=at_one)
        M_g = np.logspace(*cfg.log10_m, 61)[::GROUP_STRIDE]
        arrays["M_groups_numeric"] = M_g
        arrays["f_thres_groups_numeric"] = numeric_group_thresholds(cfg, M_g, web)
    return arrays, scalars


def solve_numeric(cfg: PhaseConfig, kind: str = "power", full: bool = True) -> tuple[dict, dict]:
    """The study's quantities from the numeric solvers alone (no closed form): the memorised fraction over the
    (M, r) grid, the critical size per r and ratio per M by bisection, and (full) the ramp's end per r, the
    critical ratio over p at M = 10^log10_m[1] / 3, the best kept fraction, and the group thresholds. The model has
    no randomness, so runs that differ only in their seed share one computation."""
    arrays, scalars = _solve_numeric(replace(cfg, seed=0), kind, full)
    return {k: v.copy() for k, v in arrays.items()}, dict(scalars)


def solve_phase(cfg: PhaseConfig, kind: str = "power") -> tuple[dict, dict]:
    """All solver quantities for one web loss: arrays (grids, diagrams, curves) and scalars (fits, errors)."""
    web = web_loss(cfg, kind)
    M = np.logspace(*cfg.log10_m, cfg.n_m)
    r = np.logspace(*cfg.log10_r, cfg.n_r)
    phi = K.memorized_fraction(M[:, None], r[None, :], cfg.p, cfg.H_tot, web)
    M0 = K.critical_model_size(r, cfg.p, web)
    r_thres = K.critical_ratio(M, cfg.p, web)

    # closed form against the numeric solver on a sub-grid
    idx_m = np.linspace(0, cfg.n_m - 1, min(cfg.n_check, cfg.n_m)).astype(int)
    idx_r = np.linspace(0, cfg.n_r - 1, 7).astype(int)
    err = 0.0
    for i in idx_m:
        for j in idx_r:
            num = K.optimal_m1_numeric(M[i], r[j], cfg.p, cfg.H_tot, web)
            err = max(err, abs(num - phi[i, j] * cfg.H_tot) / cfg.H_tot)

    # threshold frequency at fixed M for p over `p_decades` decades (small-r regime)
    ps = cfg.p * np.logspace(-cfg.p_decades / 2, cfg.p_decades / 2, 9)
    M_f = 10 ** cfg.log10_m[1] / 3
    f_thres = np.array([float(K.threshold_frequency(M_f, pv, web)) for pv in ps])
    r_thres_p = f_thres / ps

    # subsampling at (rho_M, rho_r)
    rho = np.linspace(1.0 / cfg.n_rho, 1.0, cfg.n_rho)
    stored = K.subsampled_memorized(cfg.rho_M, cfg.rho_r, cfg.p, cfg.H_tot, rho, web)

    # heterogeneous groups (Sec. 5)
    freqs = group_frequencies(cfg)
    H_g = np.full(cfg.groups, cfg.group_H)
    M_g = np.logspace(*cfg.log10_m, 61)
    f_group = K.group_threshold_frequency(M_g, cfg.group_r, freqs, H_g, web)

    arrays = {"M": M, "r": r, "phi": phi, "M0": np.asarray(M0, float), "r_thres": np.asarray(r_thres, float),
              "total_loss": np.asarray(K.total_loss(M[:, None], r[None, :], cfg.p, cfg.H_tot, web), float),
              "p_grid": ps, "f_thres_p": f_thres, "r_thres_p": r_thres_p, "rho": rho, "stored_rho": stored,
              "M_groups": M_g, "f_thres_groups": f_group}
    scalars = {"max_closed_vs_numeric": err, "M_f": M_f}
    small = r <= 0.01
    scalars["slope_M0_vs_r"] = fit_slope(r[small], M0[small])
    logit = r_thres / (1 - r_thres)
    scalars["slope_logit_rthres_vs_M"] = fit_slope(M, logit)
    low = r_thres <= 0.05
    scalars["slope_rthres_vs_M"] = fit_slope(M[low], r_thres[low])
    scalars["f_thres_rel_spread"] = float((f_thres.max() - f_thres.min()) / f_thres.mean())
    scalars["r_thres_rel_spread"] = float((r_thres_p.max() - r_thres_p.min()) / r_thres_p.mean())
    # interior: some but not all groups learned (f_thres neither the top nor the bottom group's frequency)
    ok = np.isfinite(f_group) & (f_group > cfg.group_r * freqs.min() * (1 + 1e-9)) \
        & (f_group < cfg.group_r * freqs.max() * (1 - 1e-9))
    scalars["slope_group_fthres_vs_M"] = fit_slope(M_g[ok], f_group[ok])
    scalars["rho_star_theory"] = K.optimal_rho(cfg.rho_M, cfg.rho_r, cfg.p, cfg.H_tot, web)
    scalars["rho_star_grid"] = float(rho[int(np.argmax(stored))])
    scalars["rho_collapse_theory"] = K.subsampling_collapse_rho(cfg.rho_M, cfg.rho_r, cfg.p, web)
    scalars["stored_gain"] = float(stored.max() / stored[-1]) if stored[-1] > 0 else float("inf")
    return arrays, scalars


def run_phase(cfg: PhaseConfig) -> Result:
    arrays, scalars = solve_phase(cfg, "power")
    lin_arrays, lin_scalars = solve_phase(cfg, "linear")
    num_arrays, num_scalars = solve_numeric(cfg, "power")
    arrays.update(num_arrays)
    scalars.update(num_scalars)
    lin_num, _ = solve_numeric(cfg, "linear", full=False)
    arrays.update({f"{k}_linear_web": v for k, v in lin_num.items()})
    arrays["phi_linear_web"] = lin_arrays["phi"]
    arrays["r_thres_linear_web"] = lin_arrays["r_thres"]
    scalars["linear_web"] = {k: v for k, v in lin_scalars.items() if k.startswith("slope")}
    scalars["predicted_slope"] = -(cfg.alpha + 1)
    scalars["paper"] = {k: v for k, v in K.PAPER.items()}
    return Result("knapsack.phase", config_dict(cfg), scalars, arrays)


def summarize_phase(res: Result) -> str:
    s, c = res.scalars, res.config
    a = c["alpha"]
    lines = [f"Knapsack model, power-law web loss F2 = {c['A']} M^-{a}, p = {c['p']}, H_tot = {c['H_tot']} bits",
             f"closed form vs numeric solver: max |phi difference| = {s['max_closed_vs_numeric']:.2e}; direct "
             f"search over the whole grid: {float(np.max(np.abs(res.arrays['phi_numeric'] - res.arrays['phi']))):.2e}"
             f"; critical sizes by bisection within "
             f"{float(np.max(np.abs(res.arrays['M0_numeric'] / res.arrays['M0'] - 1))):.1e} (relative)",
             f"critical size M0 vs r (r <= 0.01): slope {s['slope_M0_vs_r']['slope']:.4f} "
             f"(theory -1/(alpha+1) = {-1 / (a + 1):.4f})",
             f"critical ratio logit(r_thres) vs M: slope {s['slope_logit_rthres_vs_M']['slope']:.4f} "
             f"(theory -(alpha+1) = {-(a + 1):.4f}); log r_thres vs log M: {s['slope_rthres_vs_M']['slope']:.4f}",
             f"threshold frequency over {c['p_decades']} decades of p: relative spread {s['f_thres_rel_spread']:.2e} "
             f"(r_thres spread {s['r_thres_rel_spread']:.2f})",
             f"frequency groups ({c['groups']} groups ∝ g^-{c['group_zipf']}, r = {c['group_r']}): "
             f"slope of f_thres vs M {s['slope_group_fthres_vs_M']['slope']:.4f} "
             f"(paper: measured {K.PAPER['fthres_slope_measured']}, predicted {K.PAPER['fthres_slope_predicted']})",
             f"subsampling at M = {c['rho_M']}, r = {c['rho_r']}: best rho {s['rho_star_grid']:.4f} "
             f"(theory {s['rho_star_theory']:.4f}), collapse at rho = {s['rho_collapse_theory']:.4f}, "
             f"stored fraction {float(np.max(res.arrays['stored_rho'])):.3f} at the best rho vs "
             f"{float(res.arrays['stored_rho'][-1]):.3f} keeping everything",
             "control, linear web loss: slope of logit(r_thres) vs M "
             f"{s['linear_web']['slope_logit_rthres_vs_M']['slope']:.3g}"]
    return "\n".join(lines)


PHASE = Experiment(paper="knapsack", name="phase",
                   description="the knapsack model solved: phase diagram, threshold laws, subsampling, groups",
                   config_cls=PhaseConfig, presets={"quick": QUICK, "paper": PAPER},
                   run=run_phase, summarize=summarize_phase)
