"""Figures of the MATH^2 paper (Shah et al., arXiv 2407.21009): the paper's 25 models, MATH^2 accuracy Y against
MATH accuracy X with the curve Y = X^2 and every model labelled (the website's squared_relationship.png style,
redrawn from the published table), and [ours] the fitted exponent against the number k of skills per question
in the synthetic population, with the line exponent = k.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.skills import BY_NAME
from sims.skills.table import load_main

from .runner import captioned, draw_experiments
from .style import plt, save


def fig_table(res: Result) -> "plt.Figure":
    """Y against X for the 25 models of the paper's table, the curve Y = X^2 and the fitted Y = X^k."""
    s = res.summary
    t = load_main()
    fig, ax = plt.subplots(figsize=(7.5, 6.0))
    grid = np.linspace(0.0, 1.0, 200)
    ax.plot(grid, grid ** 2, color="tab:red", label="Y = X²")
    ax.plot(grid, grid ** s.exponent, color="tab:blue", ls="--", lw=0.9,
            label=f"fitted Y = X^k, k = {s.exponent:.3f} [{s.exponent_low:.2f}, {s.exponent_high:.2f}]")
    ax.plot(grid, grid, color="gray", ls=":", lw=0.8, label="Y = X")
    ax.scatter(t.x, t.y, s=14, color="black", zorder=3)
    for name, x, y in zip(t.model, t.x, t.y):
        ax.annotate(name, (x, y), fontsize=5.5, xytext=(3, -2), textcoords="offset points")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="MATH accuracy X", ylabel="MATH² accuracy Y",
           title=f"paper's table (25 models): R² vs X² (no parameter) {s.r2_square:.3f}, "
                 f"best line {s.r2_linear:.3f}")
    ax.title.set_fontsize(9)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def fig_population(res: Result) -> "plt.Figure":
    """Left: Y against X for each k-skill test with the curve X^k. Right: fitted exponent against k."""
    s, a, cfg = res.summary, res.arrays, res.config
    ks = list(cfg["ks"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 4.0))
    grid = np.linspace(0.0, 1.0, 200)
    for k, c in zip(ks, plt.cm.viridis(np.linspace(0.0, 0.85, len(ks)))):
        ax.scatter(a["x"], a[f"y/{k}"], s=10, color=c, label=f"k = {k}")
        ax.plot(grid, cfg["penalty"] ** (k >= 2) * grid ** k, color=c, lw=0.9)
    ax.set(xlabel="MATH-like accuracy X", ylabel="accuracy on k-skill questions Y",
           title=f"{cfg['n_models']} synthetic models, {cfg['n_hard']} questions per test")
    ax.legend(fontsize=7)
    exps = [s.tests[k].exponent for k in ks]
    bx.plot(ks, ks, color="gray", ls=":", label="exponent = k")
    bx.plot(ks, exps, "o-", color="tab:blue", label="fitted exponent")
    bx.set(xlabel="skills per question k", ylabel="fitted exponent of Y = X^k", xticks=ks,
           title=f"penalty c = {cfg['penalty']:g}, two-skill MATH fraction {cfg['math_mix']:g}")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure(s) of one experiment's result, written under out_dir."""
    out_dir = Path(out_dir)
    if experiment == "table":
        return [save(fig_table(res), out_dir / "skills_table.png")]
    if experiment == "population":
        return [save(fig_population(res), out_dir / "skills_population.png")]
    raise ValueError(f"unknown skills experiment {experiment!r}.")


_CAPTIONS = {
    "skills_table.png": "The paper's 25 models (website table): MATH² accuracy against MATH accuracy, with Y = X² "
                        "(no parameter) and the fitted exponent with its bootstrap interval [ours].",
    "skills_population.png": "[ours] Synthetic models with per-skill abilities: Y = X^k for k-skill questions; the "
                             "fitted exponent tracks k.",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every skills experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
