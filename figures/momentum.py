"""Figures of the momentum paper (Wang, Malladi, Wang, Lyu, Li, ICLR 2024): iterate moments and laws of SGD,
SGDM and their SDE over time (Thm 3.5), the weak error against eta on log-log axes with its fitted slope,
the slow drift along a manifold of minima (Thm 4.5), and test-accuracy curves of a real training run (Sec. 5).
SGDM always runs in the standard form with lr = eta (1 - beta) and SGD at the effective learning rate eta.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.engine.curves import fit_line
from sims.momentum import BY_NAME
from sims.momentum.torch_run import N_CLASSES

from .runner import draw_experiments
from .style import colors, plt, save

SGD_C, SGDM_C, SDE_C = "#1f77b4", "#d62728", "#2ca02c"


def fig_quadratic(res: Result, title: str = "") -> "plt.Figure":
    """Per-coordinate mean and variance over time (SGD dashed, SGDM solid, SDE dotted, exact thin black),
    and the law of x_T on the sharpest coordinate."""
    a, c, s = res.arrays, res.config, res.summary
    lam = np.asarray(c["sharpness"])
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(13.5, 3.8))
    cs = colors(lam.size)
    for i, col in enumerate(cs):
        for axis, key in ((ax, "mean"), (bx, "var")):
            axis.plot(a["exact_time"], a[f"exact_sgd_{key}"][:, i], color="k", lw=0.6, alpha=0.6)
            axis.plot(a["exact_time"], a[f"ou_{key}"][:, i], color="grey", lw=0.6, ls=":")
            axis.plot(a["time"], a[f"sgd_{key}"][:, i], color=col, ls="--", lw=1.2)
            axis.plot(a["time"], a[f"sgdm_{key}"][:, i], color=col, lw=1.2,
                      label=f"λ={lam[i]:g}" if axis is ax else None)
            axis.plot(a["sde_time"], a[f"sde_{key}"][:, i], color=col, ls=":", lw=2.0, alpha=0.7)
    for axis, name in ((ax, "mean of x_i"), (bx, "variance of x_i")):
        axis.set(xlabel="t = k η", ylabel=name)
    ax.plot([], [], "k--", lw=1.2, label="SGD(η)")
    ax.plot([], [], "k-", lw=1.2, label="SGDM(η(1-β), β)")
    ax.plot([], [], "k:", lw=2.0, label="SDE (engine)")
    ax.plot([], [], color="k", lw=0.6, alpha=0.6, label="exact SGD moments")
    ax.legend(fontsize=7)
    eta, beta = c["eff_lr"], c["beta"]
    head = title or "Noisy quadratic"
    ax.set_title(f"{head}: η={eta:.3g}, β={beta}, ηλmax/(1-β)={s.curvature_ratio:.2g}")
    bx.set_title("variance; grey dotted: OU (SDE) closed form")
    i = int(np.argmax(lam))
    samples = [a["final_sgd"][:, i], a["final_sgdm"][:, i], a["final_sde"][:, i]]
    finite = np.concatenate([x[np.isfinite(x)] for x in samples])
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (-1.0, 1.0)
    bins = np.linspace(lo, hi, 60)
    for x, col, name in zip(samples, (SGD_C, SGDM_C, SDE_C), ("SGD(η)", "SGDM", "SDE")):
        cx.hist(x[np.isfinite(x)], bins=bins, density=True, histtype="step", color=col, lw=1.3, label=name)
    mean_ou, var_ou = a["ou_mean"][-1, i], a["ou_var"][-1, i]
    xs = np.linspace(lo, hi, 200)
    cx.plot(xs, np.exp(-(xs - mean_ou) ** 2 / (2 * var_ou)) / np.sqrt(2 * np.pi * var_ou), "k:", lw=1,
            label="OU law at T")
    cx.set(xlabel=f"x_T on the coordinate with λ={lam[i]:g}", ylabel="density",
           title=f"law of x_T (KS(SGDM, SGD) = {s.ks_sgdm_sgd:.3f})")
    cx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_weak_error(res: Result) -> "plt.Figure":
    """|E h(SGDM) - E h(SGD)| against eta (log-log) with 95% Monte-Carlo bars, exact values, fitted slope."""
    a, s, c = res.arrays, res.summary, res.config
    etas, err, se, exact = a["eff_lrs"], np.abs(a["errors"]), a["error_se"], np.abs(a["exact_errors"])
    fig, ax = plt.subplots(figsize=(5.4, 4.0))
    lower = np.clip(err - 1.96 * se, err * 1e-3, None)
    ax.errorbar(etas, err, yerr=[err - lower, 1.96 * se], fmt="o", color=SGDM_C, capsize=3,
                label="measured (CRN, 95% MC interval)")
    ax.plot(etas, exact, "k-", lw=0.9, label=f"exact on this quadratic (slope {s.exact_fit.slope:.2f})")
    if "sgd_vs_sde" in a:
        for key, col, mk, name, to_sde in (("sgd", SGD_C, "s", "SGD", s.sgd_sde_fit),
                                           ("sgdm", SGDM_C, "^", "SGDM", s.sgdm_sde_fit)):
            e = np.abs(a[f"{key}_vs_sde"])
            ax.plot(etas, e, mk, color=col, mfc="none", ms=6,
                    label=f"|E h({name}) − E h(SDE)|: slope {to_sde.slope:.2f}")
    order = s.error_fit
    if np.isfinite(order.slope):
        fit = fit_line(np.log(etas), np.log(err))
        ax.plot(etas, np.exp(fit.intercept) * etas ** fit.slope, "--", color=SGDM_C,
                label=f"fit: slope {order.slope:.2f} [{order.low:.2f}, {order.high:.2f}]")
    if np.isfinite(s.paper_order):
        ref = err[0] * (etas / etas[0]) ** s.paper_order
        ax.plot(etas, ref, ":", color="grey", label=f"Thm 3.5 bound order (1-α)/2 = {s.paper_order:.2g}")
    ax.set(xscale="log", yscale="log", xlabel="effective learning rate η", ylabel="|E h(SGDM) − E h(SGD)|",
           title=f"Weak error, h = x², T = {c['t_max']:g}, 1−β = {c['c']:g} η^{c['alpha']:g}")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())  # minor labels collide on a short log axis
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_slow(res: Result, title: str = "") -> "plt.Figure":
    """Manifold sharpness over slow time t = k eta^2 for SGD and SGDM."""
    a, c, s = res.arrays, res.config, res.summary
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    t = a["time"]
    later = t > 0
    for key, col, name in (("sgd", SGD_C, "SGD(η)"), ("sgdm", SGDM_C, "SGDM(η(1-β), β)")):
        ax.plot(t, a[f"sharpness_{key}"], color=col, label=name)
        bx.plot(t[later], a[f"loss_{key}"][later], color=col, label=name)
    if "sharpness_slow" in a:
        ax.plot(a["slow_time"], a["sharpness_slow"], color=SDE_C, ls=":", lw=2.0, label="slow SDE (engine)")
        ax.plot(a["slow_time"], a["sharpness_closed_form"], color="k", lw=0.6, label="closed form")
    ax.axhline(2.0, color="grey", ls=":", lw=0.8)
    ax.axvline(c["t_measure"], color="grey", ls="--", lw=0.8)
    ax.set(xlabel="slow time t = k η²", ylabel="sharpness of Φ(θ)",
           title=f"{title or 'Drift along the minima'}: η={c['eff_lr']:g}, β={c['beta']}, "
                 f"ratio of drops {s.drift_ratio:.3f}")
    bx.set(xlabel="slow time t = k η²", ylabel="mean loss", title="loss after the first record (near the manifold)")
    ax.legend()
    fig.tight_layout()
    return fig


def fig_torch(res: Result, title: str = "") -> "plt.Figure":
    """Test accuracy (solid) and train accuracy (dashed) over steps, mean and min-max band over seeds."""
    a, c, s = res.arrays, res.config, res.summary
    S = c["n_seeds"]
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    step = a["step"]
    for sl, col, name in ((slice(0, S), SGD_C, f"SGD lr={c['eff_lr']:g}"),
                          (slice(S, 2 * S), SGDM_C, f"SGDM lr={s.sgdm_lr:g}, β={c['beta']}")):
        te = a["test_acc"][:, sl]
        ax.plot(step, te.mean(1), color=col, label=f"{name} (test)")
        ax.fill_between(step, te.min(1), te.max(1), color=col, alpha=0.2)
        ax.plot(step, a["train_acc"][:, sl].mean(1), color=col, ls="--", lw=0.9)
    ax.axhline(1.0 / N_CLASSES, color="grey", ls=":", lw=0.8)
    ax.plot([], [], "k--", lw=0.9, label="train (dashed); band: min-max over seeds")
    ax.set(xlabel="step", ylabel="accuracy", ylim=(0, 1),
           title=f"{title or 'MLP, ' + c['data']}: Δtest acc {s.acc_diff_mean:+.3f} "
                 f"[{s.acc_diff_low:+.3f}, {s.acc_diff_high:+.3f}]")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure(s) of one experiment's result, written under out_dir."""
    out_dir = Path(out_dir)
    if experiment == "quadratic":
        return [save(fig_quadratic(res), out_dir / f"quadratic_eta{res.config['eff_lr']:.3g}.png")]
    if experiment == "weak_error":
        return [save(fig_weak_error(res), out_dir / f"weak_error_alpha{res.config['alpha']:g}.png")]
    if experiment == "slow":
        return [save(fig_slow(res), out_dir / f"slow_eta{res.config['eff_lr']:g}.png")]
    if experiment == "torch":
        return [save(fig_torch(res), out_dir / f"torch_lr{res.config['eff_lr']:g}_beta{res.config['beta']:.4g}.png")]
    raise ValueError(f"unknown momentum experiment {experiment!r}.")


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every momentum experiment at `preset`, plus the large-lr quadratic control and
    the torch control (momentum memory as long as the run), and draw all figures."""
    paths = draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)
    quad = BY_NAME["quadratic"]
    paths += draw_result("quadratic", quad.cached(quad.config(preset, seed=seed, eff_lr=0.4), root=cache), out_dir)
    torch_exp = BY_NAME["torch"]
    steps = torch_exp.presets[preset].steps
    control = torch_exp.config(preset, seed=seed, beta=1.0 - 1.0 / steps)   # the claim's control: memory = run
    paths += draw_result("torch", torch_exp.cached(control, root=cache), out_dir)
    return paths


def _caption(path: Path) -> str:
    n = path.stem
    if n.startswith("quadratic"):
        return (f"Noisy quadratic ({n}): per-coordinate mean and variance of SGD(η), SGDM(η(1−β), β) and the SDE "
                "over t = kη, and the law of x_T (Thm 3.5); at η = 0.4 (ηλ/(1−β) = 8) they separate.")
    if n.startswith("weak_error"):
        return "Weak error |E h(SGDM) − E h(SGD)| against η on log-log axes with the fitted slope (Thm 3.5)."
    if n.startswith("slow"):
        return "Sharpness of the projected iterate along the manifold of minima over t = kη² (Thm 4.5)."
    return (f"Torch run ({n}): test/train accuracy of SGD(η) and SGDM(η(1−β), β) over seeds; equal at small η "
            "with β = 0.9, different when momentum's memory 1/(1−β) is as long as the run (β = 1 − 1/steps), "
            "where both still train stably.")


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    paths = make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0])
    return [(_caption(p), p) for p in paths]
