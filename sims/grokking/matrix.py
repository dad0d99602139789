"""Grokking in over-parameterised matrix completion (paper Fig. 3, Sec. 3.3.3).

W = U U^T - V V^T with U, V in R^{d x d}, initialised at U = V = alpha I (output 0), squared loss on the
observed entries plus lambda/2 (||U||^2 + ||V||^2). In the kernel regime the net copies the observed entries,
symmetrises them and leaves the rest at 0 (Cor. 3.11), which tests badly; later it moves to the
minimum-nuclear-norm completion, which recovers the low-rank ground truth: test error drops late.

Each step touches only the observed entries (gather and scatter-add over the index pairs), so a step costs
O(n_observed * d) per sweep point rather than O(d^3); the full matrix is formed only at evaluations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import eval_schedule, first_crossing, training_steps
from sims.engine.divergence import check_finite
from sims.engine.torch_layer import resolve_device, single_thread
from theory import grokking as theory

from .data import multiplication_table, observed_split
from .sparse import _fmt


@dataclass(frozen=True)
class MatrixConfig:
    """d: matrix size; observed_fraction: share of the d^2 ordered entries observed; alphas: init scales
    (U = V = alpha I); lams: weight decays; lr: GD step size; t_max: horizon in continuous time."""

    d: int = 97
    observed_fraction: float = 0.05
    alphas: tuple[float, ...] = (2.0, 4.0, 10.0)
    lams: tuple[float, ...] = (0.003,)
    lr: float = 0.3
    t_max: float = 2333.0
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.positive_int("d", self.d, 2)
        validate.probability("observed_fraction", self.observed_fraction, open_low=True, open_high=True)
        if int(round(self.observed_fraction * self.d**2)) < 1:
            raise validate.ConfigError("observed_fraction * d^2 must be at least 1 observed entry.")
        validate.each(validate.positive, "alphas", self.alphas)
        validate.each(validate.non_negative, "lams", self.lams)
        validate.positive("lr", self.lr)
        validate.positive("t_max", self.t_max)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = MatrixConfig()
# Paper Fig. 3: d = 97, 5% observed, alpha = 10, lr = 0.1, lambda = 1e-4 (our notes, section 1.5).
PAPER = MatrixConfig(d=97, observed_fraction=0.05, alphas=(2.0, 4.0, 10.0), lams=(1e-4,), lr=0.1,
                     t_max=8e4, device="auto")


def _train(cfg: MatrixConfig, X_star: np.ndarray, obs: np.ndarray, test: np.ndarray, device) -> dict:
    import torch

    dt = torch.float64
    d = cfg.d
    alpha, lam = np.meshgrid(np.asarray(cfg.alphas, float), np.asarray(cfg.lams, float), indexing="xy")
    alpha, lam = alpha.ravel(), lam.ravel()
    B = alpha.size
    eye = torch.eye(d, dtype=dt, device=device)
    U = torch.as_tensor(alpha, dtype=dt, device=device)[:, None, None] * eye
    V = U.clone()
    lam_t = torch.as_tensor(lam, dtype=dt, device=device)[:, None, None]
    rows = torch.as_tensor(obs // d, device=device)
    cols = torch.as_tensor(obs % d, device=device)
    target = torch.as_tensor(X_star.ravel()[obs], dtype=dt, device=device)
    test_idx = torch.as_tensor(test, device=device)
    test_target = torch.as_tensor(X_star.ravel()[test], dtype=dt, device=device)
    Xs = torch.as_tensor(X_star, dtype=dt, device=device)
    n = obs.size

    total = int(np.ceil(cfg.t_max / cfg.lr))
    steps = eval_schedule(total, 120, 300)
    rec = {k: [] for k in ("train_mse", "test_mse", "rel_error", "nuclear_norm", "param_norm")}

    def record(step: int) -> None:
        W = U @ U.transpose(1, 2) - V @ V.transpose(1, 2)
        flat = W.reshape(B, -1)
        train_mse = ((flat[:, obs_t] - target) ** 2).mean(-1)
        check_finite("train loss", train_mse, step, hint="Lower lr (regression needs lr ~ 1/alpha^2).")
        rec["train_mse"].append(train_mse)
        rec["test_mse"].append(((flat[:, test_idx] - test_target) ** 2).mean(-1))
        rec["rel_error"].append((W - Xs).flatten(1).norm(dim=-1) / Xs.norm())
        rec["nuclear_norm"].append(torch.linalg.eigvalsh(0.5 * (W + W.transpose(1, 2))).abs().sum(-1))
        rec["param_norm"].append((U.flatten(1).pow(2).sum(-1) + V.flatten(1).pow(2).sum(-1)).sqrt())

    obs_t = torch.as_tensor(obs, device=device)
    for step in training_steps(steps, record, "grokking.matrix"):
        Ur, Uc, Vr, Vc = U[:, rows], U[:, cols], V[:, rows], V[:, cols]
        w_obs = (Ur * Uc).sum(-1) - (Vr * Vc).sum(-1)          # (B, n) observed entries of W
        r = (2.0 / n) * (w_obs - target)                         # dLoss/dW_ij on the observed entries
        gU = torch.zeros_like(U).index_add_(1, rows, r[..., None] * Uc).index_add_(1, cols, r[..., None] * Ur)
        gV = torch.zeros_like(V).index_add_(1, rows, r[..., None] * Vc).index_add_(1, cols, r[..., None] * Vr)
        U, V = U - cfg.lr * (gU + lam_t * U), V - cfg.lr * (-gV + lam_t * V)
    out = {k: torch.stack(v).cpu().numpy() for k, v in rec.items()}
    out.update(steps=steps, time=steps * cfg.lr, alpha=alpha, lam=lam,
               W_final=(U @ U.transpose(1, 2) - V @ V.transpose(1, 2)).cpu().numpy())
    return out


@dataclass(frozen=True)
class MatrixPoint(Summary):
    """One sweep point of matrix completion: one init scale and one weight decay.

    alpha: init scale (U = V = alpha I);
    lam: weight decay lambda (0: none);
    t_fit: first time (t = lr * steps) the train MSE falls below 10% of the mean squared observed entry; NaN if
    never on the horizon;
    t_half: first time the test MSE falls below half the kernel predictor's; NaN if never;
    lam_t_half: lambda * t_half, the transition time in units of 1/lambda; NaN if never;
    test_mse_final: test MSE (unobserved entries) at the horizon;
    train_mse_final: train MSE (observed entries) at the horizon;
    rel_error_final: ||W - X*||_F / ||X*||_F over all entries at the horizon.
    """

    alpha: float
    lam: float
    t_fit: float
    t_half: float
    lam_t_half: float
    test_mse_final: float
    train_mse_final: float
    rel_error_final: float


@dataclass(frozen=True)
class MatrixSummary(Summary):
    """Matrix completion of the multiplication table: one entry per (alpha, lambda), alpha varying fastest.

    points: per sweep point, its fit and transition times and final errors (MatrixPoint);
    n_observed: observed (training) entries of the d^2;
    kernel_test_mse: test MSE of the kernel-regime predictor (observed entries copied and symmetrised, zero
    elsewhere: Cor. 3.11);
    nuclear_test_mse: test MSE of the minimum-nuclear-norm completion (the late-phase predictor);
    ground_truth_nuclear_norm: nuclear norm of the ground-truth matrix X*.
    """

    points: list[MatrixPoint]
    n_observed: int
    kernel_test_mse: float
    nuclear_test_mse: float
    ground_truth_nuclear_norm: float


def run_matrix(cfg: MatrixConfig) -> Result:
    single_thread()
    X_star = multiplication_table(cfg.d)
    n_obs = int(round(cfg.observed_fraction * cfg.d**2))
    obs, test = observed_split(cfg.d, n_obs, rng(cfg.seed, "split"))
    rows, cols = obs // cfg.d, obs % cfg.d
    kernel = theory.kernel_completion(cfg.d, rows, cols, X_star[rows, cols])
    nuclear = theory.min_nuclear_norm_completion(cfg.d, rows, cols, X_star[rows, cols])
    arrays = _train(cfg, X_star, obs, test, resolve_device(cfg.device))
    kernel_mse = theory.completion_test_mse(kernel, X_star, test // cfg.d, test % cfg.d)
    t = arrays["time"]
    lam = arrays["lam"]
    t_half = first_crossing(t, arrays["test_mse"], 0.5 * kernel_mse, rising=False)
    t_fit = first_crossing(t, arrays["train_mse"], 0.1 * float(np.mean(X_star.ravel()[obs] ** 2)), rising=False)
    columns = dict(alpha=arrays["alpha"], lam=lam, t_fit=t_fit, t_half=t_half, lam_t_half=lam * t_half,
                   test_mse_final=arrays["test_mse"][-1], train_mse_final=arrays["train_mse"][-1],
                   rel_error_final=arrays["rel_error"][-1])
    summary = MatrixSummary(
        points=[MatrixPoint(**{k: float(v[b]) for k, v in columns.items()}) for b in range(lam.size)],
        n_observed=int(n_obs), kernel_test_mse=float(kernel_mse),
        nuclear_test_mse=float(theory.completion_test_mse(nuclear, X_star, test // cfg.d, test % cfg.d)),
        ground_truth_nuclear_norm=float(np.abs(np.linalg.eigvalsh(X_star)).sum()))
    arrays.update(kernel_W=kernel, nuclear_W=nuclear, observed=obs)
    return Result("grokking.matrix", config_dict(cfg), summary, arrays)


def summarize_matrix(res: Result) -> str:
    s: MatrixSummary = res.summary
    cfg = res.config
    lines = [f"Matrix completion, W = UU^T - VV^T: d={cfg['d']}, {s.n_observed} observed entries, "
             f"lr={cfg['lr']}, seed={cfg['seed']}",
             f"kernel predictor (copy observed, zero-fill) test MSE {s.kernel_test_mse:.4g}; "
             f"min-nuclear-norm completion test MSE {s.nuclear_test_mse:.3g}", "",
             f"{'alpha':>6} {'lambda':>8} {'t_fit':>8} {'t_half':>8} {'lam*t_half':>10} {'ln alpha':>8} "
             f"{'final test MSE':>14} {'rel. error':>10}"]
    for p in s.points:
        lines.append(f"{p.alpha:>6.3g} {p.lam:>8.3g} {_fmt(p.t_fit):>8} {_fmt(p.t_half):>8} "
                     f"{_fmt(p.lam_t_half):>10} {np.log(p.alpha):>8.3f} "
                     f"{p.test_mse_final:>14.3g} {p.rel_error_final:>10.3g}")
    lines.append("(t_fit: train MSE below 10% of the mean squared target; t_half: test MSE below half the kernel "
                 "predictor's)")
    return "\n".join(lines)


MATRIX = Experiment(paper="grokking", name="matrix",
                    description="matrix completion with UU^T - VV^T: zero-filled copy early, low rank late (Fig. 3)",
                    config_cls=MatrixConfig, presets={"quick": QUICK, "paper": PAPER},
                    run=run_matrix, summarize=summarize_matrix, summary=MatrixSummary)
