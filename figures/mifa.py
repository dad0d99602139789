"""Figures of the MIFA paper: convergence curves per algorithm and availability pattern (quadratics, the
paper's Fig. 2-3 style, error against communication rounds on log axes), the rate plot (MIFA's error against
T with the fitted slope and the O(1/T) line), [ours] the staleness factor kappa = (2-p)/p, the non-convex
gradient-norm rate, and the torch logistic-regression curves (synthetic data).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.mifa import BY_NAME
from sims.mifa.algorithms import LABELS

from .runner import captioned, draw_experiments
from .style import colors, plt, save

_ORDER = ("mifa", "mifa_zero", "fedavg_is", "fedavg_wait", "fedavg_active", "memoryless", "fedavg_full")
_COLOR = dict(zip(_ORDER, ["tab:red", "tab:orange", "tab:purple", "tab:blue", "tab:green", "tab:gray", "black"]))


def fig_curves(res: Result) -> "plt.Figure":
    """||w_t - w*||^2 (replica mean) against rounds, one panel per availability pattern, with the predicted
    biased-FedAvg floor."""
    s, a, cfg = res.summary, res.arrays, res.config
    patterns = cfg["patterns"]
    ncol = min(len(patterns), 2)
    nrow = -(-len(patterns) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.6 * nrow), squeeze=False)
    t = a["t"]
    for ax, pattern in zip(axes.ravel(), patterns):
        for name in _ORDER:
            key = f"{pattern}/{name}"
            if key in a:
                ax.plot(t, a[key].mean(1), color=_COLOR[name], label=LABELS[name])
        if "full/fedavg_full" in a:
            ax.plot(t, a["full/fedavg_full"].mean(1), color="black", ls=":", lw=0.9, label="all devices")
        info = s.patterns[pattern]
        floor = info.floor
        ax.axhline(floor, color="tab:green", ls="--", lw=0.8)
        ax.text(t[0], floor * 1.4, "predicted biased point", fontsize=7, color="tab:green")
        ax.set(xscale="log", yscale="log", xlabel="communication round t", ylabel="||w_t − w*||²",
               title=f"{pattern} availability\n(τ_avg={info.tau_avg:.1f}, longest absence {info.t_max_measured}, "
                     f"κ={info.kappa_mean:.1f})")
    for ax in axes.ravel()[len(patterns):]:
        ax.set_visible(False)
    axes[0][0].legend(loc="lower left", fontsize=6.5)
    fig.tight_layout()
    return fig


def fig_rate(res: Result) -> "plt.Figure":
    """MIFA's mean error against t on log-log axes per pattern, with its fitted slope and a slope -1 line."""
    s, a, cfg = res.summary, res.arrays, res.config
    t = a["t"]
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    for pattern, c in zip(cfg["patterns"], colors(len(cfg["patterns"]))):
        key = f"{pattern}/mifa"
        if key not in a:
            continue
        y = a[key].mean(1)
        e = s.patterns[pattern].algorithms["mifa"]
        ax.plot(t, y, color=c, label=f"{pattern}: slope {e.slope:.2f} [{e.slope_low:.2f}, {e.slope_high:.2f}]")
        pred = s.patterns[pattern].mifa_predicted_final
        ax.plot([t[-1]], [pred], marker="x", color=c, ms=7)
    ref = a[f"{cfg['patterns'][0]}/mifa"].mean(1)
    sel = t >= t[-1] / 10
    ax.plot(t[sel], ref[sel][-1] * t[-1] / t[sel], color="grey", ls="--", lw=0.9, label="slope −1 (O(1/T))")
    ax.set(xscale="log", yscale="log", xlabel="round T", ylabel="MIFA ||w_T − w*||²",
           title="MIFA's rate; × = predicted error at T (κ-weighted)")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def fig_staleness(res: Result) -> "plt.Figure":
    """[ours] Error ratio to full participation against kappa = 1 + 2 tau_avg, with the identity line."""
    points = res.summary.points
    kap = np.asarray([pt.kappa_measured for pt in points])
    ratio = np.asarray([pt.ratio_to_full for pt in points])
    ref = points[0].final_error                                 # full participation, p = 1
    se = np.asarray([pt.final_error_se for pt in points]) / ref
    fig, ax = plt.subplots(figsize=(4.4, 3.8))
    ax.errorbar(kap, ratio, yerr=1.96 * se, fmt="o", color="tab:red", label="MIFA, measured (95% CI)")
    for x, y, n in zip(kap, ratio, [pt.name for pt in points]):
        ax.annotate(n, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    grid = np.linspace(1, kap.max() * 1.05, 50)
    ax.plot(grid, grid, color="grey", ls="--", label="κ = 1 + 2 τ_avg  ((2−p)/p for Bernoulli)")
    ax.set(xscale="log", yscale="log", xlabel="κ = mean hold factor", ylabel="error / error with all devices",
           title="[ours] MIFA's 1/T constant grows with staleness")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_nonconvex(res: Result) -> "plt.Figure":
    """(1/T) sum ||grad f||^2 against T per algorithm, with the T^(-1/2) line."""
    s, cfg = res.summary, res.config
    h = np.asarray(s.horizons, dtype=float)
    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    for name in cfg["algorithms"]:
        e = s.algorithms[name]
        ax.plot(h, e.avg_grad_sq, "o-", color=_COLOR.get(name, "k"), label=f"{LABELS[name]}: slope {e.slope:.2f}")
    y0 = s.algorithms[cfg["algorithms"][0]].avg_grad_sq[0]
    ax.plot(h, y0 * np.sqrt(h[0] / h), color="grey", ls="--", label="T^(−1/2)")
    ax.set(xscale="log", yscale="log", xlabel="horizon T (η = η0/√T)", ylabel="(1/T) Σ ||∇f(w_t)||²",
           title="Non-convex objective")
    ax.set_xticks(h)
    ax.set_xticklabels([f"{int(v)}" for v in h])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_logistic(res: Result) -> "plt.Figure":
    """Training loss and test accuracy against rounds per algorithm (real digits), and final per-class test
    accuracy."""
    a, cfg = res.arrays, res.config
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(11, 3.4))
    for name in cfg["algorithms"]:
        r = a[f"{name}/rounds"]
        lab = LABELS[name].replace("S,", f"S={cfg['sample_size']},")
        ax.plot(r, a[f"{name}/loss"], color=_COLOR[name], label=lab)
        bx.plot(r, a[f"{name}/acc"], color=_COLOR[name], label=lab)
        cx.plot(np.arange(a[f"{name}/per_class"].size), a[f"{name}/per_class"], "o-", color=_COLOR[name], ms=3, label=lab)
    ax.set(xlabel="communication round", ylabel="training loss",
           title=f"train loss ({cfg['data']}, {cfg['classes_per_device']} classes per device)")
    bx.set(xlabel="communication round", ylabel="test accuracy", title="test accuracy")
    cx.set(xlabel="class (low labels: rarely available devices)", ylabel="final test accuracy",
           title="per-class test accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure(s) of one experiment's result, written under out_dir."""
    out_dir = Path(out_dir)
    if experiment == "quadratic":
        return [save(fig_curves(res), out_dir / "mifa_curves.png"), save(fig_rate(res), out_dir / "mifa_rate.png")]
    if experiment == "staleness":
        return [save(fig_staleness(res), out_dir / "mifa_staleness.png")]
    if experiment == "nonconvex":
        return [save(fig_nonconvex(res), out_dir / "mifa_nonconvex.png")]
    if experiment == "logistic":
        return [save(fig_logistic(res), out_dir / "mifa_logistic.png")]
    raise ValueError(f"unknown mifa experiment {experiment!r}.")


_CAPTIONS = {
    "mifa_curves.png": "Error against rounds per availability pattern: MIFA reaches w*, biased FedAvg and MIFA "
                       "without memory stall at the (predicted) participation-weighted point, FedAvg(S) is slowed "
                       "by waiting.",
    "mifa_rate.png": "MIFA's error against T: slope -1 (O(1/T)); crosses: the kappa-weighted leading-order "
                     "prediction [ours].",
    "mifa_staleness.png": "[ours] MIFA's error over full participation equals kappa = 1 + 2 tau_avg "
                          "((2-p)/p for Bernoulli(p), P for period P) and does not fade with T.",
    "mifa_nonconvex.png": "Non-convex objective: MIFA's average squared gradient norm decays as T^(-1/2); "
                          "without memory it stalls.",
    "mifa_logistic.png": "Logistic regression on SYNTHETIC non-i.i.d. data (torch): MIFA vs baselines.",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every mifa experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
