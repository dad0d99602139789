"""The slow SDE near a manifold of minima: SGDM and SGD drift along it alike (paper Sec. 4, Thm 4.5).

Toy (sims.engine.toys.BilinearRegression): theta = (u, v), L = (u . v - 1)^2 / 2 with label noise, whose
minima form the manifold Gamma = {u . v = 1} with sharpness |u|^2 + |v|^2 varying along it. Started on Gamma at
a sharp point, SGD with small learning rate eta first stays near Gamma and then, over O(1/eta^2) steps (clock
t = k eta^2), the label noise drives it towards flatter minima (Li, Wang, Arora 2022; the slow SDE).
Thm 4.5: SGDM(eta, beta) in the normalised form (standard-form lr = eta (1 - beta)) follows the same slow SDE
when 1 - beta >> eta. Both run over many paths with common noise; the sharpness of the projection Phi(theta)
onto Gamma is recorded, and the slow flow itself is integrated by the engine (label noise has no tangential
part here, so the slow SDE is a deterministic flow; theory.momentum.bilinear_slow_drift). At a large eta
(eta lambda comparable to 1 - beta) the drifts differ.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import value_at
from sims.engine.sde import integrate
from sims.engine.toys import BilinearRegression
from theory import momentum as theory

from .discrete import paired_runs


@dataclass(frozen=True)
class SlowConfig:
    """half_dim: D (theta in R^{2D}); label_noise: sigma of the labels; sharpness0: sharpness of the start
    point on Gamma; eff_lr: SGD's learning rate eta (SGDM: lr = eta (1 - beta)); beta: momentum;
    t_max: horizon on the slow clock t = k eta^2; t_measure: slow time at which the two drifts are compared;
    batch_size: minibatch size of the label noise; n_paths; n_records; slow_dt: the engine's step for the
    slow flow."""

    half_dim: int = 2
    label_noise: float = 1.0
    sharpness0: float = 6.0
    eff_lr: float = 0.025
    beta: float = 0.5
    t_max: float = 1.0
    t_measure: float = 0.4
    batch_size: int = 1
    n_paths: int = 1000
    n_records: int = 20
    slow_dt: float = 0.002
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("half_dim", self.half_dim, 1)
        validate.positive("label_noise", self.label_noise)
        validate.greater_than("sharpness0", self.sharpness0, 2.0)
        validate.positive("eff_lr", self.eff_lr)
        validate.probability("beta", self.beta, open_high=True)
        validate.positive("t_max", self.t_max)
        validate.positive("t_measure", self.t_measure)
        if self.t_measure > self.t_max:
            raise validate.ConfigError(f"t_measure must not exceed t_max = {self.t_max}; got {self.t_measure}.")
        validate.positive_int("batch_size", self.batch_size, 1)
        validate.positive_int("n_paths", self.n_paths, 2)
        validate.positive_int("n_records", self.n_records, 1)
        validate.positive("slow_dt", self.slow_dt)


QUICK = SlowConfig()
PAPER = SlowConfig(half_dim=8, eff_lr=0.01, beta=0.9, t_max=2.0, n_paths=20_000, n_records=50)


@dataclass(frozen=True)
class SlowMethod(Summary):
    """One of SGD(eta) and SGDM(eta (1 - beta), beta) on the bilinear toy, from the sharp start on Gamma; the
    sharpness is that of the projection Phi(theta) onto Gamma, averaged over the paths.

    drop: sharpness0 minus the sharpness at slow time t_measure (interpolated between records; NaN when a run
    diverged or ended before t_measure); drop_over_slow: drop over the slow flow's drop at t_measure (NaN as
    drop); final_sharpness: the sharpness at the last record; final_loss: the mean loss at the last record."""

    drop: float
    drop_over_slow: float
    final_sharpness: float
    final_loss: float


@dataclass(frozen=True)
class SlowSummary(Summary):
    """The drift of SGD and SGDM towards flatter minima along the manifold of minima, against the slow flow
    (paper Sec. 4, Thm 4.5); t = k eta^2 is the slow clock.

    diverged: whether a run overflowed; steps: discrete steps k of each run (t_max / eta^2, rounded);
    curvature_ratio: eta * sharpness0 / (1 - beta) (<< 1 in the paper's regime);
    sgd: SGD(eta); sgdm: SGDM;
    drift_ratio: SGDM's drop over SGD's (Thm 4.5: 1; NaN when a drop is NaN or SGD's is not positive);
    slow_drop: the drop of the slow flow integrated by the engine, by t_measure;
    closed_form_drop: the same drop from the closed form lambda^2 = 4 + (lambda0^2 - 4) e^{-2 sigma^2 t / B};
    slow_ratio_deviation: max over SGD and SGDM of |drop_over_slow - 1| (NaN when a drop is NaN)."""

    diverged: bool
    steps: int
    curvature_ratio: float
    sgd: SlowMethod
    sgdm: SlowMethod
    drift_ratio: float
    slow_drop: float
    closed_form_drop: float
    slow_ratio_deviation: float


def run_slow(cfg: SlowConfig) -> Result:
    toy = BilinearRegression(half_dim=cfg.half_dim, sigma=cfg.label_noise)
    eta = cfg.eff_lr
    k = max(1, int(round(cfg.t_max / eta ** 2)))
    theta0 = np.tile(toy.manifold_point(cfg.sharpness0), (cfg.n_paths, 1))

    def grad(x, z):
        return toy.stochastic_grad(x, z, cfg.batch_size)

    def observe(x):
        return np.stack([toy.manifold_sharpness(x), toy.value(x)], axis=-1)

    run = paired_runs(grad, toy.noise_dim, theta0, eta, cfg.beta, k, rng(cfg.seed, "slow"),
                      max(1, k // cfg.n_records), observe, stop_on_divergence=False, desc="momentum.slow")
    t = run.steps * eta ** 2
    s_sgd, s_sgdm = run.sgd[:, 0], run.sgdm[:, 0]
    drop_sgd = cfg.sharpness0 - value_at(t, s_sgd, cfg.t_measure)
    drop_sgdm = cfg.sharpness0 - value_at(t, s_sgdm, cfg.t_measure)
    ok = not run.diverged and t[-1] >= cfg.t_measure

    # the slow SDE (here a flow: the label noise has no tangential part) through the engine, one path
    n_sde = max(50, int(np.ceil(cfg.t_max / cfg.slow_dt)))
    sol = integrate(lambda _, x: theory.bilinear_slow_drift(x, cfg.label_noise, cfg.batch_size),
                    lambda _, x: np.zeros(toy.dim), theta0[:1], 0.0, cfg.t_max, n_sde, noise="additive",
                    record_every=max(1, n_sde // 200), record_fn=lambda x: toy.manifold_sharpness(x)[0])
    s_slow = np.asarray(sol.records, dtype=float)
    drop_slow = cfg.sharpness0 - value_at(sol.t, s_slow, cfg.t_measure)
    r_sgd, r_sgdm = drop_sgd / drop_slow, drop_sgdm / drop_slow
    nan = float("nan")
    summary = SlowSummary(
        diverged=bool(run.diverged), steps=k,
        curvature_ratio=float(theory.curvature_ratio(eta, cfg.beta, cfg.sharpness0)),
        sgd=SlowMethod(drop=float(drop_sgd) if ok else nan, drop_over_slow=float(r_sgd) if ok else nan,
                       final_sharpness=float(s_sgd[-1]), final_loss=float(run.sgd[-1, 1])),
        sgdm=SlowMethod(drop=float(drop_sgdm) if ok else nan, drop_over_slow=float(r_sgdm) if ok else nan,
                        final_sharpness=float(s_sgdm[-1]), final_loss=float(run.sgdm[-1, 1])),
        drift_ratio=float(drop_sgdm / drop_sgd) if ok and drop_sgd > 0 else nan,
        slow_drop=float(drop_slow),
        closed_form_drop=float(cfg.sharpness0 - theory.bilinear_slow_sharpness(
            cfg.sharpness0, cfg.t_measure, cfg.label_noise, cfg.batch_size)),
        slow_ratio_deviation=float(max(abs(r_sgd - 1), abs(r_sgdm - 1))) if ok else nan)
    arrays = {"time": t, "sharpness_sgd": s_sgd, "sharpness_sgdm": s_sgdm, "sharpness_diff_se": run.diff_se[:, 0],
              "loss_sgd": run.sgd[:, 1], "loss_sgdm": run.sgdm[:, 1], "slow_time": sol.t, "sharpness_slow": s_slow,
              "sharpness_closed_form": np.asarray(theory.bilinear_slow_sharpness(
                  cfg.sharpness0, sol.t, cfg.label_noise, cfg.batch_size))}
    return Result("momentum.slow", config_dict(cfg), summary, arrays)


def summarize_slow(res: Result) -> str:
    s, c = res.summary, res.config
    return "\n".join([
        f"Slow drift along the manifold of minima (Thm 4.5): bilinear toy, D = {c['half_dim']}, label noise "
        f"{c['label_noise']}, eta = {c['eff_lr']:g}, beta = {c['beta']}, {s.steps} steps (slow time "
        f"{c['t_max']:g}), {c['n_paths']} paths, seed {c['seed']}",
        f"eta * lambda0 / (1 - beta) = {s.curvature_ratio:.3g}",
        f"sharpness drop by t = {c['t_measure']:g}: SGD {s.sgd.drop:.4f}, SGDM {s.sgdm.drop:.4f}, "
        f"ratio {s.drift_ratio:.4f} (Thm 4.5: 1)",
        f"slow SDE (engine): drop {s.slow_drop:.4f} (closed form {s.closed_form_drop:.4f}); "
        f"SGD/slow {s.sgd.drop_over_slow:.4f}, SGDM/slow {s.sgdm.drop_over_slow:.4f}",
        f"final sharpness: SGD {s.sgd.final_sharpness:.4f}, SGDM {s.sgdm.final_sharpness:.4f} (flattest: 2); "
        f"final loss SGD {s.sgd.final_loss:.2e}, SGDM {s.sgdm.final_loss:.2e}",
    ])


SLOW = Experiment(paper="momentum", name="slow",
                  description="drift towards flat minima on a manifold of minima, SGDM vs SGD (Thm 4.5)",
                  config_cls=SlowConfig, presets={"quick": QUICK, "paper": PAPER},
                  run=run_slow, summarize=summarize_slow, summary=SlowSummary)
