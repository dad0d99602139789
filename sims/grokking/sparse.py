"""Grokking in sparse linear classification with two-layer diagonal linear nets (paper Fig. 1a, Sec. 3.2.3).

Large initialisation (||theta(0)|| = init_norm) puts training in the kernel regime: the net fits the
training set at once with the max-L2-margin classifier, which generalises poorly when the label depends
on k << d coordinates. Weight decay shrinks the parameters and, around t = ln(alpha)/lambda, hands the
dynamics to the max-L1-margin bias, which generalises: test accuracy jumps late.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import fit_line
from sims.engine.torch_layer import resolve_device, single_thread
from .data import sparse_hypercube
from .diagonal import DiagonalPoint, MarginClassifier, point_doc, run_classification


@dataclass(frozen=True)
class SparseConfig:
    """d: input dimension; n: training points; k: sparsity of w*; n_test: test points;
    init_norms: ||theta(0)||_2 values swept (alpha in the code's convention); lams: weight decays swept;
    lr: GD step size; t_max: horizon in continuous time (lr * steps)."""

    d: int = 2000
    n: int = 128
    k: int = 3
    n_test: int = 4000
    init_norms: tuple[float, ...] = (32.0, 128.0, 512.0, 2048.0)
    lams: tuple[float, ...] = (0.01, 0.02)
    lr: float = 0.05
    t_max: float = 1000.0
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.positive_int("d", self.d, 2)
        validate.positive_int("n", self.n, 1)
        validate.positive_int("k", self.k, 1)
        if self.k > self.d:
            raise validate.ConfigError(f"k must not exceed d; got k={self.k}, d={self.d}.")
        validate.positive_int("n_test", self.n_test, 1)
        validate.each(validate.positive, "init_norms", self.init_norms)
        validate.each(validate.non_negative, "lams", self.lams)
        validate.positive("lr", self.lr)
        validate.positive("t_max", self.t_max)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = SparseConfig()
PAPER = SparseConfig(d=100_000, n=256, k=3, n_test=10_000, init_norms=(32.0, 128.0, 512.0, 2048.0),
                     lams=(1e-3,), lr=0.01, t_max=1e4, device="auto")


@dataclass(frozen=True)
class DelayFit(Summary):
    """Least-squares line of lambda * t_grok against the log of the init scale, at one weight decay.

    lam: the weight decay lambda of the fitted points;
    slope: fitted slope (theory: 1 for the diagonal nets, Thms 3.4-3.5);
    slope_low: lower end of the slope's 95% confidence interval;
    slope_high: upper end of the slope's 95% confidence interval;
    intercept: fitted lambda * t_grok at log scale 0 (the theorems' O(1) offset);
    n_points: sweep points fitted (those that grokked on the horizon).
    """

    lam: float
    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    n_points: int


@dataclass(frozen=True)
class SparsePoint(DiagonalPoint):
    __doc__ = point_doc("One sweep point of the sparse-label run: one init norm and one weight decay.", """
    t_theory: ln(alpha_paper) / lambda, the theorems' transition time without the O(1) offset; NaN at lambda = 0;
    t_norm_ratio: ln(init_norm / norm_final) / lambda, the same with the measured norms; NaN at lambda = 0;
    lam_t_grok: lambda * t_grok, the transition time in units of 1/lambda; NaN if never grokked.
    """)

    t_theory: float
    t_norm_ratio: float
    lam_t_grok: float


@dataclass(frozen=True)
class SparseSummary(Summary):
    """Sparse labels on diagonal nets: one entry per (init norm, lambda) of the sweep, init norm varying fastest.

    points: per sweep point, its fit and grokking times and final state (SparsePoint);
    max_l2_margin: the max-L2-margin classifier of the training set (kernel regime, Cor. 3.6);
    max_l1_margin: the max-L1-margin classifier of the training set (rich regime, Cor. 3.7);
    delay_slopes: per lambda > 0 with two or more grokked points, the line of lambda*t_grok against
    ln(init_norm) (DelayFit).
    """

    points: list[SparsePoint]
    max_l2_margin: MarginClassifier
    max_l1_margin: MarginClassifier
    delay_slopes: list[DelayFit]


def run_sparse(cfg: SparseConfig) -> Result:
    single_thread()
    X, y, w_star = sparse_hypercube(cfg.n, cfg.d, cfg.k, rng(cfg.seed, "train"))
    X_test, y_test, _ = sparse_hypercube(cfg.n_test, cfg.d, cfg.k, rng(cfg.seed, "test"), w_star=w_star)
    arrays, sweep = run_classification(X, y, X_test, y_test, w_star, cfg.init_norms, cfg.lams, cfg.lr,
                                       cfg.t_max, resolve_device(cfg.device), "grokking.sparse")
    lam = sweep.lam
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(lam > 0, lam, np.nan)
        t_theory = np.log(sweep.alpha_paper) / safe
        t_norm_ratio = np.log(sweep.init_norm / sweep.norm_final) / safe
    summary = SparseSummary(
        points=sweep.points(SparsePoint, t_theory=t_theory, t_norm_ratio=t_norm_ratio, lam_t_grok=lam * sweep.t_grok),
        max_l2_margin=sweep.max_l2_margin, max_l1_margin=sweep.max_l1_margin,
        delay_slopes=slopes(sweep.init_norm, lam, sweep.t_grok))
    return Result("grokking.sparse", config_dict(cfg), summary, arrays)


def slopes(init_norm: np.ndarray, lams: np.ndarray, t_grok: np.ndarray) -> list[DelayFit]:
    """Per lambda: least-squares slope of lambda*t_grok against ln(init norm) (theory: 1)."""
    out = []
    for lam in np.unique(lams):
        sel = (lams == lam) & np.isfinite(t_grok)
        if lam <= 0 or sel.sum() < 2:
            continue
        fit = fit_line(np.log(init_norm[sel]), lam * t_grok[sel])
        out.append(DelayFit(lam=float(lam), slope=fit.slope, slope_low=fit.slope_low, slope_high=fit.slope_high,
                            intercept=fit.intercept, n_points=int(sel.sum())))
    return out


def _fmt(x: float, spec: str = ".3g") -> str:
    return "never" if not np.isfinite(x) else format(x, spec)


def delay_fit_line(fit: DelayFit, measured: str) -> str:
    """One fitted lambda in words: the slope of lambda*t against ln(scale), its 95% CI and the points fitted."""
    return (f"  lambda={fit.lam:g}: {measured} {fit.slope:.3f} (95% CI [{fit.slope_low:.3f}, {fit.slope_high:.3f}], "
            f"{fit.n_points} points)")


def summarize_sparse(res: Result) -> str:
    s: SparseSummary = res.summary
    cfg = res.config
    lines = [f"Sparse linear classification, diagonal linear nets: d={cfg['d']}, n={cfg['n']}, k={cfg['k']}, "
             f"lr={cfg['lr']}, seed={cfg['seed']}",
             f"max-L2-margin test acc {s.max_l2_margin.test_acc:.3f} (kernel regime), "
             f"max-L1-margin test acc {s.max_l1_margin.test_acc:.3f} (rich regime)",
             "",
             f"{'|theta0|':>9} {'lambda':>8} {'alpha':>7} {'t_fit':>8} {'t_grok':>8} {'lam*t_grok':>10} "
             f"{'ln(alpha)':>9} {'ln(|th0|/|thT|)':>15} {'final test':>10}"]
    for p in s.points:
        ln_shrink = np.log(p.init_norm / p.norm_final) if p.lam > 0 else np.nan
        lines.append(f"{p.init_norm:>9.4g} {p.lam:>8.3g} {p.alpha_paper:>7.3g} {_fmt(p.t_fit):>8} "
                     f"{_fmt(p.t_grok):>8} {_fmt(p.lam_t_grok):>10} {np.log(p.alpha_paper):>9.3f} "
                     f"{_fmt(ln_shrink, '.3f'):>15} {p.test_acc_final:>10.3f}")
    lines.append("")
    lines.append("Theory (Thms 3.4-3.5): the switch happens at t = (ln alpha + O(1))/lambda, so lambda*t_grok "
                 "against ln alpha has slope 1.")
    lines += [f"{delay_fit_line(f, 'measured slope')}, intercept {f.intercept:.2f}" for f in s.delay_slopes]
    return "\n".join(lines)


SPARSE = Experiment(paper="grokking", name="sparse",
                    description="diagonal linear nets on k-sparse labels: kernel fit early, max-L1 late (Fig. 1a)",
                    config_cls=SparseConfig, presets={"quick": QUICK, "paper": PAPER},
                    run=run_sparse, summarize=summarize_sparse, summary=SparseSummary)
