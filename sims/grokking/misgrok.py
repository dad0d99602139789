"""Misgrokking (paper Fig. 1b): the kernel-regime predictor generalises and the late max-L1 bias forgets it.

Data are Gaussian with a slab of width gamma along a dense unit direction w*. The max-L2-margin classifier
(kernel regime) finds w* and classifies the test set perfectly; the max-L1-margin classifier (rich regime)
prefers a few coordinates and does not. So test accuracy starts at ~100% and drops late, near
t = ln(alpha)/lambda, towards the max-L1-margin accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import first_crossing
from sims.engine.torch_layer import resolve_device, single_thread

from .data import misgrokking_slab
from .diagonal import DiagonalPoint, MarginClassifier, point_doc, run_classification
from .sparse import _fmt


@dataclass(frozen=True)
class MisgrokConfig:
    """d: dimension; n: training points; gamma: slab width; n_test: test points; init_norms: ||theta(0)||
    values swept; lams: weight decays swept; lr: GD step size; t_max: horizon in continuous time;
    drop_level: test accuracy below which the net counts as having misgrokked."""

    d: int = 5000
    n: int = 16
    gamma: float = 15.0
    n_test: int = 2000
    init_norms: tuple[float, ...] = (16.0, 32.0, 64.0)
    lams: tuple[float, ...] = (0.03,)
    lr: float = 0.006
    t_max: float = 333.0
    drop_level: float = 0.9
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.positive_int("d", self.d, 2)
        validate.positive_int("n", self.n, 1)
        validate.positive("gamma", self.gamma)
        validate.positive_int("n_test", self.n_test, 1)
        validate.each(validate.positive, "init_norms", self.init_norms)
        validate.each(validate.non_negative, "lams", self.lams)
        validate.positive("lr", self.lr)
        validate.positive("t_max", self.t_max)
        validate.probability("drop_level", self.drop_level, open_low=True, open_high=True)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = MisgrokConfig()
# Paper Fig. 1b: n = 32, gamma = 25, d = 1e5 (the code's default); init norm, lr and lambda of the figure are
# not stated in the paper text (UNVERIFIED in our notes), so these follow our calibration at d = 2e4.
PAPER = MisgrokConfig(d=100_000, n=32, gamma=25.0, n_test=10_000, init_norms=(128.0,), lams=(0.01,),
                      lr=0.001, t_max=1000.0, device="auto")


@dataclass(frozen=True)
class MisgrokPoint(DiagonalPoint):
    __doc__ = point_doc("One sweep point of the misgrokking run: one init norm and one weight decay.", """
    t_drop: first time test accuracy falls to drop_level or below; NaN if it never does on the horizon;
    kernel_phase_min_test_acc: the lowest test accuracy from t_fit to t_drop (each the horizon when never
    reached), the kernel phase's generalisation; NaN if no evaluation falls in that window;
    lam_t_drop: lambda * t_drop, the drop time in units of 1/lambda; NaN if it never dropped.
    """)

    t_drop: float
    kernel_phase_min_test_acc: float
    lam_t_drop: float


@dataclass(frozen=True)
class MisgrokSummary(Summary):
    """Misgrokking on the slab data: one entry per (init norm, lambda) of the sweep, init norm varying fastest.

    points: per sweep point, its fit and drop times and final state (MisgrokPoint);
    max_l2_margin: the max-L2-margin classifier of the training set (kernel regime: generalises here);
    max_l1_margin: the max-L1-margin classifier of the training set (rich regime: does not).
    """

    points: list[MisgrokPoint]
    max_l2_margin: MarginClassifier
    max_l1_margin: MarginClassifier


def kernel_phase_min(t: np.ndarray, acc: np.ndarray, t_fit: np.ndarray, t_drop: np.ndarray) -> np.ndarray:
    """Per point b, the lowest acc[:, b] from the moment the training set is fit until the drop (each the last
    time when never reached); NaN where no evaluation falls in between."""
    out = []
    for b in range(acc.shape[1]):
        start = t_fit[b] if np.isfinite(t_fit[b]) else t[-1]
        stop = t_drop[b] if np.isfinite(t_drop[b]) else t[-1]
        sel = (t >= start) & (t <= stop)
        out.append(float(acc[sel, b].min()) if sel.any() else float("nan"))
    return np.array(out)


def run_misgrok(cfg: MisgrokConfig) -> Result:
    single_thread()
    X, y, w_star = misgrokking_slab(cfg.n, cfg.d, cfg.gamma, rng(cfg.seed, "train"))
    X_test, y_test, _ = misgrokking_slab(cfg.n_test, cfg.d, cfg.gamma, rng(cfg.seed, "test"), w_star=w_star)
    arrays, sweep = run_classification(X, y, X_test, y_test, w_star, cfg.init_norms, cfg.lams, cfg.lr,
                                       cfg.t_max, resolve_device(cfg.device), "grokking.misgrok")
    t, acc = arrays["time"], arrays["test_acc"]
    t_drop = first_crossing(t, acc, cfg.drop_level, rising=False)
    kernel_acc = kernel_phase_min(t, acc, sweep.t_fit, t_drop)
    points = sweep.points(MisgrokPoint, t_drop=t_drop, kernel_phase_min_test_acc=kernel_acc,
                          lam_t_drop=sweep.lam * t_drop)
    summary = MisgrokSummary(points=points, max_l2_margin=sweep.max_l2_margin, max_l1_margin=sweep.max_l1_margin)
    return Result("grokking.misgrok", config_dict(cfg), summary, arrays)


def summarize_misgrok(res: Result) -> str:
    s: MisgrokSummary = res.summary
    cfg = res.config
    lines = [f"Misgrokking, diagonal linear nets on the slab data: d={cfg['d']}, n={cfg['n']}, "
             f"gamma={cfg['gamma']}, lr={cfg['lr']}, seed={cfg['seed']}",
             f"max-L2-margin test acc {s.max_l2_margin.test_acc:.3f} (kernel regime), "
             f"max-L1-margin test acc {s.max_l1_margin.test_acc:.3f} (rich regime)", "",
             f"{'|theta0|':>9} {'lambda':>8} {'t_fit':>8} {'kernel-phase test':>17} {'t_drop':>8} "
             f"{'lam*t_drop':>10} {'ln alpha':>8} {'final test':>10}"]
    for p in s.points:
        lines.append(f"{p.init_norm:>9.4g} {p.lam:>8.3g} {_fmt(p.t_fit):>8} "
                     f"{_fmt(p.kernel_phase_min_test_acc, '.3f'):>17} {_fmt(p.t_drop):>8} "
                     f"{_fmt(p.lam_t_drop):>10} {np.log(p.alpha_paper):>8.3f} {p.test_acc_final:>10.3f}")
    lines.append(f"(t_drop: first time test accuracy falls below {cfg['drop_level']})")
    return "\n".join(lines)


MISGROK = Experiment(paper="grokking", name="misgrok",
                     description="slab data: the kernel predictor generalises, the late max-L1 bias forgets (Fig. 1b)",
                     config_cls=MisgrokConfig, presets={"quick": QUICK, "paper": PAPER},
                     run=run_misgrok, summarize=summarize_misgrok, summary=MisgrokSummary)
