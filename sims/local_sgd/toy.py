"""Local SGD against SGD on the bilinear label-noise toy, with their slow SDEs (paper Sec. 3, Fig. 2-style).

Both algorithms start on the manifold of minima Gamma = {u.v = 1} at sharpness lambda0 and run with the same
learning rate eta and the same total batch B = K * B_loc; Local SGD averages K workers every H steps.
Label noise drives the iterate along Gamma toward the flattest point (lambda = 2). Theory (theory.local_sgd):
on the slow time scale t = eta^2 * steps both follow d lambda/dt = -4 c(lambda)(lambda^2 - 4)/lambda with
c = sigma^2/(4B) (1 + (K-1) psi(2 alpha lambda)) for Local SGD (alpha = eta H) and c = sigma^2/(4B) for SGD.
The run records lambda(Phi(theta)) for every path, integrates the slow flow with the engine from the same
starting points, and reports how closely the discrete runs follow it and how much faster Local SGD is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine import local_steps as discrete
from sims.engine.cache import config_dict
from sims.engine.curves import first_crossing
from sims.engine.toys import BilinearRegression
from theory import local_sgd as theory


@dataclass(frozen=True)
class ToyConfig:
    """half_dim: D (parameters (u, v) in R^D x R^D); sigma: label-noise std; lam0: initial sharpness on Gamma;
    eta: learning rate; K: workers; H: local steps per round; local_batch: B_loc (total batch B = K B_loc);
    steps: SGD steps per worker; n_paths: independent paths per seed (batched); lam_threshold: sharpness whose
    first crossing times are compared; n_record: recorded points; sde_steps: Euler steps of the slow flow."""

    half_dim: int = 2
    sigma: float = 1.0
    lam0: float = 6.0
    eta: float = 0.025
    K: int = 4
    H: int = 20
    local_batch: int = 2
    steps: int = 9_600
    n_paths: int = 32
    lam_threshold: float = 4.0
    n_record: int = 150
    sde_steps: int = 3000
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("half_dim", self.half_dim, 1)
        validate.non_negative("sigma", self.sigma)
        validate.greater_than("lam0", self.lam0, 2.0)
        validate.positive("eta", self.eta)
        validate.positive_int("K", self.K, 1)
        validate.positive_int("H", self.H, 1)
        validate.positive_int("local_batch", self.local_batch, 1)
        validate.positive_int("steps", self.steps, 1)
        if self.steps < self.H or self.steps % self.H:
            raise validate.ConfigError(f"steps must be a positive multiple of H (whole rounds, so that SGD and Local "
                                       f"SGD take the same number of steps); got steps={self.steps}, H={self.H}.")
        validate.positive_int("n_paths", self.n_paths, 1)
        validate.greater_than("lam_threshold", self.lam_threshold, 2.0)
        if self.lam_threshold >= self.lam0:
            raise validate.ConfigError(f"lam_threshold must be below lam0; got {self.lam_threshold} >= {self.lam0}.")
        validate.positive_int("n_record", self.n_record, 2)
        validate.positive_int("sde_steps", self.sde_steps, 1)

    @property
    def batch(self) -> int:
        return self.K * self.local_batch

    @property
    def alpha(self) -> float:
        return self.eta * self.H


QUICK = ToyConfig()
PAPER = ToyConfig(half_dim=8, eta=0.005, H=100, steps=240_000, n_paths=256, n_record=300, sde_steps=3000)


def band(lam_disc: np.ndarray, lam_pred: np.ndarray, lam0: float) -> float:
    """Largest gap between the path-mean discrete sharpness and the predicted curve, relative to lam0 - 2."""
    return float(np.max(np.abs(lam_disc.mean(axis=1) - lam_pred)) / (lam0 - theory.LAMBDA_MIN))


@dataclass(frozen=True)
class ToyTrack(Summary):
    """One algorithm on the toy (SGD, or Local SGD) against its own slow flow; sharpness is lambda(Phi(theta)) of
    the averaged iterate, averaged over the paths.

    flow_error: max over the engine's grid of |path-mean sharpness of the slow SDE integrated by the engine -
    the closed-form flow| (sharpness units; a check of the integration, not of the algorithm);
    band: max over the recorded times of |path-mean discrete sharpness - the slow SDE's| / (lambda0 - 2);
    t_cross: slow time eta^2 * steps at which the path-mean sharpness first falls to lam_threshold (interpolated
    between records; NaN when it never does within the run);
    final_sharpness: path-mean sharpness at the end of the step budget."""

    flow_error: float
    band: float
    t_cross: float
    final_sharpness: float


@dataclass(frozen=True)
class ToySummary(Summary):
    """Local SGD against SGD on the bilinear label-noise toy, each against its slow SDE (paper Sec. 3).

    batch: total batch B = K * B_loc of both algorithms; alpha: eta * H; t_end: slow time eta^2 * steps of the
    whole run; sgd: SGD (K = 1, batch B) against the SGD slow flow; local: Local SGD against its own slow flow;
    sde_offset_max: largest distance |L| = h^2/2 of the engine's slow-flow paths to the manifold Gamma (both
    flows; 0 for an exact flow);
    band_local_vs_sgd_sde: the Local SGD run against the SGD slow flow, measured as `ToyTrack.band` (the
    (K-1) drift term dropped: the negative control);
    speedup: measured T_SGD / T_Local, the ratio of the two t_cross (NaN when either never crosses);
    speedup_theory: the slow flows' T_SGD / T_Local from lambda0 to lam_threshold;
    speedup_ratio: speedup / speedup_theory;
    ratio_at_lam0: the predicted drift factor 1 + (K-1) psi(2 alpha lambda) at lambda = lambda0;
    ratio_at_threshold: the same factor at lambda = lam_threshold;
    final_gain: (final sharpness of SGD - that of Local SGD) / (lambda0 - 2), measured;
    final_gain_theory: the same gain of the closed-form slow flows at the end of the run."""

    batch: int
    alpha: float
    t_end: float
    sgd: ToyTrack
    local: ToyTrack
    sde_offset_max: float
    band_local_vs_sgd_sde: float
    speedup: float
    speedup_theory: float
    speedup_ratio: float
    ratio_at_lam0: float
    ratio_at_threshold: float
    final_gain: float
    final_gain_theory: float


def _track(cfg: ToyConfig, t: np.ndarray, run: discrete.Trajectory, ts: np.ndarray, sde: np.ndarray,
           K: int, alpha: float) -> ToyTrack:
    """One algorithm's run `run` (recorded at slow times t) against its slow flow `sde` (engine, times ts) and the
    closed form of that flow."""
    flow = theory.bilinear_sharpness(ts, cfg.lam0, cfg.sigma, cfg.batch, K, alpha)
    return ToyTrack(flow_error=float(np.max(np.abs(sde.mean(1) - flow))),
                    band=band(run.sharpness, np.interp(t, ts, sde.mean(1)), cfg.lam0),
                    t_cross=float(first_crossing(t, run.sharpness.mean(1), cfg.lam_threshold, rising=False)),
                    final_sharpness=float(run.sharpness[-1].mean()))


def run_toy(cfg: ToyConfig) -> Result:
    toy = BilinearRegression(cfg.half_dim, cfg.sigma)
    theta0 = toy.random_manifold_points(cfg.lam0, cfg.n_paths, rng(cfg.seed, "init"))
    sgd = discrete.run(toy, theta0, cfg.eta, cfg.steps, 1, 1, cfg.batch, rng(cfg.seed, "sgd"),
                       n_record=cfg.n_record, desc="SGD")
    loc = discrete.run(toy, theta0, cfg.eta, cfg.steps, cfg.K, cfg.H, cfg.local_batch, rng(cfg.seed, "local"),
                       n_record=cfg.n_record, desc="Local SGD")
    t_sgd = sgd.steps * cfg.eta ** 2
    t_loc = loc.steps * cfg.eta ** 2
    ode_sgd = theory.bilinear_sharpness(t_sgd, cfg.lam0, cfg.sigma, cfg.batch)
    ode_loc = theory.bilinear_sharpness(t_loc, cfg.lam0, cfg.sigma, cfg.batch, cfg.K, cfg.alpha)
    t_end = cfg.steps * cfg.eta ** 2

    # slow SDE through the engine (sims.engine.sde), from the same starting points
    ts, sde_sgd, dist_sgd = _slow(toy, theta0, t_end, cfg, 1, 0.0)
    _, sde_loc, dist_loc = _slow(toy, theta0, t_end, cfg, cfg.K, cfg.alpha)
    arrays = {"t_sgd": t_sgd, "t_local": t_loc, "sharp_sgd": sgd.sharpness, "sharp_local": loc.sharpness,
              "loss_sgd": sgd.loss, "loss_local": loc.loss, "spread_local": loc.spread,
              "ode_sgd": ode_sgd, "ode_local": ode_loc, "t_sde": ts, "sde_sgd": sde_sgd, "sde_local": sde_loc}
    track_sgd = _track(cfg, t_sgd, sgd, ts, sde_sgd, 1, 0.0)
    track_loc = _track(cfg, t_loc, loc, ts, sde_loc, cfg.K, cfg.alpha)
    tc_sgd, tc_loc = track_sgd.t_cross, track_loc.t_cross
    speedup = tc_sgd / tc_loc if np.isfinite(tc_sgd) and np.isfinite(tc_loc) else float("nan")
    speedup_theory = theory.bilinear_speedup(cfg.lam0, cfg.lam_threshold, cfg.K, cfg.alpha)
    summary = ToySummary(
        batch=cfg.batch, alpha=cfg.alpha, t_end=t_end, sgd=track_sgd, local=track_loc,
        sde_offset_max=float(max(dist_sgd.max(), dist_loc.max())),
        band_local_vs_sgd_sde=band(loc.sharpness, np.interp(t_loc, ts, sde_sgd.mean(1)), cfg.lam0),
        speedup=speedup, speedup_theory=float(speedup_theory), speedup_ratio=float(speedup / speedup_theory),
        ratio_at_lam0=float(theory.label_noise_ratio(cfg.K, cfg.alpha, cfg.lam0)),
        ratio_at_threshold=float(theory.label_noise_ratio(cfg.K, cfg.alpha, cfg.lam_threshold)),
        final_gain=(track_sgd.final_sharpness - track_loc.final_sharpness) / (cfg.lam0 - theory.LAMBDA_MIN),
        final_gain_theory=float((ode_sgd[-1] - ode_loc[-1]) / (cfg.lam0 - theory.LAMBDA_MIN)))
    return Result("local_sgd.toy", config_dict(cfg), summary, arrays)


def _slow(toy, theta0, t_end, cfg: ToyConfig, K: int, alpha: float):
    from .slow_sde import integrate_slow_flow

    return integrate_slow_flow(toy, theta0, t_end, cfg.sde_steps, cfg.batch, K, alpha, n_record=cfg.n_record,
                               seed=cfg.seed)


def summarize_toy(res: Result) -> str:
    s, c = res.summary, res.config
    lines = [f"Bilinear label-noise toy: D={c['half_dim']}, sigma={c['sigma']}, lambda0={c['lam0']}, eta={c['eta']}, "
             f"K={c['K']}, H={c['H']} (alpha={s.alpha:.3g}), B_loc={c['local_batch']} (B={s.batch}), "
             f"{c['steps']} steps (slow time {s.t_end:.3g}), {c['n_paths']} paths, seed={c['seed']}",
             f"slow SDE through the engine, max |engine - closed form|: SGD {s.sgd.flow_error:.2e}, "
             f"Local {s.local.flow_error:.2e}",
             f"discrete vs slow SDE, max gap / (lambda0 - 2): SGD {s.sgd.band:.3f}, Local SGD {s.local.band:.3f}"
             f"  (Local SGD vs the SGD flow: {s.band_local_vs_sgd_sde:.3f})",
             f"time to sharpness {c['lam_threshold']}: SGD {s.sgd.t_cross:.3g}, Local SGD {s.local.t_cross:.3g}"
             f" -> speed-up {s.speedup:.3f}, predicted {s.speedup_theory:.3f} (ratio {s.speedup_ratio:.3f});"
             f" drift factor 1+(K-1)psi(2 alpha lambda): {s.ratio_at_threshold:.3f} at the threshold, "
             f"{s.ratio_at_lam0:.3f} at lambda0",
             f"final sharpness: SGD {s.sgd.final_sharpness:.4f}, Local SGD {s.local.final_sharpness:.4f}; "
             f"gain (SGD - Local)/(lambda0 - 2) = {s.final_gain:.3f} (slow flow: {s.final_gain_theory:.3f})"]
    return "\n".join(lines)


TOY = Experiment(paper="local_sgd", name="toy",
                 description="Local SGD vs SGD on a label-noise toy with their slow SDEs (sharpness vs time)",
                 config_cls=ToyConfig, presets={"quick": QUICK, "paper": PAPER}, run=run_toy,
                 summarize=summarize_toy, summary=ToySummary)
