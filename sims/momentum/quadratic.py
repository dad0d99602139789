"""SGD(eta), SGDM(eta (1 - beta), beta) and their SDE on a noisy quadratic: iterate laws over time.

Paper Thm 3.5 (with the SDE approximation of SGD, Sec. 2): on the clock t = k eta, standard-form SGDM with
learning rate lr = eta (1 - beta) and SGD with learning rate eta both follow
dX = -grad L dt + sqrt(eta sigma^2) dW. Here L = sum_i lambda_i x_i^2 / 2, the gradient noise is additive
N(0, sigma^2 I) with sigma^2 = s / eta, so the SDE is an Ornstein-Uhlenbeck process with closed-form moments.
Many paths of both discrete methods and of the SDE (the engine's batched Euler-Maruyama on a finer grid), all
driven by one Brownian path per sample (common random numbers), give per-coordinate means and variances over time, compared with the exact moments of each
(theory.momentum.sgdm_moments, ou_moments). At a large learning rate (eta lambda comparable to 1 - beta, the
regime the paper excludes) the laws separate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from theory import momentum as theory

from .discrete import CoupledBrownian, first_two_moments, paired_runs, quadratic_grad


@dataclass(frozen=True)
class QuadraticConfig:
    """sharpness: Hessian eigenvalues lambda_i (one coordinate each); x0: start of every coordinate;
    temperature: s = eta sigma^2, the SDE's diffusion; eff_lr: SGD's learning rate eta (SGDM's standard-form
    learning rate is eta (1 - beta)); beta: momentum; t_max: horizon T = k eta; n_paths: paths of each of
    SGD, SGDM and the SDE; n_records: recorded times; sde_substeps: SDE steps per discrete step (at least
    eta lambda_max / 0.2, for a stable Euler step)."""

    sharpness: tuple[float, ...] = (0.5, 1.0, 2.0)
    x0: float = 2.0
    temperature: float = 1.0
    eff_lr: float = 1 / 64
    beta: float = 0.9
    t_max: float = 4.0
    n_paths: int = 40_000
    n_records: int = 40
    sde_substeps: int = 2
    seed: int = 0

    def validate(self) -> None:
        validate.each(validate.positive, "sharpness", self.sharpness)
        validate.non_negative("temperature", self.temperature)
        validate.positive("eff_lr", self.eff_lr)
        validate.probability("beta", self.beta, open_high=True)
        validate.positive("t_max", self.t_max)
        validate.positive_int("n_paths", self.n_paths, 2)
        validate.positive_int("n_records", self.n_records, 1)
        validate.positive_int("sde_substeps", self.sde_substeps, 1)
        if self.t_max < self.eff_lr:
            raise validate.ConfigError(f"t_max must be at least eff_lr = {self.eff_lr}; got {self.t_max}.")


QUICK = QuadraticConfig()
PAPER = QuadraticConfig(sharpness=(0.25, 0.5, 1.0, 2.0, 4.0), eff_lr=1 / 256, t_max=6.0, n_paths=200_000,
                        n_records=60, sde_substeps=4)


@dataclass(frozen=True)
class QuadraticMethod(Summary):
    """One of SGD(eta), SGDM(eta (1 - beta), beta) and the SDE on the noisy quadratic at the horizon T, with
    h(x) = mean over the coordinates of x_i^2.

    mean_square: E h(x_T), the mean over the paths (NaN when a run diverged);
    exact_mean_square: E h(x_T) from the exact moments: theory.momentum.sgd_moments for SGD, sgdm_moments for
    SGDM, the Ornstein-Uhlenbeck closed form for the SDE (NaN when a run diverged);
    stationary_variance: per coordinate, in the order of the config's sharpness, the variance the method settles
    at as k -> infinity (exact for SGD and SGDM at this eta, s / (2 lambda_i) for the SDE; inf where the method
    is unstable)."""

    mean_square: float
    exact_mean_square: float
    stationary_variance: tuple[float, ...]


@dataclass(frozen=True)
class QuadraticSummary(Summary):
    """The laws of SGD(eta), SGDM(eta (1 - beta), beta) and their SDE at the horizon T (paper Thm 3.5).

    diverged: whether a discrete run overflowed (then every value at T below is NaN);
    curvature_ratio: eta * lambda_max / (1 - beta) (<< 1 in the paper's regime);
    sgd_stable: whether SGD(eta) is stable on the sharpest coordinate (eta lambda_max < 2);
    sgdm_stable: whether SGDM(eta (1 - beta), beta) is;
    sgd: SGD(eta); sgdm: SGDM; sde: the SDE integrated by the engine on the same Brownian paths;
    ratio_sgdm_sgd: E h(x_T) under SGDM over that under SGD;
    exact_ratio_sgdm_sgd: the same ratio from the exact moments;
    ratio_sgd_sde: E h(x_T) under SGD over that under the SDE; ratio_sgdm_sde: the same for SGDM;
    sde_ratio_deviation: max(|ratio_sgd_sde - 1|, |ratio_sgdm_sde - 1|);
    ks_sgdm_sgd: largest two-sample Kolmogorov-Smirnov distance over the coordinates between the SGDM and SGD
    samples of x_T;
    paired_difference: mean over the paths of h(SGDM) - h(SGD) at T (common noise), averaged over the
    coordinates' x_i^2; paired_difference_se: its standard error, averaged the same way."""

    diverged: bool
    curvature_ratio: float
    sgd_stable: bool
    sgdm_stable: bool
    sgd: QuadraticMethod
    sgdm: QuadraticMethod
    sde: QuadraticMethod
    ratio_sgdm_sgd: float
    exact_ratio_sgdm_sgd: float
    ratio_sgd_sde: float
    ratio_sgdm_sde: float
    sde_ratio_deviation: float
    ks_sgdm_sgd: float
    paired_difference: float
    paired_difference_se: float


def run_quadratic(cfg: QuadraticConfig) -> Result:
    lam = np.asarray(cfg.sharpness, dtype=float)
    d = lam.size
    eta, beta = cfg.eff_lr, cfg.beta
    k = theory.steps_for_time(eta, cfg.t_max)
    every = max(1, k // cfg.n_records)
    sigma2 = theory.sigma2_for_temperature(eta, cfg.temperature)
    x0 = np.full((cfg.n_paths, d), float(cfg.x0))

    # the SDE dX = -lambda X dt + sqrt(s) dW through the engine, on a grid `sub` times finer, driven by the
    # same Brownian path as the discrete runs' gradient noise (CoupledBrownian), recorded at the same times
    sub = max(cfg.sde_substeps, int(np.ceil(eta * lam.max() / 0.2)))  # keep Euler's lambda dt <= 0.2
    sde_noise = CoupledBrownian(x0, eta, k, sub, every, rng(cfg.seed, "brownian"), lambda x: -lam * x,
                                np.full(d, np.sqrt(eta * sigma2)), first_two_moments)
    run = paired_runs(quadratic_grad(lam, float(np.sqrt(sigma2))), d, x0, eta, beta, k, rng(cfg.seed, "discrete"),
                      every, first_two_moments, stop_on_divergence=False, desc="momentum.quadratic",
                      noise=sde_noise)
    time = run.steps * eta
    sde_t = np.asarray(sde_noise.sde_t)[:run.steps.size]
    sde = np.asarray(sde_noise.sde_records)[:run.steps.size]

    lr = theory.normalized_to_standard_lr(eta, beta)
    ex_sgd = theory.sgd_moments(lam, eta, sigma2, cfg.x0, k, record_every=every)
    ex_sgdm = theory.sgdm_moments(lam, lr, beta, sigma2, cfg.x0, k, record_every=every)
    ou_mean, ou_var = theory.ou_moments(lam[None, :], cfg.x0, cfg.temperature, ex_sgd.steps[:, None] * eta)

    with np.errstate(over="ignore"):  # a diverged run's final iterates may not fit float32
        finals = {"final_sgd": run.x_sgd.astype(np.float32), "final_sgdm": run.x_sgdm.astype(np.float32)}
    arrays = {
        "time": time,
        "sgd_mean": run.sgd[:, :d], "sgd_var": run.sgd[:, d:] - run.sgd[:, :d] ** 2,
        "sgdm_mean": run.sgdm[:, :d], "sgdm_var": run.sgdm[:, d:] - run.sgdm[:, :d] ** 2,
        "sde_time": sde_t, "sde_mean": sde[:, :d], "sde_var": sde[:, d:] - sde[:, :d] ** 2,
        "exact_time": ex_sgd.steps * eta,
        "exact_sgd_mean": ex_sgd.mean, "exact_sgd_var": ex_sgd.var,
        "exact_sgdm_mean": ex_sgdm.mean, "exact_sgdm_var": ex_sgdm.var,
        "ou_mean": ou_mean, "ou_var": ou_var,
        **finals, "final_sde": np.asarray(sde_noise.x, dtype=np.float32),
        "h_diff_mean": run.diff_mean[:, d:].mean(axis=1), "h_diff_se": run.diff_se[:, d:].mean(axis=1),
    }
    summary = _summary(cfg, lam, run, sde, ex_sgd, ex_sgdm, ou_mean, ou_var)
    return Result("momentum.quadratic", config_dict(cfg), summary, arrays)


def _stationary_variances(cfg: QuadraticConfig, lam: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Per coordinate, the stationary variance of SGD(eta), of SGDM(eta (1 - beta), beta) and of the SDE."""
    eta, beta = cfg.eff_lr, cfg.beta
    sgd = np.atleast_1d(theory.sgd_stationary_variance(lam, eta, cfg.temperature / eta))
    sgdm = np.atleast_1d(theory.sgdm_stationary_variance(lam, eta * (1 - beta), beta, cfg.temperature / eta))
    return tuple(sgd.tolist()), tuple(sgdm.tolist()), tuple((cfg.temperature / (2 * lam)).tolist())


def _summary(cfg, lam, run, sde, ex_sgd, ex_sgdm, ou_mean, ou_var) -> QuadraticSummary:
    d = lam.size
    eta, beta = cfg.eff_lr, cfg.beta
    var_sgd, var_sgdm, var_sde = _stationary_variances(cfg, lam)
    regime = dict(diverged=bool(run.diverged), curvature_ratio=float(theory.curvature_ratio(eta, beta, lam.max())),
                  sgd_stable=bool(theory.sgd_stable(eta, lam.max())),
                  sgdm_stable=bool(theory.sgdm_stable(eta * (1 - beta), beta, lam.max())))
    if run.diverged:
        nan = float("nan")
        return QuadraticSummary(**regime, sgd=QuadraticMethod(nan, nan, var_sgd),
                                sgdm=QuadraticMethod(nan, nan, var_sgdm), sde=QuadraticMethod(nan, nan, var_sde),
                                ratio_sgdm_sgd=nan, exact_ratio_sgdm_sgd=nan, ratio_sgd_sde=nan, ratio_sgdm_sde=nan,
                                sde_ratio_deviation=nan, ks_sgdm_sgd=nan, paired_difference=nan,
                                paired_difference_se=nan)
    h_sgd = float(run.sgd[-1, d:].mean())
    h_sgdm = float(run.sgdm[-1, d:].mean())
    h_sde = float(sde[-1, d:].mean())
    h_exact_sgd = float(np.mean(ex_sgd.second[-1]))
    h_exact_sgdm = float(np.mean(ex_sgdm.second[-1]))
    h_ou = float(np.mean(ou_mean[-1] ** 2 + ou_var[-1]))
    ks = max(stats.ks_2samp(run.x_sgdm[:, i], run.x_sgd[:, i]).statistic for i in range(d))
    r_sgd, r_sgdm = h_sgd / h_sde, h_sgdm / h_sde
    return QuadraticSummary(
        **regime, sgd=QuadraticMethod(h_sgd, h_exact_sgd, var_sgd),
        sgdm=QuadraticMethod(h_sgdm, h_exact_sgdm, var_sgdm), sde=QuadraticMethod(h_sde, h_ou, var_sde),
        ratio_sgdm_sgd=h_sgdm / h_sgd, exact_ratio_sgdm_sgd=h_exact_sgdm / h_exact_sgd,
        ratio_sgd_sde=r_sgd, ratio_sgdm_sde=r_sgdm, sde_ratio_deviation=max(abs(r_sgd - 1), abs(r_sgdm - 1)),
        ks_sgdm_sgd=float(ks), paired_difference=float(run.diff_mean[-1, d:].mean()),
        paired_difference_se=float(run.diff_se[-1, d:].mean()))


def summarize_quadratic(res: Result) -> str:
    s, c = res.summary, res.config
    lines = [f"Noisy quadratic, lambda = {c['sharpness']}, eta = {c['eff_lr']:.4g} (SGDM lr = "
             f"{c['eff_lr'] * (1 - c['beta']):.4g}, beta = {c['beta']}), s = eta sigma^2 = {c['temperature']}, "
             f"T = {c['t_max']}, {c['n_paths']} paths, seed {c['seed']}",
             f"eta lambda_max/(1-beta) = {s.curvature_ratio:.3g}; SGD stable: {s.sgd_stable}, "
             f"SGDM stable: {s.sgdm_stable}"]
    if s.diverged:
        lines.append("a run overflowed (outside the stable range); no moments at T.")
        return "\n".join(lines)

    def joined(values: tuple[float, ...]) -> str:
        return ", ".join(f"{v:.4f}" for v in values)

    lines += [f"E h(x_T), h = mean x_i^2:  SGD {s.sgd.mean_square:.4f} (exact {s.sgd.exact_mean_square:.4f})   "
              f"SGDM {s.sgdm.mean_square:.4f} (exact {s.sgdm.exact_mean_square:.4f})   SDE {s.sde.mean_square:.4f} "
              f"(exact OU {s.sde.exact_mean_square:.4f})",
              f"SGDM/SGD = {s.ratio_sgdm_sgd:.4f} (exact {s.exact_ratio_sgdm_sgd:.4f}); paired difference "
              f"{s.paired_difference:.2e} +- {1.96 * s.paired_difference_se:.1e}; SGD/SDE = {s.ratio_sgd_sde:.4f}, "
              f"SGDM/SDE = {s.ratio_sgdm_sde:.4f}",
              f"max Kolmogorov-Smirnov distance between the SGDM and SGD laws of x_T: {s.ks_sgdm_sgd:.4f}",
              f"stationary variance per coordinate: SGD {joined(s.sgd.stationary_variance)}; SGDM "
              f"{joined(s.sgdm.stationary_variance)}; SDE {joined(s.sde.stationary_variance)}"]
    return "\n".join(lines)


QUADRATIC = Experiment(paper="momentum", name="quadratic",
                       description="SGD(eta), SGDM(eta(1-beta), beta) and the SDE on a noisy quadratic (Thm 3.5)",
                       config_cls=QuadraticConfig, presets={"quick": QUICK, "paper": PAPER},
                       run=run_quadratic, summarize=summarize_quadratic, summary=QuadraticSummary)
