"""Figures of the grokking paper: Fig. 1a (sparse labels), Fig. 1b (misgrokking), Fig. 2 (modular addition,
alpha and lambda sweeps), Fig. 3 (matrix completion), and lambda*t_grok against ln(alpha) with the theory line.
All time axes are continuous time t = lr * steps on a log scale, as in the paper.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.engine.curves import fit_line
from sims.grokking import BY_NAME

from .runner import captioned, draw_experiments
from .style import colors, plt, save


def _log_time(t: np.ndarray) -> np.ndarray:
    """Drop t = 0 for log axes."""
    return t > 0


def fig_classification(res: Result, title: str, legend_y: float = 0.0) -> "plt.Figure":
    """Train (dashed) and test (solid) accuracy against t per sweep point, with cosines to w_L2 and w_L1."""
    a, s = res.arrays, res.summary
    t = a["time"]
    keep = _log_time(t)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    for b, (p, c) in enumerate(zip(s.points, colors(len(s.points)))):
        label = f"|θ0|={p.init_norm:g}, λ={p.lam:g}"
        ax.plot(t[keep], a["test_acc"][keep, b], color=c, label=label)
        ax.plot(t[keep], a["train_acc"][keep, b], color=c, ls="--", lw=0.9)
        bx.plot(t[keep], a["cos_l2"][keep, b], color=c, label=label)
        bx.plot(t[keep], a["cos_l1"][keep, b], color=c, ls=":")
        if p.lam > 0:
            ax.axvline(np.log(p.init_norm / p.norm_final) / p.lam, color=c, ls=":", lw=0.8)
    for level, name in ((s.max_l2_margin.test_acc, "max-L2-margin"), (s.max_l1_margin.test_acc, "max-L1-margin")):
        ax.axhline(level, color="grey", lw=0.8, ls="-.")
        ax.text(t[keep][0], level + 0.01, f"{name} test acc", fontsize=7, color="grey")
    ax.set(xscale="log", xlabel="t = lr × steps", ylabel="accuracy", title=f"{title}: test (solid), train (dashed)",
           ylim=(0.4, 1.03))
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, legend_y))
    bx.set(xscale="log", xlabel="t = lr × steps", ylabel="cosine",
           title="cos(w, w_L2) solid, cos(w, w_L1) dotted", ylim=(-0.05, 1.05))
    fig.text(0.01, -0.02, "dotted verticals: ln(|θ0|/|θ_final|)/λ, the measured-norm form of ln(α)/λ", fontsize=7)
    fig.tight_layout()
    return fig


def fig_delay(res: Result) -> "plt.Figure":
    """lambda*t_grok against ln ||theta0||, per lambda, with the theory line of slope 1."""
    points = res.summary.points
    norms, lams, tg = (np.array(column, dtype=float) for column in
                       zip(*((p.init_norm, p.lam, p.t_grok) for p in points)))
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    for lam, c in zip(np.unique(lams), colors(len(np.unique(lams)))):
        sel = np.isclose(lams, lam) & np.isfinite(tg) & (lam > 0)
        if sel.sum() < 2:
            continue
        x, y = np.log(norms[sel]), lam * tg[sel]
        fit = fit_line(x, y)
        ax.plot(x, y, "o", color=c, label=f"λ={lam:g}: slope {fit.slope:.3f}")
        xs = np.linspace(x.min() - 0.3, x.max() + 0.3, 10)
        ax.plot(xs, xs + np.mean(y - x), color=c, ls="--", lw=0.9)
    ax.plot([], [], "k--", lw=0.9, label="theory: slope 1 (offset O(1))")
    ax.set(xlabel="ln |θ(0)|", ylabel="λ · t_grok", title="Grokking time vs init scale (Thms 3.4-3.5)")
    ax.legend()
    fig.tight_layout()
    return fig


def fig_matrix(res: Result) -> "plt.Figure":
    """Fig. 3: train (dashed) and test (solid) MSE against t for each alpha; zero-fill predictor's test MSE."""
    a, s = res.arrays, res.summary
    t = a["time"]
    keep = _log_time(t)
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for b, (p, c) in enumerate(zip(s.points, colors(len(s.points)))):
        ax.plot(t[keep], a["test_mse"][keep, b], color=c, label=f"α={p.alpha:g}, λ={p.lam:g}")
        ax.plot(t[keep], a["train_mse"][keep, b], color=c, ls="--", lw=0.9)
        if p.lam > 0:
            ax.axvline(np.log(p.alpha) / p.lam, color=c, ls=":", lw=0.8)
    ax.axhline(s.kernel_test_mse, color="grey", ls="-.", lw=0.8)
    ax.text(t[keep][0], s.kernel_test_mse * 1.15, "zero-fill (kernel) predictor", fontsize=7, color="grey")
    ax.set(xscale="log", yscale="log", xlabel="t = lr × steps", ylabel="MSE",
           title="Matrix completion: test (solid), train (dashed); dotted: ln(α)/λ")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def fig_modular(res: Result) -> "plt.Figure":
    """Fig. 2: test (solid) and train (dashed) accuracy on modular addition for each (alpha, lambda)."""
    a = res.arrays
    t = a["time"]
    keep = _log_time(t)
    alphas, lams = np.asarray(a["alpha"]), np.asarray(a["lam"])
    groups = [("init scale α", lams == lams[0], alphas, f"λ={lams[0]:g}")]
    if np.unique(lams).size > 1:
        groups.append(("weight decay λ", np.isclose(alphas, alphas[0]), lams, f"α={alphas[0]:g}"))
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 3.8), squeeze=False)
    for ax, (name, sel, values, fixed) in zip(axes[0], groups):
        idx = np.nonzero(sel)[0]
        for b, c in zip(idx, colors(idx.size)):
            ax.plot(t[keep], a["test_acc"][keep, b], color=c, label=f"{name.split()[-1]}={values[b]:g}")
            ax.plot(t[keep], a["train_acc"][keep, b], color=c, ls="--", lw=0.9)
        ax.set(xscale="log", xlabel="t = lr × steps", ylabel="accuracy", ylim=(-0.02, 1.03),
               title=f"Modular addition, sweep of {name} ({fixed})")
        ax.legend(loc="center left")
    fig.tight_layout()
    return fig


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure(s) of one experiment's result, written under out_dir."""
    out_dir = Path(out_dir)
    if experiment == "sparse":
        return [save(fig_classification(res, "Sparse labels (Fig. 1a)", legend_y=0.38), out_dir / "fig1a_sparse.png"),
                save(fig_delay(res), out_dir / "delay_vs_ln_alpha.png")]
    if experiment == "misgrok":
        return [save(fig_classification(res, "Misgrokking (Fig. 1b)"), out_dir / "fig1b_misgrok.png")]
    if experiment == "matrix":
        return [save(fig_matrix(res), out_dir / "fig3_matrix.png")]
    if experiment == "modular":
        return [save(fig_modular(res), out_dir / "fig2_modular.png")]
    raise ValueError(f"unknown grokking experiment {experiment!r}.")


_CAPTIONS = {
    "fig1a_sparse.png": "Fig. 1a: diagonal nets on sparse labels; train acc is 100% at once, test acc jumps near "
                        "ln(alpha)/lambda, from the max-L2-margin to the max-L1-margin classifier.",
    "delay_vs_ln_alpha.png": "lambda * t_grok against ln ||theta(0)||: slope 1 as Thms 3.4-3.5 predict.",
    "fig1b_misgrok.png": "Fig. 1b: misgrokking; test acc starts at the kernel predictor's ~100% and drops late "
                         "towards the max-L1-margin classifier's.",
    "fig3_matrix.png": "Fig. 3: matrix completion; the test MSE sits at the zero-fill predictor's, then drops late.",
    "fig2_modular.png": "Fig. 2: modular addition with a two-layer ReLU MLP; larger alpha delays grokking.",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every grokking experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
