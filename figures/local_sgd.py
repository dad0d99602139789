"""Figures for "Why (and When) does Local SGD Generalize Better than SGD?" (Gu, Lyu, Huang, Arora; ICLR 2023).

- local_sgd_toy.png: sharpness vs slow time t = eta^2 * steps on the bilinear label-noise toy, discrete SGD and
  Local SGD (mean and 10-90% band over paths) against their slow SDEs; and the predicted drift ratio
  1 + (K-1) psi(2 alpha lambda) as a function of alpha = eta H, with the measured speed-up.
- local_sgd_torch.png: the MLP run: tr Hessian (Gauss-Newton) and test accuracy vs steps, SGD vs Local SGD.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.local_sgd import BY_NAME
from theory import local_sgd as theory

from .runner import captioned, draw_experiments
from .style import plt, save

SGD_C, LOCAL_C = "#1f77b4", "#d62728"


def _band(ax, t, y, color, label):
    ax.plot(t, y.mean(1), color=color, lw=1.6, label=label)
    lo, hi = np.quantile(y, [0.1, 0.9], axis=1)
    ax.fill_between(t, lo, hi, color=color, alpha=0.18, lw=0)


def fig_toy(res: Result) -> "plt.Figure":
    a, s, c = res.arrays, res.summary, res.config
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    _band(ax1, a["t_sgd"], a["sharp_sgd"], SGD_C, f"SGD (B={s.batch}), discrete")
    _band(ax1, a["t_local"], a["sharp_local"], LOCAL_C, f"Local SGD (K={c['K']}, H={c['H']}), discrete")
    ax1.plot(a["t_sde"], a["sde_sgd"].mean(1), "--", color="k", lw=1.0, label="slow SDE (engine)")
    ax1.plot(a["t_sde"], a["sde_local"].mean(1), "--", color="k", lw=1.0)
    ax1.plot(a["t_sgd"], a["ode_sgd"], ":", color="0.5", lw=1.4, label="closed-form flow")
    ax1.plot(a["t_local"], a["ode_local"], ":", color="0.5", lw=1.4)
    ax1.axhline(theory.LAMBDA_MIN, color="0.6", lw=0.8)
    ax1.axhline(c["lam_threshold"], color="0.6", lw=0.6, ls="-.")
    ax1.set_xlabel(r"slow time $t = \eta^2 \times$ steps")
    ax1.set_ylabel(r"sharpness $\lambda(\Phi(\theta))$")
    ax1.set_title(f"label-noise toy, $\\eta$={c['eta']}, $\\alpha=\\eta H$={s.alpha:.2g}")
    ax1.legend(loc="upper right")

    alphas = np.geomspace(0.01, 10, 200)
    for K, ls in ((2, ":"), (4, "-"), (8, "--")):
        ax2.plot(alphas, theory.label_noise_ratio(K, alphas, c["lam_threshold"]), ls, color="k", lw=1.1,
                 label=f"K={K}: 1+(K-1)$\\psi(2\\alpha\\lambda)$, $\\lambda$={c['lam_threshold']:g}")
    ax2.plot([s.alpha], [s.speedup_theory], "o", mfc="none", color="k", ms=8,
             label=f"predicted speed-up {s.speedup_theory:.2f} ($\\lambda$: {c['lam0']:g} to {c['lam_threshold']:g})")
    ax2.plot([s.alpha], [s.speedup], "x", color=LOCAL_C, ms=8, mew=2,
             label=f"measured speed-up {s.speedup:.2f}")
    ax2.set_xscale("log")
    ax2.set_xlabel(r"$\alpha = \eta H$")
    ax2.set_ylabel("Local SGD drift / SGD drift")
    ax2.set_title("predicted regularisation ratio")
    ax2.legend(loc="upper left")
    fig.tight_layout()
    return fig


def fig_torch(res: Result) -> "plt.Figure":
    a, s, c = res.arrays, res.summary, res.config
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    for key, ax, ylabel in (("trace", ax1, "tr Hessian (Gauss-Newton)"), ("test_acc", ax2, "test accuracy")):
        _band(ax, a["step_sgd"], a[f"{key}_sgd"], SGD_C, f"SGD (B={s.batch})")
        _band(ax, a["step_local"], a[f"{key}_local"], LOCAL_C, f"Local SGD (K={c['K']}, H={c['H']})")
        ax.set_xlabel("steps")
        ax.set_ylabel(ylabel)
        ax.legend()
    ax1.set_title(f"MLP width {c['width']}, label noise {c['sigma']}, $\\eta$={c['eta']} ({c['n_seeds']} seeds)")
    ax2.set_title("test accuracy (band: 10-90% over seeds)")
    fig.tight_layout()
    return fig


_DRAW = {"toy": ("local_sgd_toy.png", fig_toy), "torch": ("local_sgd_torch.png", fig_torch)}
_CAPTIONS = {
    "local_sgd_toy.png": "Label-noise toy: sharpness vs slow time, discrete SGD / Local SGD against their slow SDEs "
                         "(left); predicted drift ratio vs alpha = eta H with the measured speed-up (right).",
    "local_sgd_torch.png": "Two-layer MLP with label noise from a common trained start: tr Hessian and test accuracy, "
                           "SGD vs Local SGD at the same learning rate and total batch.",
}


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    if experiment not in _DRAW:
        return []
    name, fn = _DRAW[experiment]
    return [save(fn(res), Path(out_dir) / name)]


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every local_sgd experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
