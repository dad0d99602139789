"""Figures of the data-mixing paper (arXiv 2505.18091): the knapsack phase diagram over (model size, mixing
ratio), the critical ratio against model size on log-log axes with the -(alpha+1) line, the subsampling curve,
the threshold frequency of power-law groups, and, from training, memorised fraction against mixing ratio per
model size (Fig. 2 / Table 1 analogue), the web loss against size and the measured critical ratios."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.knapsack import BY_NAME
from sims.knapsack.train import linear_web
from theory import knapsack as K

from .runner import captioned, draw_experiments
from .style import colors, plt, save


def _plain_minor(ax) -> None:
    """No labels on minor x ticks of a log axis (they overlap on short ranges)."""
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())


def fig_phase(res: Result) -> "plt.Figure":
    """Left: memorised fraction over (M, r) with the critical-size curve; right: r_thres(M) log-log."""
    a, c = res.arrays, res.config
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    mesh = ax.pcolormesh(a["M"], a["r"], a["phi"].T, shading="auto", cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label="memorised fraction φ")
    ax.plot(a["M0"], a["r"], "w--", lw=1.0, label="critical size M0(r)")
    ax.plot(a["M0"] + c["H_tot"], a["r"], "w:", lw=1.0, label="M0(r) + H_tot")
    ax.set(xscale="log", yscale="log", xlabel="capacity M (bits)", ylabel="mixing ratio r",
           title=f"Knapsack phase diagram (α={c['alpha']}, p={c['p']}, H={c['H_tot']})",
           xlim=(a["M"][0], a["M"][-1]), ylim=(a["r"][0], a["r"][-1]))
    ax.legend(loc="lower left", fontsize=7)
    rt = a["r_thres"]
    bx.plot(a["M"], rt, color="C0", label="r_thres(M), solver")
    bx.plot(a["M"], rt / (1 - rt), color="C1", ls="--", label="r/(1-r) at threshold")
    Mref = a["M"][len(a["M"]) // 2]
    ref = (rt / (1 - rt))[len(a["M"]) // 2]
    bx.plot(a["M"], ref * (a["M"] / Mref) ** (-(c["alpha"] + 1)), color="k", lw=0.8, ls=":",
            label=f"slope -(α+1) = {-(c['alpha'] + 1):.3f}")
    bx.plot(a["M"], a["r_thres_linear_web"], color="grey", lw=0.9, label="control: linear web loss")
    bx.set(xscale="log", yscale="log", xlabel="capacity M (bits)", ylabel="critical odds r/(1-r)",
           title="Critical mixing ratio vs model size (Eq. 5)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_subsampling_groups(res: Result) -> "plt.Figure":
    """Left: stored fraction vs kept fraction rho; right: threshold frequency of power-law groups vs M."""
    a, c = res.arrays, res.config
    sub = res.summary.subsampling
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax.plot(a["rho"], a["stored_rho"], color="C0", label="stored fraction of all facts")
    ax.axvline(sub.rho_star_theory, color="C1", ls="--", lw=0.9, label=f"ρ* = {sub.rho_star_theory:.3f}")
    if sub.rho_collapse_theory <= 1:
        ax.axvline(sub.rho_collapse_theory, color="C3", ls=":", lw=0.9,
                   label=f"collapse (M/M0)^(α+1) = {sub.rho_collapse_theory:.3f}")
    ax.set(xlabel="kept fraction ρ of the knowledge set", ylabel="facts stored / all facts",
           title=f"Subsampling (Sec. 6): M={c['rho_M']:g}, r={c['rho_r']:g}")
    ax.legend(fontsize=7)
    f = a["f_thres_groups"]
    ok = np.isfinite(f)
    bx.plot(a["M_groups"][ok], f[ok], "o-", ms=3, color="C0", label="threshold frequency (80% stored)")
    sl = res.summary.power_web.slope_group_fthres_vs_M.slope
    Mm = a["M_groups"][ok]
    bx.plot(Mm, f[ok][len(Mm) // 2] * (Mm / Mm[len(Mm) // 2]) ** (-(c["alpha"] + 1)), "k:", lw=0.9,
            label=f"slope -(α+1) = {-(c['alpha'] + 1):.3f}")
    bx.set(xscale="log", yscale="log", xlabel="capacity M (bits)", ylabel="f_thres = r p_g",
           title=f"Power-law groups (Sec. 5): fitted slope {sl:.3f} (paper {K.PAPER['fthres_slope_measured']})")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_train(res: Result) -> "plt.Figure":
    """Memorised fraction vs mixing ratio per size; web loss vs N; critical ratio vs N with the -(alpha+1) line and
    the per-model knapsack prediction from the web loss."""
    a, s, c = res.arrays, res.summary, res.config
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.7))
    ax, bx, cx = axes
    N = a["n_nonembedding"]
    for i, col in enumerate(colors(len(c["sizes"]))):
        ran = np.isfinite(a["memorized"][i])        # a bisection's sweep trains only some ratios
        ax.plot(a["ratios"][ran], a["memorized"][i][ran], "o-", color=col, ms=4,
                label=f"d={c['sizes'][i]} (N={int(N[i])})")
        if np.isfinite(a["r_thres"][i]):
            ax.axvline(a["r_thres"][i], color=col, ls=":", lw=0.8)
    ax.axhline(c["threshold"], color="grey", lw=0.7, ls="--")
    ax.set(xscale="log", xlabel="mixing ratio r (fraction of biography sequences)",
           ylabel="memorised fraction (chance-corrected)", ylim=(-0.05, 1.05),
           title="Memorisation vs mixing ratio (cf. Fig. 2)")
    ax.legend(fontsize=7)
    for j in range(a["web_loss"].shape[1]):
        bx.plot(N, a["web_loss"][:, j], ".", color="0.7", ms=3, label="each run" if j == 0 else None)
    bx.plot(N, a["web_loss_f2"], "o", color="C0", label=f"F2: median over r <= {c['web_ratio_max']:g}")
    wf = s.web_fit
    if np.isfinite(wf.slope):
        xs = np.geomspace(N.min() / 1.2, N.max() * 1.2, 20)
        bx.plot(xs, np.exp(wf.intercept) * xs ** wf.slope, "k:", lw=0.9, label=f"α = {s.alpha_web:.3f}")
    bx.set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel="web loss (nats / fact)",
           title="Web loss vs model size")
    bx.legend(fontsize=7)
    rt = a["r_thres"] / (1 - a["r_thres"])
    ok = np.isfinite(rt)
    cx.plot(N[ok], rt[ok], "o", color="C0", label="measured")
    rk = a["r_thres_knapsack"]
    cx.plot(N, rk / (1 - rk), "s", mfc="none", color="C3", label="knapsack, from F2 alone")
    sl = s.slope_odds
    if ok.sum() >= 2 and np.isfinite(sl.slope):
        xs = np.geomspace(N.min() / 1.2, N.max() * 1.2, 20)
        cx.plot(xs, np.exp(sl.intercept) * xs ** sl.slope, color="C0", lw=0.9, label=f"fit: slope {sl.slope:.2f}")
        mid = np.exp(np.mean(np.log(N[ok])))
        at_mid = np.exp(sl.intercept) * mid ** sl.slope
        cx.plot(xs, at_mid * (xs / mid) ** s.predicted_slope, "k:", lw=0.9,
                label=f"theory: -(α+1) = {s.predicted_slope:.2f}")
    cx.set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel="critical odds r/(1-r)",
           title="Critical mixing ratio vs model size (Eq. 5)")
    cx.legend(fontsize=7)
    for axis in (bx, cx):
        _plain_minor(axis)
        axis.set_xticks(N)
        axis.set_xticklabels([f"{int(n)}" for n in N])
    fig.tight_layout()
    return fig


def fig_linear_web(res: Result, lin: Result) -> "plt.Figure":
    """The linear-web control beside the power-law web: memorised fraction vs mixing ratio per size for both
    sweeps, and the critical odds against N for each with the knapsack threshold predicted for the linear web."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.7))
    sizes = [d for d in res.config["sizes"] if d in lin.config["sizes"]]
    cols = colors(len(sizes))
    for run, style, name in ((res, "o-", "power-law web"), (lin, "s--", "linear web")):
        a, c = run.arrays, run.config
        for col, d in zip(cols, sizes):
            i = c["sizes"].index(d)
            ran = np.isfinite(a["memorized"][i])
            ax.plot(a["ratios"][ran], a["memorized"][i][ran], style, color=col, ms=4,
                    mfc="none" if "s" in style else col, label=f"d={d}, {name}")
        rt = a["r_thres"] / (1 - a["r_thres"])
        ok = np.isfinite(rt)
        bx.plot(a["n_nonembedding"][ok], rt[ok], style, color="k", mfc="none" if "s" in style else "k",
                label=f"{name}: slope {run.summary.slope_odds.slope:.2f}")
    knap = np.asarray(lin.arrays["r_thres_knapsack"], float)
    bx.plot(lin.arrays["n_nonembedding"], knap / (1 - knap), ":", color="grey",
            label="knapsack prediction, linear web")
    ax.axhline(res.config["threshold"], color="grey", lw=0.7, ls="--")
    ax.set(xscale="log", xlabel="mixing ratio r", ylabel="memorised fraction (chance-corrected)", ylim=(-0.05, 1.05),
           title="Control: uniform web keys (a web loss linear in capacity)")
    ax.legend(fontsize=6, ncol=2)
    bx.set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel="critical odds r/(1-r)",
           title="Critical ratio vs size, both webs")
    bx.legend(fontsize=7)
    _plain_minor(bx)
    N = res.arrays["n_nonembedding"]
    bx.set_xticks(N)
    bx.set_xticklabels([f"{int(n)}" for n in N])
    fig.tight_layout()
    return fig


def _odds(runs) -> np.ndarray:
    """Critical odds r/(1-r), one row per run (NaN where a size never crossed the threshold)."""
    rt = np.array([r.arrays["r_thres"] for r in runs], dtype=float)
    return rt / (1 - rt)


def fig_size_law_seeds(runs: list[Result], lin_runs: list[Result]) -> "plt.Figure":
    """The two size-law claims over their seeds: every seed's critical odds against N for the power-law web (with
    the mean of the per-seed fits, the -(alpha+1) line of the mean alpha through the same centre, and the
    per-model knapsack prediction from each model's web loss) and for the linear-web control; right, each seed's
    fitted slope against its own -(alpha+1)."""
    from sims.engine import mean_ci

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    N = np.asarray(runs[0].arrays["n_nonembedding"], float)
    xs = np.geomspace(N.min() / 1.15, N.max() * 1.15, 20)
    mid = np.exp(np.mean(np.log(N)))
    for group, col, mark, name in ((runs, "C0", "o", "power-law web"), (lin_runs, "C7", "s", "linear web")):
        if not group:
            continue
        odds = _odds(group)
        for row in odds:
            ax.plot(N, row, mark, color=col, ms=3, alpha=0.45, mfc="none" if mark == "s" else col)
        slopes = [s for s in (r.summary.slope_odds.slope for r in group) if np.isfinite(s)]
        if not slopes or not np.isfinite(odds).any():
            continue
        centre = np.exp(np.nanmean(np.log(odds)))
        est = mean_ci(slopes)
        ax.plot(xs, centre * (xs / mid) ** est.mean, color=col, lw=1.2,
                label=f"{name}: slope {est.mean:.2f} [{est.low:.2f}, {est.high:.2f}] ({len(slopes)} seeds)")
        if group is runs:
            rk = np.array([r.arrays["r_thres_knapsack"] for r in group], dtype=float)
            ax.plot(N, np.exp(np.mean(np.log(rk / (1 - rk)), axis=0)), "D", mfc="none", color="C3", ms=6,
                    label="knapsack from each model's web loss (geometric mean)")
            alpha = float(np.mean([r.summary.alpha_web for r in group]))
            ax.plot(xs, centre * (xs / mid) ** (-(alpha + 1)), "k:", lw=1.0,
                    label=f"theory -(α+1) = {-(alpha + 1):.2f} (mean α {alpha:.2f})")
    ax.set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel="critical odds r/(1-r)",
           title="Critical ratio vs size, every seed")
    ax.legend(fontsize=7)
    _plain_minor(ax)
    ax.set_xticks(N)
    ax.set_xticklabels([f"{int(n)}" for n in N])
    pred = np.array([-(r.summary.alpha_web + 1) for r in runs], dtype=float)
    fit = np.array([r.summary.slope_odds.slope for r in runs], dtype=float)
    ok = np.isfinite(pred) & np.isfinite(fit)          # a seed where fewer than two sizes crossed has no slope
    if not ok.any():
        bx.set_axis_off()
        bx.text(0.5, 0.5, "no seed has a fitted slope", ha="center", va="center", transform=bx.transAxes)
        fig.tight_layout()
        return fig
    pred, fit = pred[ok], fit[ok]
    bx.plot(pred, fit, "o", color="C0", label=f"power-law web, per seed ({ok.sum()} of {ok.size})")
    both = np.concatenate([pred, fit])
    lo, hi = float(both.min()) - 0.3, float(both.max()) + 0.3
    line = np.array([lo, hi])
    bx.plot(line, line, "k:", lw=0.9, label="fit = -(α+1)")
    bx.fill_between(line, line - 0.5, line + 0.5, color="0.85", label="claim band (gap within ±0.5)")
    bx.set(xlabel="predicted slope -(α+1) of the seed", ylabel="fitted slope of the seed", xlim=(lo, hi),
           ylim=(lo, hi), title="Exponent per seed")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


LEVELS = tuple(np.round(np.arange(0.1, 0.91, 0.1), 2))


def fig_exponent_by_level(runs: list[Result], lin_runs: list[Result], levels=LEVELS) -> "plt.Figure":
    """Where on the rise the critical ratio is read changes the size law: left, the exponent gap (fitted slope of
    the critical odds against N, plus alpha + 1) with its 95% interval over seeds, the critical ratio read at each
    memorised level (and at the sweep's own threshold), for the power-law web and the linear-web control, with the
    claim's band; a hollow marker where some seed's size is censored at that level (memorised at the lowest ratio
    already, or never: `censored_at_level`). Right, the width of each size's rise (octaves of r, 20% to 80%)."""
    from paper_checks.knapsack import censored_at_level, odds_slope_at_level, transition_octaves
    from sims.engine import mean_ci

    threshold = float(runs[0].config["threshold"])
    levels = sorted(set(float(v) for v in levels) | {threshold})
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    N = np.asarray(runs[0].arrays["n_nonembedding"], float)
    any_censored = False
    for k, (group, col, mark, name) in enumerate(((runs, "C0", "o", "power-law web"),
                                                  (lin_runs, "C7", "s", "linear web (control)"))):
        if not group:
            continue
        alpha1 = np.array([r.summary.alpha_web + 1 for r in group], float)
        counts = []
        for lv in levels:
            gap = np.array([odds_slope_at_level(r, lv) for r in group]) + alpha1
            gap = gap[np.isfinite(gap)]
            if gap.size < 2:
                continue
            est = mean_ci(gap)
            counts.append(gap.size)
            censored = any(censored_at_level(r, lv).any() for r in group)
            any_censored |= censored
            ax.errorbar([lv + (k - 0.5) * 0.012], [est.mean], yerr=[[est.mean - est.low], [est.high - est.mean]],
                        fmt=mark, color=col, ms=4, capsize=2, mfc="white" if censored else col)
        if counts:                                      # seeds with a slope at a level (a size may never reach it)
            seeds = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
            ax.plot([], [], mark, color=col, ms=4, label=f"{name} ({seeds} seeds per level)")
        width = np.array([transition_octaves(r) for r in group], float)
        ests = [mean_ci(w[np.isfinite(w)]) if np.isfinite(w).sum() >= 2 else None for w in width.T]
        keep = [i for i, e in enumerate(ests) if e is not None]
        if keep:
            m = np.array([ests[i].mean for i in keep])
            lo = np.array([ests[i].low for i in keep])
            hi = np.array([ests[i].high for i in keep])
            bx.errorbar(N[keep] * (1 + 0.02 * (2 * k - 1)), m, yerr=[m - lo, hi - m], fmt=mark, color=col, ms=4,
                        capsize=2, label=name)
    ax.axhspan(-0.5, 0.5, color="0.88", label="claim band (gap within ±0.5)")
    ax.axhline(0.0, color="k", lw=0.8, ls=":")
    ax.axvline(threshold, color="C3", lw=1.0, ls="--", label=f"the sweep's threshold ({threshold:g})")
    if any_censored:
        ax.plot([], [], "o", color="0.4", mfc="white", ms=4, label="hollow: a size censored at that level")
    ax.set(xlabel="memorised fraction at which the critical ratio is read", ylabel="slope + (α+1)",
           title="Size-law exponent by level (mean, 95% CI)")
    ax.legend(fontsize=7)
    bx.set(xscale="log", xlabel="non-embedding parameters N", ylabel="log2(r at 80% / r at 20%)",
           title="Width of the rise per size (mean, 95% CI)")
    _plain_minor(bx)
    bx.set_xticks(N)
    bx.set_xticklabels([f"{int(n)}" for n in N])
    if bx.get_legend_handles_labels()[0]:
        bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure(s) of one experiment's result, written under out_dir."""
    out_dir = Path(out_dir)
    if experiment == "phase":
        return [save(fig_phase(res), out_dir / "phase_diagram.png"),
                save(fig_subsampling_groups(res), out_dir / "subsampling_groups.png")]
    if experiment == "train":
        return [save(fig_train(res), out_dir / "train_mixing.png")]
    raise ValueError(f"unknown knapsack experiment {experiment!r}.")


_CAPTIONS = {
    "phase_diagram.png": "Knapsack model: memorised fraction over (capacity, mixing ratio) with the critical size; "
                         "critical ratio against capacity with slope -(alpha+1) (Eq. 5) and the linear-web control.",
    "subsampling_groups.png": "Subsampling the knowledge set (Sec. 6) and the threshold frequency of power-law "
                              "frequency groups (Sec. 5).",
    "train_mixing.png": "Training: memorised fraction against mixing ratio per model size, web loss against size, "
                        "and critical ratio against size with the knapsack prediction -(alpha+1).",
    "train_size_law_seeds.png": "The size-law claims over their seeds: each seed's critical odds against model "
                                "size for the power-law web and the linear-web control, with the mean fitted "
                                "slope and the -(alpha+1) line; right, each seed's fitted slope against its own "
                                "prediction, with the claim's +-0.5 band.",
    "train_exponent_by_level.png": "The size laws read at other points of the rise: the exponent gap with its "
                                   "interval over the size-law claims' seeds when the critical ratio is taken where "
                                   "10%, 20%, ..., 90% of the facts are memorised (the claims use the dashed level), "
                                   "and the width of the rise per size. A gap that drifts with the level means the "
                                   "rise changes width with size (in the knapsack model, with the facts small "
                                   "beside the capacity, every size's rise is a step).",
    "train_linear_web.png": "Negative control of the size laws: the same sweep with uniform web keys (a web loss "
                            "linear in capacity), where the knapsack model puts the critical ratio at one value "
                            "for every size (dotted); the legend gives the measured slopes of both webs.",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every knapsack experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results (the linear-web control is the
    sweep paper_checks.knapsack runs for it, so it comes from the same cache), and the size laws over the seeds
    their claims were measured on."""
    from paper_checks.knapsack import CLAIMS

    paths = make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0])
    train = BY_NAME["train"]
    res = train.cached(train.config(ctx.preset, seed=ctx.seeds[0]), root=ctx.cache)
    lin = train.cached(linear_web(train.config(ctx.preset, seed=ctx.seeds[0])), root=ctx.cache)
    paths.append(save(fig_linear_web(res, lin), Path(out_dir) / "train_linear_web.png"))
    # the size laws over their claims' seeds, drawn from the cache only: a check run without those claims
    # (--only) must not train twenty sweeps for a figure
    law = ctx.for_claim(next(c for c in CLAIMS if c.name == "train_exponent_matches"))
    runs = _cached_seeds(train, train.config(ctx.preset), law.seeds, ctx.cache)
    lin_runs = _cached_seeds(train, linear_web(train.config(ctx.preset)), law.seeds, ctx.cache)
    if len(runs) >= 2:
        paths.append(save(fig_size_law_seeds(runs, lin_runs), Path(out_dir) / "train_size_law_seeds.png"))
        paths.append(save(fig_exponent_by_level(runs, lin_runs), Path(out_dir) / "train_exponent_by_level.png"))
    return captioned(paths, _CAPTIONS)


def _cached_seeds(experiment, config, seeds, root) -> list[Result]:
    """The results of `config` at those seeds that are already in the cache (none is computed)."""
    from dataclasses import replace

    from sims.engine import cache, results

    out = []
    for s in seeds:
        cfg = replace(config, seed=int(s))
        if results.is_complete(cache.path_for(experiment.id, cfg, root)):
            out.append(experiment.cached(cfg, root=root))
    return out
