"""Figures of DistillSpec (Zhou et al., arXiv 2310.08461) on the tiny target/draft pair: acceptance by divergence
and data source, block efficiency against gamma with the formula, measured against predicted speed-up, the lossy
trade-off, and the exactness tests of the samplers (X^2/dof, log scale).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.specdec import BY_NAME
from theory import specdec as theory

from .runner import captioned, draw_experiments
from .style import colors, plt, save

DATA_LABELS = {"fixed": "fixed (corpus)", "target": "target-generated", "onpolicy": "on-policy (draft)"}


def fig_distill(res: Result) -> plt.Figure:
    """Acceptance (temperature 1 and greedy) of each distilled draft, grouped by divergence and coloured by the
    data source, with the undistilled and cross-entropy baselines as lines."""
    s = res.summary
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.0), sharey=False)
    divs = list(res.config["divergences"])
    data = [d for d in DATA_LABELS if any(k.endswith("/" + d) for k in s.settings)]
    width = 0.8 / max(len(data), 1)
    for ax, field, title in ((axes[0], "acceptance_t1", "temperature 1"), (axes[1], "acceptance_greedy", "greedy")):
        x = np.arange(len(divs))
        for j, (d, c) in enumerate(zip(data, colors(len(data)))):
            vals = [getattr(s.settings[f"{div}/{d}"], field) for div in divs]
            ax.bar(x + (j - (len(data) - 1) / 2) * width, vals, width, color=c, label=DATA_LABELS[d])
        for base, ls in (("none", "--"), ("ce", ":")):
            if base in s.settings:
                ax.axhline(getattr(s.settings[base], field), color="black", ls=ls, lw=1,
                           label="undistilled draft" if base == "none" else "draft + more cross-entropy")
        vals = [getattr(v, field) for v in s.settings.values()]
        lo, hi = min(vals), max(vals)
        ax.set_ylim(max(0.0, lo - 0.1 * (hi - lo + 1e-3) - 0.02), min(1.0, hi + 0.45 * (hi - lo + 1e-3) + 0.02))
        ax.set_xticks(x, [d.upper() for d in divs])
        ax.set(ylabel="acceptance rate alpha", title=f"acceptance, {title}")
    axes[0].legend(fontsize=7, loc="upper left", ncol=2, framealpha=0.9)
    fig.suptitle(f"draft distilled toward the target (seed {res.config['seed']}): acceptance on held-out contexts",
                 fontsize=9)
    fig.tight_layout()
    return fig


def fig_speed(res: Result) -> plt.Figure:
    """Left: tokens per target call against gamma, measured and (1 - a^(g+1)) / (1 - a). Right: measured against
    predicted speed-up, one point per (batch, gamma), with the 15 % band around the diagonal."""
    s = res.summary
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.0, 4.2))
    batches = list(s.batches.values())
    for b, c in zip(batches, colors(len(batches))):
        gammas = sorted(b.points)
        ax.plot(gammas, [b.points[g].tau for g in gammas], "o", color=c, label=f"measured, batch {b.batch}")
        alpha = np.mean([b.points[g].alpha for g in gammas])
        grid = np.arange(1, max(gammas) + 1)
        ax.plot(grid, theory.block_efficiency(alpha, grid), "-", color=c, lw=0.9,
                label=f"formula at alpha = {alpha:.3f}")
        pred = [b.points[g].speedup_formula for g in gammas]
        meas = [b.points[g].speedup for g in gammas]
        bx.scatter(pred, meas, color=c, label=f"batch {b.batch} (c = {b.c:.2f})")
        for g, x, y in zip(gammas, pred, meas):
            bx.annotate(f"g={g}", (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set(xlabel="draft tokens per block gamma", ylabel="tokens per target call tau",
           title="block efficiency")
    ax.legend(fontsize=7)
    lim = [0.0, 1.1 * max(max(p.speedup, p.speedup_formula) for b in batches for p in b.points.values())]
    grid = np.linspace(*lim, 50)
    bx.plot(grid, grid, color="gray", lw=0.8)
    bx.fill_between(grid, 0.85 * grid, 1.15 * grid, color="gray", alpha=0.15, label="within 15 %")
    bx.axhline(1.0, color="black", ls=":", lw=0.8)
    bx.set(xlim=lim, ylim=lim, xlabel="predicted speed-up S(alpha, gamma, c)", ylabel="measured speed-up",
           title=f"speculative vs plain decoding ({s.device}, {s.threads} thread)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_lossy(res: Result) -> plt.Figure:
    """Measured acceptance against the quality cost TV(emitted law, p), one curve per lenience function, eps
    marked."""
    s = res.summary
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for (kind, points), c in zip(s.kinds.items(), colors(len(s.kinds))):
        pts = sorted(points.values(), key=lambda p: -p.epsilon)
        ax.plot([p.quality_tv for p in pts], [p.acceptance for p in pts], "o-", color=c, label=kind)
        for p in pts:
            ax.annotate(f"{p.epsilon:g}", (p.quality_tv, p.acceptance), fontsize=6, xytext=(3, -8),
                        textcoords="offset points")
    ax.set(xlabel="quality cost: mean TV(emitted law, target p)", ylabel="measured acceptance rate",
           title="lossy speculative decoding: lenience eps trades exactness for acceptance")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_exact(res: Result) -> plt.Figure:
    """X^2/dof of every exactness test and sampler mode (log scale), with the band 1 +- 0.25 of an exact
    sampler."""
    s = res.summary
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    cases = list(s.cases)
    modes = list(next(iter(s.cases.values())).modes)
    width = 0.8 / len(modes)
    x = np.arange(len(cases))
    for j, (m, c) in enumerate(zip(modes, colors(len(modes)))):
        vals = [max(s.cases[name].modes[m].reduced, 1e-3) for name in cases]
        ax.bar(x + (j - (len(modes) - 1) / 2) * width, vals, width, color=c, label=m)
    ax.axhspan(0.75, 1.25, color="gray", alpha=0.25, label="exact: 1 +- 0.25")
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{n}\n(k={s.cases[n].k}, gamma={s.cases[n].gamma})" for n in cases], fontsize=7)
    ax.set(ylabel="X² / dof", title="first k emitted tokens against the target's exact law")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


_DRAW = {"distill": ("specdec_distill.png", fig_distill), "speed": ("specdec_speed.png", fig_speed),
         "lossy": ("specdec_lossy.png", fig_lossy), "exact": ("specdec_exact.png", fig_exact)}


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure of one experiment's result, written under out_dir."""
    if experiment not in _DRAW:
        raise ValueError(f"unknown specdec experiment {experiment!r}.")
    name, fn = _DRAW[experiment]
    return [save(fn(res), Path(out_dir) / name)]


_CAPTIONS = {
    "specdec_distill.png": "Acceptance of the draft distilled toward the target with each divergence and data "
                           "source, against the undistilled draft and the same draft trained longer with "
                           "cross-entropy (tiny character models, held-out Shakespeare).",
    "specdec_speed.png": "Block efficiency against gamma with the i.i.d. formula, and measured against predicted "
                         "wall-clock speed-up (Leviathan et al. Thm 3.8 with the measured alpha and c).",
    "specdec_lossy.png": "Lossy speculative decoding: acceptance against the TV distance of the emitted law from "
                         "the target's, per lenience function and eps.",
    "specdec_exact.png": "Exactness tests: X²/dof of the first emitted tokens against the exact law, for the exact "
                         "sampler and two broken ones (log scale).",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every specdec experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
