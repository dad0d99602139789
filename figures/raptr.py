"""Figures of the RaPTr paper (Panigrahi et al., arXiv 2402.05913): [ours, after Lemma 1] the gap between a network
with one random layer removed and the full network against depth, per architecture variant, at initialisation and
after training, with the infinite-width prediction of theory/raptr.py; [ours] the staircase target's learned
coefficients and test loss along training per schedule; the character-level language model's loss against FLOPs
per method and its transition jumps.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.raptr import BY_NAME

from .runner import captioned, draw_experiments
from .style import plt, save

_LABELS = {"preln_scaled": "pre-LN residual, branch / sqrt(L)", "preln": "pre-LN residual",
           "no_ln": "residual, no LN", "post_ln": "post-LN residual", "no_residual": "no residual"}


def fig_stability(res: Result) -> "plt.Figure":
    """Left: gap at initialisation against depth (log-log), every variant, with the mean-field prediction
    (dotted) and the L^(-1/2) slope for reference. Right: the same after training."""
    s, a = res.summary, res.arrays
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2), sharey=True)
    colors = plt.cm.tab10(np.arange(len(s.variants)))
    for (name, v), c in zip(s.variants.items(), colors):
        depths = np.asarray(v.depths, float)
        for ax, key, slope in ((axes[0], "gaps_init", v.slope_init), (axes[1], "gaps_trained", v.slope_trained)):
            g = a[f"{name}/{key}"]
            ax.errorbar(depths, g.mean(1), yerr=g.std(1), fmt="o-", color=c, ms=4, capsize=2,
                        label=f"{_LABELS.get(name, name)} (slope {slope:.2f})")
        if all(np.isfinite(v.gaps_mean_field)):
            axes[0].plot(depths, v.gaps_mean_field, ls=":", color=c, lw=1.0)
    for ax, title in zip(axes, ("at initialisation (dotted: infinite-width prediction)", "after training")):
        depths = np.asarray(next(iter(s.variants.values())).depths, float)
        ax.plot(depths, 0.8 * depths[0] ** 0.5 / depths ** 0.5, color="gray", ls="--", lw=0.8, label="L^(-1/2)")
        ax.set(xscale="log", yscale="log", xlabel="depth L (blocks)", title=title)
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6.5)
    axes[0].set_ylabel("output change when one random layer is removed")
    cfg = res.config
    fig.suptitle(f"width {cfg['width']}, {cfg['branch']} branches, {cfg['draws']} draws, seed {cfg['seed']}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def fig_staircase(res: Result) -> "plt.Figure":
    """Per target (rows): the learned coefficient of the target's top monomial over training (left) and the test
    MSE (right, log scale), one line per schedule, stage boundaries of the progressive schedules dotted."""
    s, a, cfg = res.summary, res.arrays, res.config
    targets = list(s.targets)
    fig, axes = plt.subplots(len(targets), 2, figsize=(10.5, 3.6 * len(targets)), squeeze=False)
    colors = dict(zip(("full", "raptr", "pld", "constant"), ("black", "tab:blue", "tab:red", "tab:green")))
    n_stages = len(cfg["sizes"])
    for row, target in zip(axes, targets):
        t = s.targets[target]
        for name, sch in t.schedules.items():
            steps = a[f"{target}.{name}.step"]
            top = list(sch.coefficients).index(t.top_monomial)
            label = f"{name} ({sch.flops_ratio:.2f} FLOPs)"
            row[0].plot(steps, a[f"{target}.{name}.coefficients"][:, top], "o-", ms=3, color=colors.get(name),
                        label=label)
            row[1].plot(steps, a[f"{target}.{name}.test_mse"], "o-", ms=3, color=colors.get(name), label=label)
        for ax in row:
            for k in range(1, n_stages):
                ax.axvline(cfg["steps"] * k / n_stages, color="gray", ls=":", lw=0.8)
            ax.set_xlabel("step")
            ax.legend(fontsize=7)
        row[0].axhline(1.0, color="gray", lw=0.6)
        row[0].set(ylabel=f"learned coefficient on {t.top_monomial}", title=f"target {target}")
        row[1].set(yscale="log", ylabel="test MSE (full network)", title=f"target {target}")
    fig.suptitle(f"residual MLP, {cfg['n_layers']} blocks, sizes {tuple(cfg['sizes'])}, seed {cfg['seed']}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def fig_pretrain(res: Result) -> "plt.Figure":
    """Left: validation loss of the full network against FLOPs spent (relative to full training's total), one line
    per method, the baseline's final loss dashed. Right: the loss jump at each stage transition per method."""
    s, a = res.summary, res.arrays
    total = float(a["baseline.flops"][-1])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.0, 4.2), gridspec_kw={"width_ratios": [1.6, 1.0]})
    colors = plt.cm.tab10(np.arange(len(s.methods)))
    for (name, m), c in zip(s.methods.items(), colors):
        ax.plot(a[f"{name}.flops"] / total, a[f"{name}.val_loss"], "-", color=c, lw=1.2,
                label=f"{name} (final {m.final_loss:.3f})")
    ax.axhline(s.baseline_final, color="black", ls="--", lw=0.8)
    ax.set(xlabel="FLOPs spent / full training's total", ylabel="validation loss (nats/char, full network)",
           title=f"RaPTr reaches the baseline at {s.raptr_reach_relative:.2f} of its FLOPs"
           if s.raptr_reached else "RaPTr does not reach the baseline's final loss")
    lo = min(float(np.min(a[f"{n}.val_loss"])) for n in s.methods)
    ax.set_ylim(lo - 0.05, lo + 1.0)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    names = [n for n, m in s.methods.items() if m.transitions]
    for i, name in enumerate(names):
        jumps = [t.jump for t in s.methods[name].transitions]
        bx.bar(i + np.arange(len(jumps)) * 0.35 - 0.175, jumps, width=0.33, color=colors[list(s.methods).index(name)])
    bx.axhline(0.0, color="gray", lw=0.6)
    bx.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
    bx.set(ylabel="loss jump at a transition (nats/char)", title="jumps at the 1st and 2nd transition")
    bx.title.set_fontsize(9)
    fig.suptitle(f"{res.config['n_layers']}-block character LM, {res.config['steps']} steps, seed "
                 f"{res.config['seed']}", fontsize=9)
    fig.tight_layout()
    return fig


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure(s) of one experiment's result, written under out_dir."""
    out_dir = Path(out_dir)
    if experiment == "stability":
        return [save(fig_stability(res), out_dir / "raptr_stability.png")]
    if experiment == "staircase":
        return [save(fig_staircase(res), out_dir / "raptr_staircase.png")]
    if experiment == "pretrain":
        return [save(fig_pretrain(res), out_dir / "raptr_pretrain.png")]
    raise ValueError(f"unknown raptr experiment {experiment!r}.")


_CAPTIONS = {
    "raptr_stability.png": "[ours, after the paper's Lemma 1] Output change when one random layer is removed, "
                           "against depth: residual connections with layer norm make it fall like L^(-1/2); without "
                           "LN or without the residual path it stays flat at initialisation.",
    "raptr_staircase.png": "[ours] A residual MLP learning the staircase y = x1 + x1x2 + x1x2x3 and a degree-1 "
                           "control: the top monomial's learned coefficient and the test MSE along training for "
                           "full training, RaPTr (increasing), progressive layer dropping (decreasing) and constant "
                           "stochastic depth at equal FLOPs.",
    "raptr_pretrain.png": "A character-level language model on Shakespeare: validation loss against FLOPs for "
                          "full training, RaPTr and its ablations, progressive layer dropping and gradual stacking, "
                          "and the loss jump at each stage transition.",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every raptr experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
