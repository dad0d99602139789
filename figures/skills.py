"""Figures of the MATH^2 paper (Shah et al., arXiv 2407.21009): the paper's 25 models, MATH^2 accuracy Y against
MATH accuracy X with the curve Y = X^2 and every model labelled (the website's squared_relationship.png style,
redrawn from the published table), and [ours] the fitted exponent against the number k of skills per question
in the synthetic population, with the line exponent = k; [ours] the trained tiny Transformers: two- and
three-skill accuracy against one-skill accuracy for every model and budget, with X^2 and X^3.
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


def fig_trained(res: Result) -> "plt.Figure":
    """Left: held-out two-skill accuracy against one-skill accuracy, every model at every budget (small, faint)
    and at the end of training (large), with Y = X^2. Middle: the same for three skills with X^3. Right: Y2
    against the product of each model's own one-skill results along the questions (the line Y = product is
    'composing costs nothing')."""
    s, a, cfg = res.summary, res.arrays, res.config
    final = a["final"] > 0
    widths = sorted(set(int(d) for d in a["d_model"]))
    colors = dict(zip(widths, plt.cm.viridis(np.linspace(0.0, 0.8, len(widths)))))
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.2))
    grid = np.linspace(0.0, 1.0, 200)
    panels = ((axes[0], "y2", 2, s.final.exponent2, s.budgets.exponent2),
              (axes[1], "y3", 3, s.final.exponent3, s.budgets.exponent3))
    for ax, key, k, kf, kb in panels:
        ax.plot(grid, grid ** k, color="tab:red", lw=1.0, label=f"Y = X^{k}")
        ax.plot(grid, grid, color="gray", ls=":", lw=0.8, label="Y = X")
        for d in widths:
            m = a["d_model"] == d
            ax.scatter(a["x"][m & ~final], a[key][m & ~final], s=9, color=colors[d], alpha=0.35)
            ax.scatter(a["x"][m & final], a[key][m & final], s=30, color=colors[d], edgecolor="black",
                       label=f"width {d}, end of training")
        ax.axvspan(cfg["x_low"], cfg["x_high"], color="gray", alpha=0.06)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="one-skill accuracy X",
               ylabel=f"held-out {k}-skill accuracy", title=f"fitted k: end of training {kf:.2f}, every budget "
                                                             f"{kb:.2f}")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6.5, loc="upper left")
    bx = axes[2]
    bx.plot(grid, grid, color="gray", ls=":", lw=0.8, label="Y = own-skill product")
    for d in widths:
        m = a["d_model"] == d
        bx.scatter(a["pred2"][m & ~final], a["y2"][m & ~final], s=9, color=colors[d], alpha=0.35)
        bx.scatter(a["pred2"][m & final], a["y2"][m & final], s=30, color=colors[d], edgecolor="black",
                   label=f"width {d}")
    bx.set(xlim=(0, 1), ylim=(0, 1), xlabel="product of the model's own one-skill results",
           ylabel="held-out two-skill accuracy", title=f"Y / product: end {s.final.own_ratio2:.3f}, every budget "
                                                       f"{s.budgets.own_ratio2:.3f}")
    bx.title.set_fontsize(9)
    bx.legend(fontsize=6.5, loc="upper left")
    fig.suptitle(f"tiny Transformers, {cfg['n_skills']} skills x {cfg['n_values']} values; faint: every budget, "
                 f"outlined: end of training; seed {cfg['seed']}", fontsize=9)
    fig.tight_layout()
    return fig


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure(s) of one experiment's result, written under out_dir."""
    out_dir = Path(out_dir)
    if experiment == "table":
        return [save(fig_table(res), out_dir / "skills_table.png")]
    if experiment == "population":
        return [save(fig_population(res), out_dir / "skills_population.png")]
    if experiment == "trained":
        return [save(fig_trained(res), out_dir / "skills_trained.png")]
    raise ValueError(f"unknown skills experiment {experiment!r}.")


_CAPTIONS = {
    "skills_table.png": "The paper's 25 models (website table): MATH² accuracy against MATH accuracy, with Y = X² "
                        "(no parameter) and the fitted exponent with its bootstrap interval [ours].",
    "skills_population.png": "[ours] Synthetic models with per-skill abilities: Y = X^k for k-skill questions; the "
                             "fitted exponent tracks k.",
    "skills_trained.png": "[ours] Tiny Transformers that learned single skills (lookup tables), each knowing a "
                          "different share of the facts: held-out two- and three-skill accuracy against one-skill "
                          "accuracy (outlined: end of training; faint: earlier budgets), and against the product of "
                          "the model's own one-skill results.",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every skills experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
