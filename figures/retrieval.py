"""Figures of the retrieval paper (arXiv 2402.18510): associative-recall accuracy against the number of pairs
per architecture and state size with the Fano bound curves and the crossover against state size (R3); exact
streaming agents against the bound (R1); IsTree under a memory budget (R2); the in-context RAG controller's
accuracy and state size against n (R5)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sims.engine import Result, results
from sims.engine import cache as cache_mod
from sims.retrieval import BY_NAME
from theory.retrieval import critical_pairs, union_find_bits

from .style import colors, plt, save


def _log_ticks(ax, values, axis: str = "x") -> None:
    """Plain-number ticks at the given values on a log axis (no 2x10^0 clutter)."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator([float(v) for v in values]))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(ScalarFormatter())


def fig_recall(res: Result) -> "plt.Figure":
    """Accuracy vs m (RNNs by state size, bound dashed; Transformer, hybrid) and m* vs state bits."""
    a, s, cfg = res.arrays, res.summary, res.config
    m = a["m"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.5, 3.9))
    for i, (rnn, c) in enumerate(zip(s.rnns, colors(len(s.rnns)))):
        ax.plot(m, a["acc"][i], "o-", color=c, label=f"RNN, s={rnn.state_bits} bits")
        ax.plot(m, a["bound"][i], "--", color=c, lw=0.9)
    ax.plot(m, a["acc"][s.models.index("transformer")], "s-", color="black", label="Transformer")
    ax.plot(m, a["acc"][s.models.index("hybrid")], "^-", color="tab:red", label="hybrid (RNN + 1 attention)")
    ax.axhline(cfg["threshold"], color="grey", lw=0.7, ls=":")
    ax.axhline(1 / cfg["n_values"], color="grey", lw=0.7, ls="-.")
    ax.text(m[-1], 1 / cfg["n_values"] + 0.02, "chance", fontsize=7, color="grey", ha="right")
    ax.set(xscale="log", xlabel="number of key-value pairs m", ylabel="first-query accuracy", ylim=(-0.02, 1.05),
           title="Associative recall; dashed: Fano ceiling P*(s, m, V)")
    _log_ticks(ax, m)
    ax.legend(loc="lower left", fontsize=7)
    bits = np.asarray(s.state_bits, dtype=float)
    cross = np.array([rnn.crossover for rnn in s.rnns], dtype=float)
    fine = np.geomspace(bits.min() / 1.5, bits.max() * 1.5, 50)
    bx.plot(fine, critical_pairs(fine, cfg["n_values"], cfg["threshold"]), "k--", lw=1,
            label=f"bound: m* = s / f_V({cfg['threshold']})")
    ok = np.isfinite(cross)
    bx.plot(bits[ok], cross[ok], "o-", color="tab:blue", label="trained RNN (quantised state)")
    bx.set(xscale="log", yscale="log", xlabel="state bits s", ylabel=f"m* (accuracy < {cfg['threshold']})",
           title="Crossover number of pairs vs state size")
    _log_ticks(bx, bits)
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_streaming(res: Result) -> "plt.Figure":
    """Exact s-bit agents (solid), their Fano ceilings (dashed) and the full-context agent vs m."""
    a = res.arrays
    fig, ax = plt.subplots(figsize=(5.4, 3.9))
    for i, c in enumerate(colors(a["s_bits"].size)):
        ax.plot(a["m"], a["acc"][i], "o-", color=c, label=f"{int(a['s_bits'][i])}-bit agent")
        ax.plot(a["m"], a["bound"][i], "--", color=c, lw=0.9)
    ax.plot(a["m"], a["acc_full"], "s-", color="black", label="full context (attention)")
    ax.set(xscale="log", xlabel="number of key-value pairs m", ylabel="accuracy", ylim=(0, 1.05),
           title="R1: streaming agents vs Fano ceiling (dashed)")
    _log_ticks(ax, a["m"])
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_budget(res: Result) -> "plt.Figure":
    """IsTree on the INDEX gadget: accuracy vs state bits, the agent's formula and the Fano ceiling."""
    a, s, cfg = res.arrays, res.summary, res.config
    fig, ax = plt.subplots(figsize=(5.4, 3.9))
    ax.plot(a["bits"], a["acc"], "o-", label="budgeted streaming decider")
    ax.plot(a["bits"], a["formula"], ":", color="grey", label="its exact formula")
    ax.plot(a["bits"], a["bound"], "k--", lw=1, label="Fano ceiling, (n-3) hub bits")
    ax.axvline(s.lower_bound_bits, color="tab:red", lw=0.8, ls="-.")
    ax.text(s.lower_bound_bits, 0.47, " n-3 bits", color="tab:red", fontsize=7)
    ax.set(xlabel="state bits", ylabel="accuracy", ylim=(0.45, 1.03),
           title=f"R2: IsTree with a memory budget (n={cfg['n']}); union-find: {s.union_find.bits} bits, 100%")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def fig_controller(res: Result) -> "plt.Figure":
    """R5: accuracy vs n with and without retrieval; state bits vs n against n - 3 and union-find."""
    a, cfg = res.arrays, res.config
    n = a["n"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.7))
    for i, (fam, c) in enumerate(zip(cfg["families"], colors(len(cfg["families"])))):
        ax.plot(n, a["acc"][i], "o-", color=c, ms=8 - 3 * i, label=f"{fam}, with retrieval")
        ax.plot(n, a["acc_no_retrieval"][i], "x--", color=c, label=f"{fam}, retrieval disabled")
    ax.set(xscale="log", xlabel="nodes n", ylabel="IsTree accuracy", ylim=(0.3, 1.05),
           title="R5: scripted RAG controller")
    _log_ticks(ax, n)
    ax.legend(fontsize=7, loc="center right")
    bx.plot(n, a["state_bits"], "o-", label="controller state (measured)")
    bx.plot(n, a["lower_bound_bits"], "k--", label="needed without retrieval (n-3)")
    bx.plot(n, [union_find_bits(int(x)) for x in n], ":", color="grey", label="union-find n⌈log2 n⌉")
    bx.set(xscale="log", yscale="log", xlabel="nodes n", ylabel="bits", title="State size")
    _log_ticks(bx, n)
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_istree_train(res: Result) -> "plt.Figure":
    """R4: free-running answer accuracy by format (panels), model (bars) and n (groups); the hatched outline is
    the fraction of runs whose whole generated chain of thought equals the reference."""
    a, cfg = res.arrays, res.config
    formats, models, ns = cfg["formats"], cfg["models"], [t.n for t in res.summary.tests]
    fig, axes = plt.subplots(1, len(formats), figsize=(3.6 * len(formats), 3.4), squeeze=False, sharey=True)
    width = 0.8 / len(models)
    x = np.arange(len(ns))
    cs = {"transformer": "black", "rnn": "tab:blue", "hybrid": "tab:red"}
    for ax, (i, fmt) in zip(axes[0], enumerate(formats)):
        for j, kind in enumerate(models):
            ax.bar(x + j * width, a["acc"][i, j], width, color=cs.get(kind, "grey"), alpha=0.75, label=kind)
            ax.bar(x + j * width, a["gen_exact"][i, j], width, color="none", edgecolor="white", hatch="//", lw=0)
        ax.axhline(0.5, color="grey", lw=0.7, ls=":")
        ax.set_xticks(x + 0.4 - width / 2, [f"n={n}" for n in ns])
        ax.set(title=f"format: {fmt}", ylim=(0, 1.05))
    axes[0][0].set_ylabel("IsTree answer accuracy\n(free-running generation)")
    handles, _ = axes[0][0].get_legend_handles_labels()
    exact = plt.Rectangle((0, 0), 1, 1, facecolor="grey", edgecolor="white", hatch="//")
    axes[0][0].legend(handles + [exact], list(models) + ["CoT = reference"], fontsize=7, loc="upper left")
    fig.suptitle(f"R4: {res.config['steps']} training steps per model, fresh test graphs; dotted: chance",
                 fontsize=9)
    fig.tight_layout()
    return fig


_DRAW = {"recall": (fig_recall, "r3_recall.png"), "streaming": (fig_streaming, "r1_streaming.png"),
         "istree_budget": (fig_budget, "r2_istree_budget.png"), "controller": (fig_controller, "r5_controller.png"),
         "istree_train": (fig_istree_train, "r4_istree_train.png")}

_CAPTIONS = {
    "r3_recall.png": "R3: trained RNNs (state quantised to s bits) stay under the Fano ceiling and fall off at a "
                     "crossover that grows with s; the Transformer and the hybrid solve every size.",
    "r1_streaming.png": "R1: exact s-bit streaming agents never exceed the Fano ceiling; the full-context agent "
                        "is always right (Thm 4.6).",
    "r2_istree_budget.png": "R2: IsTree on the INDEX gadget needs about n bits of state (Thm 4.7).",
    "r4_istree_train.png": "R4: IsTree learned without CoT, with CoT and with retrieval-augmented CoT: accuracy "
                           "of the final answer under free-running greedy generation on fresh graphs (hatched: "
                           "the whole generated chain of thought equals the reference).",
    "r5_controller.png": "R5: with in-context retrieval an O(log n)-bit controller decides IsTree exactly; "
                         "without retrieval it is at chance (Sec. 5).",
}


# experiments behind the paper checks (R4 training has no claim yet; `python -m figures retrieval` draws it too)
_CHECKED = ("recall", "streaming", "istree_budget", "controller")


# experiments whose figure is drawn from the cache only at a preset (never run by `python -m figures`)
_CACHE_ONLY = {"paper": ("istree_train",)}


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure of one experiment's result, written under out_dir."""
    if experiment not in _DRAW:
        raise ValueError(f"unknown retrieval experiment {experiment!r}.")
    draw, name = _DRAW[experiment]
    return [save(draw(res), Path(out_dir) / name)]


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0,
             names: tuple[str, ...] | None = None) -> list[Path]:
    """Run (or load from the cache) the retrieval experiments (default: all) at `preset` and draw their figures.
    The paper-preset R4 training (hours; meant for `python -m sims.retrieval istree_train --preset paper
    --device cuda`) is never started here: its figure is drawn only when that result is already cached."""
    paths = []
    for name, exp in BY_NAME.items():
        if names is not None and name not in names:
            continue
        cfg = exp.config(preset, seed=seed)
        if name in _CACHE_ONLY.get(preset, ()) and not results.is_complete(cache_mod.path_for(exp.id, cfg, cache)):
            print(f"retrieval: skipping {name} at preset {preset} (not cached; run `python -m sims.retrieval "
                  f"{name} --preset {preset} --device cuda` first)", file=sys.stderr)
            continue
        res = exp.cached(cfg, root=cache)
        paths += draw_result(name, res, out_dir)
    return paths


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    paths = make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0], names=_CHECKED)
    return [(_CAPTIONS.get(p.name, p.stem), p) for p in paths]
