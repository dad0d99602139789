"""The drift-factor law at constant learning rate: how much faster than SGD each synchronisation rule moves the
bilinear label-noise toy along its manifold, for several learning rates.

Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning" (ICLR 2024,
arXiv 2310.14423), Sec. 3: QSR's reason is that Local SGD's slow SDE drifts toward flatter minima with the strength
of SGD's times 1 + (K - 1) psi(eta H (lambda_i + lambda_j)) (the Local SGD slow SDE of Gu, Lyu, Huang, Arora,
ICLR 2023, as theory.local_sgd writes it; the theorem text was not read, see there). Research notes
shared/papers/localsgd_qsr_momentum.md 1.7 Q2, on the toy of `sims.engine.toys.BilinearRegression` (one Hessian
eigenvalue lambda on Gamma, so the factor is 1 + (K - 1) psi(2 eta H lambda)):
- H = 1 is SGD: factor 1 at every eta;
- H = beta / eta: eta H = beta, the factor stays 1 + (K - 1) psi(2 beta lambda) as eta shrinks;
- H = (alpha / eta)^2 (QSR): eta H = alpha^2 / eta grows, the factor tends to K.
For each eta the run starts every rule from the same points of Gamma at lambda0 and runs the same slow time
T = eta^2 * steps, so the slow flow predicts a drop lambda0 - lambda(T) that does not depend on eta for SGD and for
H = beta/eta. Measured: the path-mean drop with its 95 % interval, against the drop the slow flow predicts with the
rule's rounds (theory.qsr.bilinear_sharpness_along); their ratio; and the measured factor (the rule's drop over
SGD's at that eta) against the predicted factor at lambda0 (theory.qsr.drift_factor_along, the finite-eta form of
theory.local_sgd.label_noise_ratio_discrete).

Finite-eta correction [ours]: the slow flow uses the small-eta variance of the normal coordinate; the discrete
iteration x <- (1 - eta lambda) x + noise has the stationary variance larger by 2 / (2 - eta lambda), so the measured
drops should exceed the predicted ones by up to that much (1.136 at eta = 0.04, lambda = 6; 1.031 at eta = 0.01).
It is reported as `variance_correction`. Controls (config overrides): K = 1 (every rule is SGD, drawing the same
noise: the same numbers), sigma = 0 (no noise, no drift: every drop is 0) and lam0 = 2 (the flattest point: the
predicted drop is 0, so the ratio measured / predicted is NaN and the measured drop is read in absolute units).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine import local_steps
from sims.engine.cache import config_dict
from sims.engine.toys import BilinearRegression
from theory import local_sgd as lsgd
from theory import qsr as theory

from .toy import Interval, interval, noise_chunk

RULES = ("sgd", "inverse_lr", "qsr")
NOISE_STREAM = "noise"


@dataclass(frozen=True)
class DriftConfig:
    """half_dim: D (parameters (u, v) in R^D x R^D); sigma: label-noise std; lam0: starting sharpness on Gamma
    (>= 2; 2 is the flattest point); K: workers; local_batch: B_loc (SGD's batch is B = K B_loc); etas: the
    constant learning rates; beta: the constant of H = floor(beta / eta); alpha: QSR's constant,
    H = floor((alpha / eta)^2); slow_time: T = eta^2 * steps, the same for every eta (steps = round(T / eta^2));
    n_paths: independent paths (batched); seed: the seed of the starting points and the noise."""

    half_dim: int = 2
    sigma: float = 1.0
    lam0: float = 6.0
    K: int = 4
    local_batch: int = 2
    etas: tuple[float, ...] = (0.04, 0.02, 0.01)
    beta: float = 0.2
    alpha: float = 0.09
    slow_time: float = 0.2
    n_paths: int = 1024
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("half_dim", self.half_dim, 1)
        validate.non_negative("sigma", self.sigma)
        validate.non_negative("lam0", self.lam0)
        if self.lam0 < lsgd.LAMBDA_MIN:
            raise validate.ConfigError(f"lam0 must be at least 2 (the smallest sharpness on the toy's manifold); "
                                       f"got {self.lam0}.")
        validate.positive_int("K", self.K, 1)
        validate.positive_int("local_batch", self.local_batch, 1)
        validate.each(validate.positive, "etas", self.etas)
        for i, eta in enumerate(self.etas):
            if eta * self.lam0 >= 2.0:
                raise validate.ConfigError(f"etas[{i}] must be below 2 / lam0 = {2.0 / self.lam0:.4g} (gradient "
                                           f"descent on the sharpest direction is unstable beyond it); got {eta}.")
        if len(set(self.etas)) != len(self.etas):
            raise validate.ConfigError("etas must not repeat a learning rate.")
        validate.positive("beta", self.beta)
        validate.positive("alpha", self.alpha)
        validate.positive("slow_time", self.slow_time)
        for i, eta in enumerate(self.etas):
            if self.steps_at(eta) < 1:
                raise validate.ConfigError(f"slow_time must allow at least one step at etas[{i}] = {eta}; got "
                                           f"{self.slow_time}.")
        validate.positive_int("n_paths", self.n_paths, 2)

    @property
    def batch(self) -> int:
        return self.K * self.local_batch

    def steps_at(self, eta: float) -> int:
        return int(round(self.slow_time / eta ** 2))

    def rules(self) -> dict[str, theory.SyncRule]:
        return {"sgd": theory.SyncRule.data_parallel(),
                "inverse_lr": theory.SyncRule.inverse_lr(self.beta, 1),
                "qsr": theory.SyncRule.qsr(self.alpha, 1)}


QUICK = DriftConfig()
PAPER = DriftConfig(half_dim=8, etas=(0.04, 0.02, 0.01, 0.005), slow_time=0.2, n_paths=4096)
# for the paper checks' tests: the machinery in a fraction of a second, not the quick preset's verdicts
TEST = DriftConfig(etas=(0.04, 0.02), slow_time=0.05, n_paths=64)


@dataclass(frozen=True)
class RuleDrift(Summary):
    """One rule at one learning rate, after the slow time T from lambda0.

    h: H of the rule's rounds (the last round may be cut to the steps left); rounds: rounds in the run; drop: the
    measured drop lambda0 - lambda(T) per path (mean and 95 % interval), in sharpness units; predicted_drop:
    lambda0 - lambda(T) of the slow flow with the rule's rounds; ratio: drop.mean / predicted_drop (NaN when the
    predicted drop is 0: lam0 = 2 or sigma = 0); factor_at_lam0: the predicted drift factor of the rule's full
    rounds at lambda0 (theory.qsr.drift_factor_along; 1 for SGD); factor_predicted: predicted_drop of the rule over
    SGD's at this eta (the factor averaged along the run; NaN when SGD's predicted drop is 0); factor_measured:
    drop.mean of the rule over SGD's (exactly 1 for SGD; NaN when SGD's measured drop is at rounding level, below
    1e-12 max(lam0, 1), as with sigma = 0 or lam0 = 2); factor_low: lower end of a 95 % interval of factor_measured
    by the delta method (the rule's and SGD's paths taken as independent); factor_high: its upper end."""

    h: int
    rounds: int
    drop: Interval
    predicted_drop: float
    ratio: float
    factor_at_lam0: float
    factor_predicted: float
    factor_measured: float
    factor_low: float
    factor_high: float


@dataclass(frozen=True)
class EtaDrift(Summary):
    """All rules at one constant learning rate.

    eta: the learning rate; steps: steps per worker (round(T / eta^2)); variance_correction: 2 / (2 - eta lambda0),
    by how much the discrete iteration's normal variance exceeds the slow flow's at lambda0 (the expected size of
    ratio - 1 for SGD [ours]); rules: each rule's `RuleDrift` by name (sgd, inverse_lr, qsr)."""

    eta: float
    steps: int
    variance_correction: float
    rules: dict[str, RuleDrift]


@dataclass(frozen=True)
class DriftSummary(Summary):
    """The drift-factor law on the bilinear label-noise toy at constant learning rates (QSR paper Sec. 3; research
    notes 1.7 Q2).

    batch: SGD's batch B = K B_loc; slow_time: T = eta^2 * steps of every run (to rounding of the steps);
    factor_limit_inverse_lr: the small-eta factor of H = beta/eta at lambda0, 1 + (K - 1) psi(2 beta lambda0)
    (theory.local_sgd.label_noise_ratio); factor_limit_qsr: QSR's small-eta limit, K; by_eta: one `EtaDrift` per
    learning rate, in the order of etas; worst_ratio_error: the largest |ratio - 1| over every eta and rule whose
    predicted drop is positive (NaN when none is); worst_corrected_error: the same for ratio / variance_correction,
    the ratio with the discrete variance's finite-eta correction taken out [ours]."""

    batch: int
    slow_time: float
    factor_limit_inverse_lr: float
    factor_limit_qsr: float
    by_eta: list[EtaDrift]
    worst_ratio_error: float
    worst_corrected_error: float


def _ratio(a: float, b: float) -> float:
    return a / b if b != 0 else math.nan


# a measured drop below this share of lam0 is rounding (the sharpness is computed in float64, ~1e-16 lam0 per
# operation): the measured factor is then NaN instead of a ratio of rounding errors (sigma = 0, lam0 = 2)
DROP_FLOOR = 1e-12


def _factor_interval(rule: np.ndarray, sgd: np.ndarray, lam0: float) -> tuple[float, float, float]:
    """factor = mean(rule) / mean(sgd) with a delta-method 95 % interval (independent samples); NaN when SGD's
    mean drop is at rounding level (below DROP_FLOOR * max(lam0, 1))."""
    a, b = float(rule.mean()), float(sgd.mean())
    if abs(b) <= DROP_FLOOR * max(lam0, 1.0):
        return math.nan, math.nan, math.nan
    f = a / b
    var = (rule.var(ddof=1) / rule.size + f ** 2 * sgd.var(ddof=1) / sgd.size) / b ** 2
    half = 1.96 * math.sqrt(var)
    return f, f - half, f + half


def run_drift(cfg: DriftConfig) -> Result:
    toy = BilinearRegression(cfg.half_dim, cfg.sigma)
    theta0 = toy.random_manifold_points(cfg.lam0, cfg.n_paths, rng(cfg.seed, "init"))
    lam_start = toy.manifold_sharpness(theta0)
    by_eta, arrays, errors, corrected = [], {}, [], []
    for i, eta in enumerate(cfg.etas):
        steps = cfg.steps_at(eta)
        lrs = np.full(steps, float(eta))
        drops, pred, info = {}, {}, {}
        for name, rule in cfg.rules().items():
            rounds = theory.replay(rule, lrs)
            workers, batch = (1, cfg.batch) if name == "sgd" else (cfg.K, cfg.local_batch)
            traj = local_steps.run(toy, theta0, lrs, steps, workers, rounds.lengths, batch,
                                   rng(cfg.seed, NOISE_STREAM, i), n_record=2,
                                   chunk=noise_chunk(cfg.n_paths, workers), desc=f"{name} eta={eta:g}")
            drops[name] = lam_start - traj.sharpness[-1]
            k_rule = 1 if name == "sgd" else cfg.K
            flow = theory.bilinear_sharpness_along(cfg.lam0, cfg.sigma, cfg.batch, k_rule, rounds, lrs)
            pred[name] = float(cfg.lam0 - flow[-1])
            full = theory.Rounds(rounds.starts[:1], rounds.lengths[:1], rounds.lr_start[:1], steps)
            info[name] = (int(rounds.lengths[0]), rounds.count,
                          float(theory.drift_factor_along(full, lrs, k_rule, cfg.lam0)[0]))
            arrays[f"drop_{name}_eta{i}"] = drops[name]
        rules = {}
        for name in cfg.rules():
            f, lo, hi = _factor_interval(drops[name], drops["sgd"], cfg.lam0)
            if name == "sgd" and math.isfinite(f):
                f, lo, hi = 1.0, 1.0, 1.0  # SGD over itself, exactly
            ratio = _ratio(float(drops[name].mean()), pred[name])
            if pred[name] > 0:
                errors.append(abs(ratio - 1.0))
                corrected.append(abs(ratio * (2.0 - eta * cfg.lam0) / 2.0 - 1.0))
            h, count, f0 = info[name]
            rules[name] = RuleDrift(h=h, rounds=count, drop=interval(drops[name]), predicted_drop=pred[name],
                                    ratio=ratio, factor_at_lam0=f0, factor_predicted=_ratio(pred[name], pred["sgd"]),
                                    factor_measured=f, factor_low=lo, factor_high=hi)
        by_eta.append(EtaDrift(eta=float(eta), steps=steps, variance_correction=2.0 / (2.0 - eta * cfg.lam0),
                               rules=rules))
    summary = DriftSummary(
        batch=cfg.batch, slow_time=cfg.slow_time,
        factor_limit_inverse_lr=float(lsgd.label_noise_ratio(cfg.K, cfg.beta, cfg.lam0)),
        factor_limit_qsr=float(cfg.K), by_eta=by_eta,
        worst_ratio_error=float(max(errors)) if errors else math.nan,
        worst_corrected_error=float(max(corrected)) if corrected else math.nan)
    arrays["etas"] = np.asarray(cfg.etas, dtype=float)
    for name in RULES:
        arrays[f"factor_measured_{name}"] = np.array([e.rules[name].factor_measured for e in by_eta])
        arrays[f"factor_at_lam0_{name}"] = np.array([e.rules[name].factor_at_lam0 for e in by_eta])
        arrays[f"drop_mean_{name}"] = np.array([e.rules[name].drop.mean for e in by_eta])
        arrays[f"predicted_drop_{name}"] = np.array([e.rules[name].predicted_drop for e in by_eta])
    return Result("qsr.drift", config_dict(cfg), summary, arrays)


def summarize_drift(res: Result) -> str:
    s, c = res.summary, res.config
    lines = [f"Drift-factor law on the bilinear label-noise toy: D={c['half_dim']}, sigma={c['sigma']}, "
             f"lambda0={c['lam0']}, K={c['K']}, B_loc={c['local_batch']} (B={s.batch}), slow time T={s.slow_time:g}, "
             f"{c['n_paths']} paths, seed={c['seed']}; H = beta/eta with beta={c['beta']:g} (small-eta factor "
             f"{s.factor_limit_inverse_lr:.3f}), QSR alpha={c['alpha']:g} (limit K={s.factor_limit_qsr:g})",
             f"{'eta':>7}{'rule':>12}{'H':>6}{'drop [95% CI]':>26}{'predicted':>11}{'ratio':>8}"
             f"{'factor meas. [95% CI]':>26}{'pred. run':>10}{'at l0':>8}"]
    for e in s.by_eta:
        for name, r in e.rules.items():
            lines.append(f"{e.eta:>7g}{name:>12}{r.h:>6}{r.drop.mean:>10.4f} [{r.drop.low:.4f}, {r.drop.high:.4f}]"
                         f"{r.predicted_drop:>11.4f}{r.ratio:>8.3f}{r.factor_measured:>10.3f} [{r.factor_low:.3f}, "
                         f"{r.factor_high:.3f}]{r.factor_predicted:>10.3f}{r.factor_at_lam0:>8.3f}")
        lines.append(f"{'':>7}  (discrete/flow variance at lambda0: {e.variance_correction:.3f})")
    lines.append(f"largest |measured/predicted - 1|: {s.worst_ratio_error:.3f}; with the finite-eta variance "
                 f"correction taken out: {s.worst_corrected_error:.3f}")
    return "\n".join(lines)


DRIFT = Experiment(paper="qsr", name="drift",
                   description="the drift factor of H = 1, H = beta/eta and QSR against the slow flow at constant eta",
                   config_cls=DriftConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST}, run=run_drift,
                   summarize=summarize_drift, summary=DriftSummary)
