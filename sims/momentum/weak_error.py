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

from sims.engine import Experiment, Result, Summary, rng, validate
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


@dataclass(frozen=True)
class WeakErrorPoint(Summary):
    """One effective learning rate of the sweep, h(x) = mean_i x_i^2 at time T; the errors are signed and paired
    (common random numbers), each with its Monte-Carlo standard error (counting antithetic pairs as one sample).

    eff_lr: eta; beta: the momentum 1 - c eta^alpha used at this eta;
    error: E h(SGDM) - E h(SGD), measured; error_se: its standard error;
    exact_error: the same difference from the exact moments (theory.momentum.quadratic_weak_error);
    sgd_vs_sde: E h(SGD) - E h(X), X the SDE integrated by the engine on the same Brownian paths;
    sgd_vs_sde_se: its standard error; sgdm_vs_sde: E h(SGDM) - E h(X); sgdm_vs_sde_se: its standard error."""

    eff_lr: float
    beta: float
    error: float
    error_se: float
    exact_error: float
    sgd_vs_sde: float
    sgd_vs_sde_se: float
    sgdm_vs_sde: float
    sgdm_vs_sde_se: float


@dataclass(frozen=True)
class OrderFit(Summary):
    """Least-squares fit of log|error| against log eta over every eta of the sweep: the measured weak order.

    slope: the order (NaN when an error is exactly zero or not finite); low: the lower end of its 95% Student-t
    interval; high: the upper end; intercept: the fitted log|error| at eta = 1 (NaN with the slope)."""

    slope: float
    low: float
    high: float
    intercept: float


@dataclass(frozen=True)
class WeakErrorSummary(Summary):
    """The weak error between SGDM(eta, beta) and SGD(eta) and against their SDE, over a sweep of eta (paper
    Thm 3.5, Def. 3.1).

    points: one WeakErrorPoint per eta, in the config's order;
    error_fit: order of |E h(SGDM) - E h(SGD)| (the measured `error`s);
    exact_fit: order of the exact errors; sgd_sde_fit: order of |E h(SGD) - E h(X)|;
    sgdm_sde_fit: order of |E h(SGDM) - E h(X)|;
    ou_mean_square: E h(X_T) of the SDE in closed form (Ornstein-Uhlenbeck), the same for every eta;
    curvature_ratio_max: max over the sweep of eta * lambda_max / (1 - beta);
    paper_order: Thm 3.5's bound on the order, (1 - alpha) / 2 (NaN for alpha >= 1, outside the theorem);
    quadratic_order: the exact order on a quadratic, 1 - alpha (ours)."""

    points: tuple[WeakErrorPoint, ...]
    error_fit: OrderFit
    exact_fit: OrderFit
    sgd_sde_fit: OrderFit
    sgdm_sde_fit: OrderFit
    ou_mean_square: float
    curvature_ratio_max: float
    paper_order: float
    quadratic_order: float


def _paired_error(diff: np.ndarray, antithetic: bool) -> tuple[float, float]:
    """Mean and standard error of per-path differences; with antithetic noise each mirrored pair is one sample."""
    if antithetic:
        diff = 0.5 * (diff[:diff.size // 2] + diff[diff.size // 2:])
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size))


def _point(cfg: WeakErrorConfig, lam: np.ndarray, i: int, eta: float) -> WeakErrorPoint:
    """SGD(eta), SGDM(eta (1 - beta), beta) and the SDE on common noise at the sweep's i-th eta."""
    d = lam.size
    beta = float(theory.beta_for_scaling(eta, cfg.alpha, cfg.c))
    k = theory.steps_for_time(eta, cfg.t_max)
    sigma = float(np.sqrt(theory.sigma2_for_temperature(eta, cfg.temperature)))
    x0 = np.full((cfg.n_paths, d), float(cfg.x0))
    sde = CoupledBrownian(x0, eta, k, cfg.sde_substeps, 64, rng(cfg.seed, "weak_error", i), lambda x: -lam * x,
                          np.full(d, np.sqrt(cfg.temperature)), mean_square, antithetic=cfg.antithetic)
    run = paired_runs(quadratic_grad(lam, sigma), d, x0, eta, beta, k, rng(cfg.seed, "weak_error", i), k,
                      mean_square, desc=f"momentum.weak_error eta={eta:.3g}", noise=sde, antithetic=cfg.antithetic)
    # each method against the SDE integrated by the engine on the same Brownian paths (paired errors)
    hs, hm, hx = (mean_square(v)[:, 0] for v in (run.x_sgd, run.x_sgdm, sde.x))
    sgd_err, sgd_se = _paired_error(hs - hx, cfg.antithetic)
    sgdm_err, sgdm_se = _paired_error(hm - hx, cfg.antithetic)
    return WeakErrorPoint(eff_lr=float(eta), beta=beta, error=float(run.diff_mean[-1, 0]),
                          error_se=float(run.diff_se[-1, 0]),
                          exact_error=float(theory.quadratic_weak_error(lam, eta, beta, cfg.temperature,
                                                                        np.full(d, cfg.x0), cfg.t_max)),
                          sgd_vs_sde=sgd_err, sgd_vs_sde_se=sgd_se, sgdm_vs_sde=sgdm_err, sgdm_vs_sde_se=sgdm_se)


def run_weak_error(cfg: WeakErrorConfig) -> Result:
    lam = np.asarray(cfg.sharpness, dtype=float)
    ou_mean, ou_var = theory.ou_moments(lam, cfg.x0, cfg.temperature, cfg.t_max)
    h_ou = float(np.mean(np.asarray(ou_mean) ** 2 + ou_var))
    points = tuple(_point(cfg, lam, i, eta) for i, eta in enumerate(cfg.eff_lrs))
    etas = np.asarray(cfg.eff_lrs, dtype=float)
    arrays = {name: np.array([getattr(p, field) for p in points], dtype=float) for name, field in (
        ("eff_lrs", "eff_lr"), ("errors", "error"), ("error_se", "error_se"), ("exact_errors", "exact_error"),
        ("sgd_vs_sde", "sgd_vs_sde"), ("sgd_vs_sde_se", "sgd_vs_sde_se"), ("sgdm_vs_sde", "sgdm_vs_sde"),
        ("sgdm_vs_sde_se", "sgdm_vs_sde_se"))}
    betas = np.array([p.beta for p in points])
    summary = WeakErrorSummary(
        points=points, error_fit=_order(etas, arrays["errors"]), exact_fit=_order(etas, arrays["exact_errors"]),
        sgd_sde_fit=_order(etas, arrays["sgd_vs_sde"]), sgdm_sde_fit=_order(etas, arrays["sgdm_vs_sde"]),
        ou_mean_square=h_ou, curvature_ratio_max=float(np.max(theory.curvature_ratio(etas, betas, lam.max()))),
        paper_order=float(theory.paper_weak_order(cfg.alpha)) if cfg.alpha < 1 else float("nan"),
        quadratic_order=float(theory.quadratic_weak_order(cfg.alpha)))
    return Result("momentum.weak_error", config_dict(cfg), summary, arrays)


def _order(etas: np.ndarray, errs: np.ndarray) -> OrderFit:
    """Least-squares slope of log|error| against log eta over every eta (all NaN when an error is exactly zero or
    not finite)."""
    fit = fit_loglog(etas, np.abs(errs), min_points=len(errs))
    return OrderFit(slope=float(fit.slope), low=float(fit.slope_low), high=float(fit.slope_high),
                    intercept=float(fit.intercept))


def summarize_weak_error(res: Result) -> str:
    s, c = res.summary, res.config
    lines = [f"Weak error of SGDM(eta, beta) vs SGD(eta) on a noisy quadratic (Thm 3.5): 1 - beta = "
             f"{c['c']:g} eta^{c['alpha']:g}, h(x) = mean x_i^2 at T = {c['t_max']:g}, {c['n_paths']} paths, "
             f"seed {c['seed']}",
             f"{'eta':>9} {'beta':>7} {'E h SGDM - E h SGD':>19} {'MC s.e.':>9} {'exact':>10} "
             f"{'SGD - SDE':>10} {'SGDM - SDE':>10}"]
    for p in s.points:
        lines.append(f"{p.eff_lr:>9.4g} {p.beta:>7.4f} {p.error:>19.3e} {p.error_se:>9.2e} "
                     f"{p.exact_error:>10.3e} {p.sgd_vs_sde:>10.3e} {p.sgdm_vs_sde:>10.3e}")
    err, sgd, sgdm = s.error_fit, s.sgd_sde_fit, s.sgdm_sde_fit
    lines.append(f"measured order (slope of log|error| vs log eta): {err.slope:.3f} "
                 f"[{err.low:.3f}, {err.high:.3f}]; exact on this toy {s.exact_fit.slope:.3f}")
    lines.append(f"against the SDE (engine, same Brownian paths, Euler step eta/{c['sde_substeps']}): order of SGD "
                 f"{sgd.slope:.3f} [{sgd.low:.3f}, {sgd.high:.3f}], of SGDM "
                 f"{sgdm.slope:.3f} [{sgdm.low:.3f}, {sgdm.high:.3f}]")
    lines.append(f"theory: Thm 3.5 bound (1-alpha)/2 = {s.paper_order:.3g}; exact order on a quadratic "
                 f"(ours) 1-alpha = {s.quadratic_order:.3g}; max eta*lambda/(1-beta) = "
                 f"{s.curvature_ratio_max:.3g}")
    return "\n".join(lines)


WEAK_ERROR = Experiment(paper="momentum", name="weak_error",
                        description="|E h(SGDM) - E h(SGD)| against eta with common random numbers (Thm 3.5)",
                        config_cls=WeakErrorConfig, presets={"quick": QUICK, "paper": PAPER},
                        run=run_weak_error, summarize=summarize_weak_error, summary=WeakErrorSummary)
