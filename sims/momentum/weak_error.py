"""Weak-approximation error between SGDM(eta, beta) and SGD(eta) against eta (paper Thm 3.5, Def. 3.1).

For each effective learning rate eta in a sweep, SGD(eta) and standard-form SGDM(eta (1 - beta), beta) with
1 - beta = c eta^alpha run T/eta steps on the noisy quadratic L = sum_i lambda_i x_i^2 / 2 with gradient noise
sigma^2 = s / eta (the noise-dominated scaling), sharing their noise draws (common random numbers). The
measured weak error |E h(x_SGDM) - E h(x_SGD)| for h(x) = mean_i x_i^2 at time T has a Monte-Carlo interval;
its log-log slope against eta is the measured order. Thm 3.5 bounds it by O(eta^{(1-alpha)/2}); on this toy
the exact order is 1 - alpha (theory.momentum.quadratic_weak_order), and the exact errors are computed too.
For alpha >= 1 (momentum memory as long as the gradient time scale) the error does not shrink.
The SDE dX = -lambda X dt + sqrt(s) dW is integrated by the engine on the same Brownian paths that make the
gradient noise, so the weak errors of SGD and of SGDM against it are measured paired as well.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import fit_loglog
from theory import momentum as theory

from .discrete import CoupledBrownian, mean_square, paired_runs, quadratic_grad


@dataclass(frozen=True)
class WeakErrorConfig:
    """eff_lrs: effective learning rates eta swept (SGD's lr; SGDM's lr is eta (1 - beta));
    alpha, c: momentum scaling 1 - beta = c eta^alpha (alpha = 0: fixed beta = 1 - c);
    sharpness: Hessian eigenvalues lambda_i; x0: initial value of every coordinate;
    temperature: s = eta sigma^2, the SDE's diffusion (kept fixed across eta); t_max: horizon T = k eta;
    n_paths: Monte-Carlo paths per eta (one batched array); sde_substeps: engine Euler steps per discrete step
    for the SDE, driven by the same Brownian path as the discrete runs' gradient noise; antithetic: half the
    paths driven by the negated noise of the other half (variance reduction; standard errors count pairs)."""

    eff_lrs: tuple[float, ...] = (1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256)
    alpha: float = 0.0
    c: float = 0.5
    sharpness: tuple[float, ...] = (1.0,)
    x0: float = 2.5
    temperature: float = 1.0
    t_max: float = 2.0
    n_paths: int = 60_000
    sde_substeps: int = 2
    antithetic: bool = False
    seed: int = 0

    def validate(self) -> None:
        validate.each(validate.positive, "eff_lrs", self.eff_lrs)
        if len(self.eff_lrs) < 3:
            raise validate.ConfigError("eff_lrs needs at least three learning rates for a slope with an interval.")
        validate.non_negative("alpha", self.alpha)
        validate.positive("c", self.c)
        if any(self.c * eta ** self.alpha > 1.0 for eta in self.eff_lrs):
            raise validate.ConfigError("c must satisfy c * eff_lr^alpha <= 1 for every eff_lr (so beta >= 0).")
        validate.each(validate.positive, "sharpness", self.sharpness)
        validate.positive("temperature", self.temperature)
        validate.positive("t_max", self.t_max)
        validate.positive_int("n_paths", self.n_paths, 4)
        if self.antithetic and self.n_paths % 2:
            raise validate.ConfigError(f"n_paths must be even with antithetic noise; got {self.n_paths}.")
        validate.positive_int("sde_substeps", self.sde_substeps, 1)


QUICK = WeakErrorConfig()
PAPER = WeakErrorConfig(eff_lrs=tuple(2.0 ** -k for k in range(4, 11)), n_paths=400_000)


def run_weak_error(cfg: WeakErrorConfig) -> Result:
    lam = np.asarray(cfg.sharpness, dtype=float)
    d = lam.size
    errs, ses, exact, betas, sgd_err, sgd_se, sgdm_err, sgdm_se = ([] for _ in range(8))
    ou_mean, ou_var = theory.ou_moments(lam, cfg.x0, cfg.temperature, cfg.t_max)
    h_ou = float(np.mean(np.asarray(ou_mean) ** 2 + ou_var))
    for i, eta in enumerate(cfg.eff_lrs):
        beta = float(theory.beta_for_scaling(eta, cfg.alpha, cfg.c))
        k = theory.steps_for_time(eta, cfg.t_max)
        sigma = float(np.sqrt(theory.sigma2_for_temperature(eta, cfg.temperature)))
        x0 = np.full((cfg.n_paths, d), float(cfg.x0))
        sde = CoupledBrownian(x0, eta, k, cfg.sde_substeps, 64, rng(cfg.seed, "weak_error", i), lambda x: -lam * x,
                              np.full(d, np.sqrt(cfg.temperature)), mean_square, antithetic=cfg.antithetic)
        run = paired_runs(quadratic_grad(lam, sigma), d, x0, eta, beta, k, rng(cfg.seed, "weak_error", i), k,
                          mean_square, desc=f"momentum.weak_error eta={eta:.3g}", noise=sde,
                          antithetic=cfg.antithetic)
        errs.append(float(run.diff_mean[-1, 0]))
        ses.append(float(run.diff_se[-1, 0]))
        exact.append(theory.quadratic_weak_error(lam, eta, beta, cfg.temperature, np.full(d, cfg.x0), cfg.t_max))
        betas.append(beta)
        # each method against the SDE integrated by the engine on the same Brownian paths (paired errors)
        hs, hm, hx = (mean_square(v)[:, 0] for v in (run.x_sgd, run.x_sgdm, sde.x))
        for diff, err_l, se_l in ((hs - hx, sgd_err, sgd_se), (hm - hx, sgdm_err, sgdm_se)):
            if cfg.antithetic:
                diff = 0.5 * (diff[:cfg.n_paths // 2] + diff[cfg.n_paths // 2:])
            err_l.append(float(diff.mean()))
            se_l.append(float(diff.std(ddof=1) / np.sqrt(diff.size)))
    etas = np.asarray(cfg.eff_lrs, dtype=float)
    errs_a, exact_a = np.asarray(errs), np.asarray(exact)
    scalars = {
        "eff_lrs": etas.tolist(), "betas": betas, "errors": errs, "error_se": ses, "exact_errors": exact,
        "sgd_vs_sde": sgd_err, "sgd_vs_sde_se": sgd_se, "sgdm_vs_sde": sgdm_err, "sgdm_vs_sde_se": sgdm_se,
        "h_sde": h_ou,
        "curvature_ratio_max": float(np.max(theory.curvature_ratio(etas, np.asarray(betas), lam.max()))),
        "paper_order": float(theory.paper_weak_order(cfg.alpha)) if cfg.alpha < 1 else float("nan"),
        "quadratic_order": float(theory.quadratic_weak_order(cfg.alpha)),
    }
    scalars.update(_slope(etas, errs_a, "slope"))
    scalars.update(_slope(etas, exact_a, "exact_slope"))
    scalars.update(_slope(etas, np.asarray(sgd_err), "sgd_sde_slope"))
    scalars.update(_slope(etas, np.asarray(sgdm_err), "sgdm_sde_slope"))
    arrays = {"eff_lrs": etas, "errors": errs_a, "error_se": np.asarray(ses), "exact_errors": exact_a,
              "sgd_vs_sde": np.asarray(sgd_err), "sgd_vs_sde_se": np.asarray(sgd_se),
              "sgdm_vs_sde": np.asarray(sgdm_err), "sgdm_vs_sde_se": np.asarray(sgdm_se)}
    return Result("momentum.weak_error", config_dict(cfg), scalars, arrays)


def _slope(etas: np.ndarray, errs: np.ndarray, key: str) -> dict:
    """Least-squares slope of log|error| against log eta over every eta (NaN, and no intercept, when an error is
    exactly zero or not finite)."""
    fit = fit_loglog(etas, np.abs(errs), min_points=len(errs))
    out = {key: fit.slope, f"{key}_low": fit.slope_low, f"{key}_high": fit.slope_high}
    if fit.points == len(errs):
        out[f"{key}_intercept"] = fit.intercept
    return out


def summarize_weak_error(res: Result) -> str:
    s, c = res.scalars, res.config
    lines = [f"Weak error of SGDM(eta, beta) vs SGD(eta) on a noisy quadratic (Thm 3.5): 1 - beta = "
             f"{c['c']:g} eta^{c['alpha']:g}, h(x) = mean x_i^2 at T = {c['t_max']:g}, {c['n_paths']} paths, "
             f"seed {c['seed']}",
             f"{'eta':>9} {'beta':>7} {'E h SGDM - E h SGD':>19} {'MC s.e.':>9} {'exact':>10} "
             f"{'SGD - SDE':>10} {'SGDM - SDE':>10}"]
    for i, eta in enumerate(s["eff_lrs"]):
        lines.append(f"{eta:>9.4g} {s['betas'][i]:>7.4f} {s['errors'][i]:>19.3e} {s['error_se'][i]:>9.2e} "
                     f"{s['exact_errors'][i]:>10.3e} {s['sgd_vs_sde'][i]:>10.3e} {s['sgdm_vs_sde'][i]:>10.3e}")
    lines.append(f"measured order (slope of log|error| vs log eta): {s['slope']:.3f} "
                 f"[{s['slope_low']:.3f}, {s['slope_high']:.3f}]; exact on this toy {s['exact_slope']:.3f}")
    lines.append(f"against the SDE (engine, same Brownian paths, Euler step eta/{c['sde_substeps']}): order of SGD "
                 f"{s['sgd_sde_slope']:.3f} [{s['sgd_sde_slope_low']:.3f}, {s['sgd_sde_slope_high']:.3f}], of SGDM "
                 f"{s['sgdm_sde_slope']:.3f} [{s['sgdm_sde_slope_low']:.3f}, {s['sgdm_sde_slope_high']:.3f}]")
    lines.append(f"theory: Thm 3.5 bound (1-alpha)/2 = {s['paper_order']:.3g}; exact order on a quadratic "
                 f"(ours) 1-alpha = {s['quadratic_order']:.3g}; max eta*lambda/(1-beta) = "
                 f"{s['curvature_ratio_max']:.3g}")
    return "\n".join(lines)


WEAK_ERROR = Experiment(paper="momentum", name="weak_error",
                        description="|E h(SGDM) - E h(SGD)| against eta with common random numbers (Thm 3.5)",
                        config_cls=WeakErrorConfig, presets={"quick": QUICK, "paper": PAPER},
                        run=run_weak_error, summarize=summarize_weak_error)
