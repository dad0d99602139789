"""Figures of the quadratic synchronization rule (Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule
for Distributed Deep Learning", ICLR 2024, arXiv 2310.14423; research notes shared/papers/localsgd_qsr_momentum.md
section 1), drawn from the four experiments of `sims.qsr`:

- qsr_schedule.png: the paper's ViT-B Local AdamW recipe replayed (Sec. 2, notes 1.2): the learning rate against
  steps, and the H of every round against steps (log scale) for constant H, H ~ 1/eta and QSR at each alpha, with
  each rule's communication rounds in the legend (the analogue of the paper's H-schedule figure).
- qsr_toy.png: the bilinear label-noise toy under a cosine learning rate (notes 1.7 Q3): sharpness against steps per
  rule (path mean, 10-90 % band over paths, the slow flow of theory.qsr dashed) and a zoom on the last 40 % of the
  steps with the final 95 % intervals; the same sharpness against the cumulative communication rounds (log scale);
  and each rule's H against steps with the learning rate.
- qsr_drift.png: the drift-factor law at constant learning rates (Sec. 3, notes 1.7 Q2): the measured factor
  (rule's sharpness drop over SGD's, 95 % interval) against eta beside the slow flow's prediction, with the
  reference levels 1 (SGD), 1 + (K-1) psi(2 beta lambda0) (H = beta/eta) and K (QSR's limit); and the measured drop
  over the predicted one against eta, with the finite-eta variance correction 2 / (2 - eta lambda0).
- qsr_torch.png: K real processes on the digits (Sec. 4, notes 1.7 Q4-Q5): test accuracy against steps per rule;
  final test accuracy against the number of all-reduces (log scale), measured and predicted wall time in the
  legend; and the wall time per rule, measured beside predicted (t_compute x steps + t_comm x rounds), each split into
  compute and communication.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch

from sims.engine import Result
from sims.qsr import BY_NAME
from sims.qsr.schedule import qsr_name
from theory import local_sgd as lsgd

from .runner import captioned, draw_experiments
from .style import plt, save

# one colour per rule in every figure: the data-parallel / SGD baseline dark, constant H blue, H ~ 1/eta green,
# QSR red (the schedule's several alphas in shades of red)
RULE_COLORS = {"sgd": "0.25", "data_parallel": "0.25", "constant": "#1f77b4", "inverse_lr": "#2ca02c",
               "qsr": "#d62728"}
RULE_TITLES = {"sgd": "SGD (H = 1)", "data_parallel": "data-parallel", "constant": "constant H",
               "inverse_lr": r"H ~ 1/$\eta$", "qsr": r"QSR, H ~ 1/$\eta^2$"}
QSR_SHADES = ("#d62728", "#9e1b1b", "#ff7f7f", "#5e0f0f", "#ffb0b0")
BAND = (0.1, 0.9)  # the toy's band: 10-90 % of the paths, as figures.local_sgd draws it
# every drawn data series carries a gid "<what>/<rule>" (e.g. "mean/qsr", "h/constant"), so that a test can find it


def _errorbar(ax, gid: str, *args, **kwargs):
    """ax.errorbar with the gid on the data line alone (not on its caps and bars)."""
    bars = ax.errorbar(*args, **kwargs)
    bars.lines[0].set_gid(gid)
    return bars


def no_data(ax, text: str) -> None:
    """Mark a panel whose data the run did not produce (a control with nothing to draw)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, color="gray")


# ---------------------------------------------------------------------------------------------------------
# schedule: the ViT-B recipe replayed
# ---------------------------------------------------------------------------------------------------------


def schedule_rules(cfg: dict) -> dict[str, tuple[str, object]]:
    """The replayed rules in drawing order: name -> (legend title, colour)."""
    out = {"constant": (f"constant H = {cfg['init_h']}", RULE_COLORS["constant"]),
           "inverse_lr": (rf"H ~ 1/$\eta$, $\alpha_1$ = {cfg['alpha_power1']:g}", RULE_COLORS["inverse_lr"])}
    for i, a in enumerate(cfg["alphas"]):
        out[qsr_name(a)] = (rf"QSR, $\alpha$ = {a:g}", QSR_SHADES[i % len(QSR_SHADES)])
    return out


def fig_schedule(res: Result) -> "plt.Figure":
    """Top: the learning rate against steps (warm-up end dotted). Bottom: H of every round against steps (log y)
    per rule, as a step function over the rounds (the last round is cut to the steps left), with data-parallel
    training's H = 1 for reference; each legend entry gives the rule's rounds and their share of data-parallel's
    all-reduces."""
    s, a, cfg = res.summary, res.arrays, res.config
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(8.0, 6.2), sharex=True, gridspec_kw={"height_ratios": [1.0, 1.6]})
    steps = np.arange(s.steps)
    ax.plot(steps, a["lr"], color="k", lw=1.2, gid="lr")
    ax.set(ylabel=r"learning rate $\eta$",
           title=f"{cfg['kind']} schedule: warm-up {cfg['warmup']:,} steps to {cfg['peak']:g}, then down to "
                 f"{cfg['final']:g} over {s.steps:,} steps; H_base = {cfg['h_base']}")
    bx.plot([0, s.steps], [1, 1], ":", color=RULE_COLORS["data_parallel"], lw=1.2,
            label=f"data-parallel, H = 1 ({s.data_parallel_rounds:,} all-reduces)")
    for name, (title, color) in schedule_rules(cfg).items():
        if name not in s.rules:
            continue
        r = s.rules[name]
        starts, h = a[f"starts_{name}"], a[f"h_{name}"]
        bx.plot(np.append(starts, s.steps), np.append(h, h[-1]), drawstyle="steps-post", color=color, lw=1.3,
                gid=f"h/{name}", label=f"{title}: {r.rounds:,} rounds ({r.share_of_data_parallel:.1%})")
    bx.set_yscale("log")
    bx.set(xlabel="step", ylabel="H (local steps of the round)",
           title="local steps per round; legend: communication rounds (share of data-parallel's)")
    for axis in (ax, bx):
        if cfg["warmup"]:
            axis.axvline(cfg["warmup"], color="0.6", ls=":", lw=0.9)
        axis.title.set_fontsize(9)
    bx.legend(loc="upper left", fontsize=7.5)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------------
# toy: sharpness under a decaying learning rate
# ---------------------------------------------------------------------------------------------------------


def toy_rules(res: Result) -> list[str]:
    """The toy's rules in drawing order (those with arrays)."""
    return [n for n in ("sgd", "constant", "inverse_lr", "qsr") if f"sharp_{n}" in res.arrays]


TAIL = 0.6  # the zoom panel of the toy shows the steps after this share of the run


def fig_toy(res: Result) -> "plt.Figure":
    """Top left: sharpness of the averaged iterate against steps per rule, path mean (solid) with a 10-90 % band
    over the paths, and the slow flow with the rule's rounds (theory.qsr.bilinear_sharpness_along, dashed), at the
    recorded round boundaries. Top right: the same, zoomed on the Local rules over the last 40 % of the steps
    (their curves overlap at full scale), with the 95 % interval of each final mean. Bottom left: the path mean
    and the flow against the cumulative communication rounds (log x; the start, at 0 rounds, is the dotted
    lambda0). Bottom right: the H in force at every step per rule (log y), the learning rate on the right axis."""
    s, a, c = res.summary, res.arrays, res.config
    fig, ((ax, zx), (bx, cx)) = plt.subplots(2, 2, figsize=(12.0, 8.2))
    names = toy_rules(res)
    total = max(int(a[f"steps_{n}"][-1]) for n in names)
    zoom_vals = []
    for name in names:
        color, r = RULE_COLORS[name], s.rules[name]
        steps, sharp = a[f"steps_{name}"], a[f"sharp_{name}"]
        lo, hi = np.quantile(sharp, BAND, axis=1)
        ax.fill_between(steps, lo, hi, color=color, alpha=0.13, lw=0)
        ax.plot(steps, a[f"sharp_mean_{name}"], color=color, lw=1.5, gid=f"mean/{name}", label=RULE_TITLES[name])
        ax.plot(steps, a[f"flow_{name}"], "--", color=color, lw=1.0, gid=f"flow/{name}")
        if name != "sgd" or len(names) == 1:
            keep = steps >= TAIL * total
            zx.plot(steps[keep], a[f"sharp_mean_{name}"][keep], color=color, lw=1.5, gid=f"zoom/{name}",
                    label=f"{RULE_TITLES[name]}: {r.final_sharpness.mean:.3f} (flow {r.predicted_final:.3f})")
            zx.plot(steps[keep], a[f"flow_{name}"][keep], "--", color=color, lw=1.0)
            f = r.final_sharpness
            _errorbar(zx, f"zoom_final/{name}", [steps[-1]], [f.mean], yerr=[[f.mean - f.low], [f.high - f.mean]],
                      fmt="o", color=color, ms=4, capsize=3)
            zoom_vals += [a[f"sharp_mean_{name}"][keep], a[f"flow_{name}"][keep]]
        rounds = a[f"rounds_{name}"]
        keep = rounds > 0
        bx.plot(rounds[keep], a[f"sharp_mean_{name}"][keep], "-", color=color, lw=1.5, gid=f"rounds/{name}",
                label=f"{RULE_TITLES[name]}: {r.rounds:,} rounds")
        bx.plot(rounds[keep], a[f"flow_{name}"][keep], "--", color=color, lw=1.0, gid=f"rounds_flow/{name}")
        bx.plot([r.rounds], [r.final_sharpness.mean], "o", color=color, ms=5, gid=f"rounds_final/{name}")
        h = a[f"h_{name}"]
        cx.plot(np.arange(h.size), h, color=color, lw=1.3, drawstyle="steps-post", gid=f"h/{name}",
                label=f"{RULE_TITLES[name]}: H max {r.h_max:,}")
    ax.plot([], [], "--", color="k", lw=1.0, label="slow flow (dashed)")
    for axis in (ax, bx):
        axis.axhline(c["lam0"], color="0.6", ls=":", lw=0.9)
        axis.axhline(lsgd.LAMBDA_MIN, color="0.6", lw=0.8)
    for axis in (ax, zx, bx):
        axis.set_ylabel(r"sharpness $\lambda(\Phi(\bar\theta))$")
    ax.axvspan(TAIL * total, total, color="0.85", alpha=0.4, lw=0)
    ax.set(xlabel="step", title=f"path mean, {BAND[0]:.0%}-{BAND[1]:.0%} band over {c['n_paths']} paths, slow flow "
                                f"dashed (shaded: zoomed at right)")
    ax.legend(loc="upper right", fontsize=7.5)
    zv = np.concatenate(zoom_vals) if zoom_vals else np.array([])
    if zv.size >= 2:
        pad = 0.1 * (zv.max() - zv.min()) + 1e-6
        zx.set_ylim(zv.min() - pad, zv.max() + 3.5 * pad)  # headroom for the legend
    zx.set_xlim(TAIL * total, total * 1.02)
    zx.set(xlabel="step", title="zoom on the last 40 % of the steps; legend: final mean (slow flow), "
                                "95 % interval at the end")
    zx.legend(loc="upper right", fontsize=7.5)
    bx.set_xscale("log")
    bx.set(xlabel="communication rounds so far (all-reduces)", title="sharpness against communication")
    bx.legend(loc="lower left", fontsize=7.5)
    cx.set_yscale("log")
    cx.set(xlabel="step", ylabel="H (local steps of the round)",
           title=rf"H per rule; $\alpha$ = {s.alpha:.4g}, $\alpha_1$ = {s.alpha1:.4g} (H = {s.h_at_peak} at the peak)")
    lr = cx.twinx()
    lr.plot(np.arange(a["eta"].size), a["eta"], color="0.55", lw=0.9, ls="-.", gid="eta")
    lr.set_ylabel(r"learning rate $\eta$ (dash-dot)", color="0.4")
    lr.grid(False)
    lr.spines["right"].set_visible(True)
    cx.legend(loc="center left", fontsize=7.5)
    for axis in (ax, zx, bx, cx):
        axis.title.set_fontsize(9)
    fig.suptitle(f"bilinear label-noise toy: D = {c['half_dim']}, sigma = {c['sigma']:g}, K = {c['K']}, "
                 f"B_loc = {c['local_batch']} (SGD's B = {s.batch}), H_base = {c['h_base']}, {c['kind']} "
                 rf"$\eta$ {c['peak']:g} to {c['final']:g} over {c['steps']:,} steps, seed {c['seed']}", fontsize=9.5)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------------
# drift: the factor law at constant learning rates
# ---------------------------------------------------------------------------------------------------------


def _finite(*cols):
    """The rows where every column is finite, as arrays."""
    cols = [np.asarray(col, dtype=float) for col in cols]
    keep = np.all([np.isfinite(col) for col in cols], axis=0)
    return [col[keep] for col in cols]


def fig_drift(res: Result) -> "plt.Figure":
    """Left: the measured drift factor (a rule's sharpness drop over SGD's at the same eta; 95 % delta-method
    interval) against eta for H = beta/eta and QSR, the slow flow's factor along the run (open markers, dashed) and
    its value at lambda0 (dotted), with the levels 1, the small-eta factor of H = beta/eta and K. Right: the measured
    drop over the slow flow's predicted drop per rule (95 % interval) against eta, with the discrete iteration's
    variance correction 2 / (2 - eta lambda0). Eta decreases to the right; H of each run is written at its point."""
    s, c = res.summary, res.config
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.3))
    etas = np.array([e.eta for e in s.by_eta])
    drawn = False
    for name in ("inverse_lr", "qsr"):
        rules = [e.rules[name] for e in s.by_eta]
        color = RULE_COLORS[name]
        x, f, lo, hi = _finite(etas, [r.factor_measured for r in rules], [r.factor_low for r in rules],
                               [r.factor_high for r in rules])
        if x.size:
            drawn = True
            _errorbar(ax, f"factor/{name}", x, f, yerr=[f - lo, hi - f], fmt="o", color=color, ms=6, capsize=3,
                      label=f"{RULE_TITLES[name]}, measured")
        x_p, fp = _finite(etas, [r.factor_predicted for r in rules])
        ax.plot(x_p, fp, "s--", mfc="none", color=color, ms=7, lw=1.0, gid=f"factor_flow/{name}",
                label=f"{RULE_TITLES[name]}, slow flow")
        x_0, f0 = _finite(etas, [r.factor_at_lam0 for r in rules])
        ax.plot(x_0, f0, ":", color=color, lw=1.0, gid=f"factor_lam0/{name}")
        for eta, r in zip(etas, rules):
            y = r.factor_measured if math.isfinite(r.factor_measured) else r.factor_predicted
            if math.isfinite(y):
                ax.annotate(f"H={r.h}", (eta, y), textcoords="offset points",
                            xytext=(6, 5) if name == "qsr" else (6, -11), fontsize=7, color=color)
    ax.axhline(1.0, color=RULE_COLORS["sgd"], lw=0.9, gid="level/sgd", label="1: SGD (H = 1)")
    ax.axhline(s.factor_limit_inverse_lr, color=RULE_COLORS["inverse_lr"], ls="-.", lw=0.9, gid="level/inverse_lr",
               label=rf"1+(K-1)$\psi(2\beta\lambda_0)$ = {s.factor_limit_inverse_lr:.2f}: H = $\beta/\eta$ as "
                     r"$\eta \to 0$")
    ax.axhline(s.factor_limit_qsr, color=RULE_COLORS["qsr"], ls="-.", lw=0.9, gid="level/qsr",
               label=rf"K = {s.factor_limit_qsr:g}: QSR as $\eta \to 0$")
    ax.plot([], [], ":", color="k", lw=1.0, label=r"slow flow's factor at $\lambda_0$ (dotted)")
    if not drawn:
        no_data(ax, "no measured factor: SGD's drop is at rounding level")
    ax.set(xscale="log", xlabel=r"learning rate $\eta$ (decreasing to the right)",
           ylabel="drift factor: drop of the rule / drop of SGD",
           title=rf"drift factor, $\beta$ = {c['beta']:g}, QSR $\alpha$ = {c['alpha']:g}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=7)

    drawn = False
    for k, name in enumerate(("sgd", "inverse_lr", "qsr")):
        rules = [e.rules[name] for e in s.by_eta]
        pred = np.array([r.predicted_drop for r in rules])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(pred > 0, np.array([r.drop.mean for r in rules]) / pred, np.nan)
            low = np.where(pred > 0, np.array([r.drop.low for r in rules]) / pred, np.nan)
            high = np.where(pred > 0, np.array([r.drop.high for r in rules]) / pred, np.nan)
        x, y, lo, hi = _finite(etas * 1.04 ** (k - 1), ratio, low, high)  # a small x shift keeps the points apart
        if x.size:
            drawn = True
            _errorbar(bx, f"ratio/{name}", x, y, yerr=[y - lo, hi - y], fmt="o", color=RULE_COLORS[name], ms=5,
                      capsize=3, label=RULE_TITLES[name])
    grid = np.geomspace(etas.min(), etas.max(), 50) if etas.size else np.array([])
    bx.plot(grid, 2.0 / (2.0 - grid * c["lam0"]), "--", color="k", lw=1.0, gid="variance_correction",
            label=r"$2/(2-\eta\lambda_0)$: discrete / slow-flow variance")
    bx.axhline(1.0, color="0.6", lw=0.8)
    if not drawn:
        no_data(bx, "no predicted drop (lam0 = 2 or sigma = 0)")
    bx.set(xscale="log", xlabel=r"learning rate $\eta$ (decreasing to the right)",
           ylabel="measured drop / slow-flow drop",
           title=f"drop against the slow flow; worst |ratio - 1| {s.worst_ratio_error:.3f}, "
                 f"corrected {s.worst_corrected_error:.3f}")
    bx.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=7)
    for axis in (ax, bx):
        if etas.size:
            axis.set_xlim(etas.max() * 1.35, etas.min() / 1.35)
            axis.set_xticks(etas, [f"{e:g}" for e in etas])
            axis.minorticks_off()
        axis.title.set_fontsize(9)
    fig.suptitle(f"bilinear label-noise toy at constant $\\eta$: D = {c['half_dim']}, sigma = {c['sigma']:g}, "
                 f"$\\lambda_0$ = {c['lam0']:g}, K = {c['K']}, B_loc = {c['local_batch']}, slow time "
                 f"T = {s.slow_time:g} per run, {c['n_paths']} paths, seed {c['seed']}", fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------------
# torch: K processes on the digits
# ---------------------------------------------------------------------------------------------------------


TORCH_MARKERS = {"data_parallel": "o", "constant": "s", "inverse_lr": "^", "qsr": "D"}


def predicted_split(res: Result, name: str) -> tuple[float, float]:
    """The communication model's (compute, communication) seconds of a rule: steps x t_compute, rounds x t_comm."""
    s = res.summary
    return res.config["steps"] * s.t_compute, s.rules[name].rounds * s.t_comm


def fig_torch(res: Result) -> "plt.Figure":
    """Left: test accuracy of the averaged model against steps per rule. Middle: final test accuracy (with one
    binomial standard error over the test points) against the all-reduce count (log x), the legend giving each
    rule's measured and predicted wall time; an inset zooms on the evaluations after step 0. Right: wall time per
    rule, measured (training loop: compute, then time inside all-reduce, hatched) beside predicted
    (steps x t_compute + rounds x t_comm, lighter)."""
    s, a, c = res.summary, res.arrays, res.config
    names = [n for n in ("data_parallel", "constant", "inverse_lr", "qsr") if n in s.rules]
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14.5, 4.3), gridspec_kw={"width_ratios": [1.1, 1.1, 1.0]})
    zoom = ax.inset_axes([0.45, 0.42, 0.5, 0.33])  # the evaluations after step 0, where the rules part if at all
    for name in names:
        r, color = s.rules[name], RULE_COLORS[name]
        ax.plot(a[f"eval_step_{name}"], a[f"test_acc_{name}"], "-", marker=TORCH_MARKERS[name], ms=5, mfc="none",
                color=color, lw=1.2, alpha=0.85, gid=f"acc/{name}",
                label=f"{RULE_TITLES[name]}: {r.test_acc:.3f}, {r.rounds:,} rounds")
        se = math.sqrt(max(r.test_acc * (1.0 - r.test_acc), 0.0) / s.n_test)
        _errorbar(bx, f"final/{name}", [r.rounds], [r.test_acc], yerr=[se], fmt=TORCH_MARKERS[name], color=color,
                  ms=7, capsize=3, label=f"{RULE_TITLES[name]}: {r.wall_s:.2f} s (pred. {r.predicted_s:.2f} s)")
        steps, acc = a[f"eval_step_{name}"], a[f"test_acc_{name}"]
        zoom.plot(steps[1:], acc[1:], "-", marker=TORCH_MARKERS[name], ms=4, mfc="none", color=color, lw=1.0,
                  alpha=0.85)
    ax.axhline(s.chance, color="0.6", ls=":", lw=0.9, label=f"most frequent class {s.chance:.1%}")
    ax.set(xlabel="step", ylabel="test accuracy (averaged model)",
           title=f"test accuracy ({s.n_test} test points); legend: final, rounds")
    ax.legend(loc="lower right", fontsize=7)
    bx.set_xscale("log")
    lo, hi = bx.get_xlim()
    bx.set_xlim(lo / 1.6, hi * 1.6)
    counts = sorted({s.rules[n].rounds for n in names})
    bx.set_xticks(counts, [f"{k:,}" for k in counts], fontsize=7.5)  # the rules' own counts, not decades
    bx.minorticks_off()
    lo, hi = bx.get_ylim()
    bx.set_ylim(lo - 0.45 * (hi - lo), hi)  # room for the legend below the points
    bx.set(xlabel="all-reduces (communication rounds)", ylabel="final test accuracy (+- 1 binomial s.e.)",
           title="accuracy against communication; legend: measured (predicted) wall time")
    bx.legend(loc="lower center", fontsize=7)
    zoom.tick_params(labelsize=6.5)
    zoom.set_title("after step 0", fontsize=7)
    x = np.arange(len(names))
    w = 0.38
    for i, name in enumerate(names):
        r, color = s.rules[name], RULE_COLORS[name]
        cx.bar(x[i] - w / 2, r.compute_s, w, color=color, gid=f"measured_compute/{name}")
        cx.bar(x[i] - w / 2, r.comm_s, w, bottom=r.compute_s, color=color, hatch="///", edgecolor="white", lw=0,
               gid=f"measured_comm/{name}")
        p_comp, p_comm = predicted_split(res, name)
        cx.bar(x[i] + w / 2, p_comp, w, color=color, alpha=0.4, gid=f"predicted_compute/{name}")
        cx.bar(x[i] + w / 2, p_comm, w, bottom=p_comp, color=color, alpha=0.4, hatch="///", edgecolor="white", lw=0,
               gid=f"predicted_comm/{name}")
        cx.annotate(f"x{r.measured_over_predicted:.2f}", (x[i], max(r.wall_s, r.predicted_s)),
                    textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    cx.legend(handles=[Patch(color="0.35", label="measured (left bar)"),
                       Patch(color="0.35", alpha=0.4, label="predicted (right bar)"),
                       Patch(facecolor="0.35", hatch="///", edgecolor="white", label="communication (hatched)")],
              loc="upper right", fontsize=7)
    cx.set_xticks(x, [RULE_TITLES[n] for n in names], fontsize=7.5)
    top = max(max(s.rules[n].wall_s, s.rules[n].predicted_s) for n in names) if names else 1.0
    cx.set_ylim(0, top * 1.3)
    cx.set(ylabel="wall time of the training loop (s)",
           title=f"measured / predicted wall time; t_compute {s.t_compute * 1e3:.2f} ms, "
                 f"t_comm {s.t_comm * 1e3:.2f} ms")
    for axis in (ax, bx, cx):
        axis.title.set_fontsize(9)
    fig.suptitle(f"{s.dataset}: MLP width {c['width']} ({s.n_params:,} parameters), {c['optimizer']}, K = {c['K']} "
                 f"processes ({s.backend}), B_loc = {c['local_batch']}, {c['steps']:,} steps, cosine peak "
                 f"{c['lr']:g}, H_base = {c['h_base']}, QSR $\\alpha$ = {c['alpha']:g}, "
                 f"1/$\\eta$ $\\alpha_1$ = {c['alpha_power1']:g}, seed {c['seed']}", fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------------------


_DRAW = {"schedule": ("qsr_schedule.png", fig_schedule), "toy": ("qsr_toy.png", fig_toy),
         "drift": ("qsr_drift.png", fig_drift), "torch": ("qsr_torch.png", fig_torch)}
_CAPTIONS = {
    "qsr_schedule.png": "The paper's ViT-B Local AdamW recipe replayed (official adjust_h): learning rate and the H "
                        "of every round against steps for constant H = 4, H ~ 1/eta and QSR at three alphas, with "
                        "each rule's communication rounds (Sec. 2; the last round of a rule is cut to the steps "
                        "left).",
    "qsr_toy.png": "Bilinear label-noise toy under a cosine learning rate: sharpness against steps for SGD, constant "
                   "H, H ~ 1/eta and QSR (path mean, 10-90% band, slow flow dashed), the same against cumulative "
                   "communication rounds, and each rule's H (Sec. 3 [ours on a toy]).",
    "qsr_drift.png": "Drift-factor law at constant learning rates on the toy: measured factor (95% interval) of "
                     "H ~ 1/eta and QSR over SGD against eta beside the slow flow's, with the limits 1, "
                     "1 + (K-1) psi(2 beta lambda0) and K; measured over predicted drop with the finite-eta "
                     "variance correction (Sec. 3).",
    "qsr_torch.png": "K real processes on the digits: test accuracy against steps per rule, final accuracy against "
                     "all-reduce count with measured (predicted) wall time, and the wall time per rule measured "
                     "beside the communication model's prediction, compute and communication parts (Sec. 4).",
}


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure of one experiment's result, written under out_dir; none for an experiment of sims.qsr that has
    no figure here, a ValueError for a name that is not a qsr experiment."""
    if experiment not in _DRAW:
        if experiment in BY_NAME:
            return []
        raise ValueError(f"unknown qsr experiment {experiment!r}.")
    name, fn = _DRAW[experiment]
    return [save(fn(res), Path(out_dir) / name)]


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every qsr experiment that has a figure at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed, names=_DRAW)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
