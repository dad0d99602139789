"""Claims of "Dichotomy of Early and Late Phase Implicit Biases Can Provably Induce Grokking"
(Lyu, Jin, Li, Du, Lee, Hu; ICLR 2024; arXiv 2311.18817), measured over seeds with their negative controls.

The theorems are asymptotic in the init scale alpha: the kernel predictor holds at T-_c = (1-c) ln(alpha)/lambda
and the max-margin / min-norm predictor at some time before T+_c = (1+c) ln(alpha)/lambda, where the O(1)
offsets are hidden.

Effective alpha (our reading, not stated in the paper). In the kernel phase the direction of theta barely moves
while weight decay shrinks its norm like ||theta0|| e^{-lambda t}; the kernel picture holds while that norm is
large compared with the norm the late (max-margin / min-norm) solution settles at, ||theta_final||, which is set
by the data and lambda, not by alpha. So the hand-over comes at t ~ ln(||theta0|| / ||theta_final||)/lambda: the
theorems' ln(alpha) up to an alpha-independent constant, which they hide in their O(1) offsets but which is as
large as ln(alpha) itself at our sizes. The window checks below therefore place T-+_c with
alpha_eff = ||theta0|| / ||theta_final||, read off each run; the claims that do so say so in their measurement.

Negative controls. The same reasoning says where the ln(alpha)/lambda delay must vanish: at an init at or below
the late solution's scale there is no kernel phase for weight decay to end, so the transition time is set by the
fit, neither growing like ln(alpha) nor scaling like 1/lambda. The delay controls measure the same slope or ratio
on their own runs at such small inits (the slope controls keep only the points whose parameter norm starts no
larger than it ends). Without weight decay (lambda = 0) the late bias does not take over on our horizon (in the
paper's App. B.1 it takes astronomically long times, t ~ 10^(10^2) to 10^(10^4)), so the late-phase controls read
lambda = 0 runs at the horizon (the misgrokking control also at its claim's T-_{1/2}, which it has no clock for).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from sims.engine.curves import first_crossing, fit_line, value_at
from sims.grokking import MATRIX, MISGROK, MODULAR, SPARSE

from .claims import OURS, READ, Claim, Context, Expect

PAPER = "grokking"
NAN = float("nan")


# ---- runs -------------------------------------------------------------------------------------------------
def _sparse(ctx: Context, **overrides):
    return ctx.results(SPARSE, **overrides)


def _sparse_two_lambdas(ctx: Context):
    """The sparse sweep with two weight decays: the preset's own when it has two (quick), else its lambda and twice
    it (the paper preset has one)."""
    lams = SPARSE.presets[ctx.preset].lams
    return _sparse(ctx) if len(lams) >= 2 else _sparse(ctx, lams=(lams[0], 2 * lams[0]))


def _sparse_no_wd(ctx: Context):
    base = SPARSE.presets[ctx.preset]
    return _sparse(ctx, lams=(0.0,), init_norms=(base.init_norms[1], base.init_norms[-1]))


# Small inits, at or below the late solution's norm (quick: ||theta_final|| ~ 3.0-3.5 for the sparse task, ~4.8
# for matrix completion, ~32 for the modular MLP): no kernel phase to leave. Each sweep is shared by the controls
# that need it and runs for a fraction of the preset's horizon (at these inits the transition comes early).
# Sparse: ||theta0||; 4 (just above the late norm) serves the window and sharpness controls only, the slope
# control keeps the points with ||theta0|| <= ||theta_final||.
SMALL_INIT_NORMS = (0.25, 0.5, 1.0, 2.0, 4.0)
SMALL_MATRIX_ALPHAS = (0.05, 0.1, 0.2, 0.5)     # ||theta0|| = alpha sqrt(2d) = 0.7, 1.4, 2.8, 7.0 at d = 97
SMALL_MODULAR_ALPHAS = (0.25, 0.5, 1.0)         # ||theta0|| ~ 5.6, 11, 22


def _sparse_small_init(ctx: Context):
    """Sparse task at small init norms, the preset's first lambda and twice it, 0.3 of the horizon."""
    base = SPARSE.presets[ctx.preset]
    lam = base.lams[0]
    return _sparse(ctx, init_norms=SMALL_INIT_NORMS, lams=(lam, 2 * lam), t_max=0.3 * base.t_max)


def _matrix_small_init(ctx: Context):
    """Matrix completion at small alpha, half the horizon."""
    base = MATRIX.presets[ctx.preset]
    return ctx.results(MATRIX, alphas=SMALL_MATRIX_ALPHAS, t_max=0.5 * base.t_max)


def _modular_small_init(ctx: Context):
    """Modular addition at small alpha (last layer still zeroed), the first lambda, 0.3 of the horizon."""
    base = MODULAR.presets[ctx.preset]
    return ctx.results(MODULAR, alphas=SMALL_MODULAR_ALPHAS, lams=(base.lams[0],), t_max=0.3 * base.t_max)


def _index(res, init_norm: float | None = None, lam: float | None = None) -> int:
    """Index of the sweep point with this init norm (default: largest) and lambda (default: first)."""
    points = res.summary.points
    norms, lams = np.array([p.init_norm for p in points]), np.array([p.lam for p in points])
    init_norm = norms.max() if init_norm is None else init_norm
    lam = lams[0] if lam is None else lam
    hits = np.nonzero(np.isclose(norms, init_norm) & np.isclose(lams, lam))[0]
    if hits.size == 0:
        raise KeyError(f"no sweep point with init norm {init_norm} and lambda {lam}")
    return int(hits[0])


def _window_time(res, b: int, c: float, upper: bool) -> float:
    """T-+_c with alpha_eff = ||theta0||/||theta_final||, clamped to [t_fit, t_max] (lambda = 0: t_max)."""
    t = res.arrays["time"]
    point = res.summary.points[b]
    if point.lam <= 0:
        return float(t[-1])
    ln_alpha = np.log(point.init_norm / point.norm_final)
    when = (1 + c if upper else 1 - c) * ln_alpha / point.lam
    return float(np.clip(when, point.t_fit if np.isfinite(point.t_fit) else t[0], t[-1]))


def _curve_at(res, name: str, b: int, when: float) -> float:
    return value_at(res.arrays["time"], res.arrays[name][:, b], when)


# ---- measurements -----------------------------------------------------------------------------------------
def delay_slope(runs, scale_and_time: Callable[[Any], tuple[float, float]],
                below_late_scale: bool = False) -> list[float]:
    """Per run: slope of lambda * time against ln scale over the sweep points at the first lambda, where
    scale_and_time(point) gives a point's (scale, time) (NaN when lambda = 0, some point never made the
    transition, or fewer than two points are selected).

    below_late_scale: use only the points whose parameter norm starts no larger than it ends
    (||theta(0)|| <= ||theta_final||: no kernel phase), the small-init control's setting."""
    out = []
    for r in runs:
        points = r.summary.points
        scale, times = (np.array(column, dtype=float) for column in zip(*map(scale_and_time, points)))
        lams = np.array([p.lam for p in points])
        sel = np.isclose(lams, lams[0])
        if below_late_scale:
            norm = r.arrays["param_norm"]
            sel &= norm[0] <= norm[-1]
        if lams[0] <= 0 or sel.sum() < 2 or not np.all(np.isfinite(times[sel])):
            out.append(NAN)
            continue
        out.append(fit_line(np.log(scale[sel]), lams[0] * times[sel]).slope)
    return out


def slope_of_delay(runs, below_late_scale: bool = False) -> list[float]:
    """Diagonal nets: slope of lambda*t_grok against ln ||theta0|| (theory: 1; at small init: no delay)."""
    return delay_slope(runs, lambda p: (p.init_norm, p.t_grok), below_late_scale)


def lambda_rescaled_ratio(runs, init_norm: float | None = None) -> list[float]:
    """Per run: (lam1 t_grok(lam1)) / (lam2 t_grok(lam2)) at the middle init norm (or the one given), lam1 < lam2.
    Theory: 1 when the transition time is ~ 1/lambda; lam1/lam2 when it does not depend on lambda."""
    out = []
    for r in runs:
        points = r.summary.points
        lams = sorted({p.lam for p in points})
        norms = sorted({p.init_norm for p in points})
        norm = norms[len(norms) // 2] if init_norm is None else init_norm
        t1 = points[_index(r, norm, lams[0])].t_grok
        t2 = points[_index(r, norm, lams[1])].t_grok
        out.append((lams[0] * t1) / (lams[1] * t2))
    return out


def early_cosine_l2(runs, init_norm: float | None = None) -> list[float]:
    """cos(w, w_L2) at T-_{1/2}(alpha_eff), at the largest init norm (or the one given)."""
    out = []
    for r in runs:
        b = _index(r, init_norm)
        out.append(_curve_at(r, "cos_l2", b, _window_time(r, b, 0.5, upper=False)))
    return out


def early_accuracy_gap(runs, init_norm: float | None = None) -> list[float]:
    """test acc(T-_{1/2}) minus the max-L2-margin classifier's test acc."""
    out = []
    for r in runs:
        b = _index(r, init_norm)
        acc = _curve_at(r, "test_acc", b, _window_time(r, b, 0.5, upper=False))
        out.append(acc - r.summary.max_l2_margin.test_acc)
    return out


def late_cosine_l1(runs) -> list[float]:
    """cos(w, w_L1) at T+_1(alpha_eff) (lambda = 0: at the horizon), largest init norm."""
    out = []
    for r in runs:
        b = _index(r)
        out.append(_curve_at(r, "cos_l1", b, _window_time(r, b, 1.0, upper=True)))
    return out


def _rise_width(r, b: int, relative: bool) -> float:
    point = r.summary.points[b]
    t70 = first_crossing(r.arrays["time"], r.arrays["test_acc"][:, b], 0.70)
    width = point.t_grok - t70
    return width / point.t_grok if relative else point.lam * width


def sharpening(runs, high: float | None = None, low: float | None = None) -> list[float]:
    """Relative width (t95 - t70)/t95 of the test-accuracy rise at the largest init norm (or `high`) over that at
    the smallest (or `low`), first lambda. Theory: the window shrinks relative to ln(alpha)/lambda as alpha grows."""
    out = []
    for r in runs:
        norms = [p.init_norm for p in r.summary.points]
        hi = _index(r, max(norms) if high is None else high)
        lo = _index(r, min(norms) if low is None else low)
        out.append(_rise_width(r, hi, True) / _rise_width(r, lo, True))
    return out


def plateau_length(runs, init_norm: float | None = None) -> list[float]:
    """lambda * (t70 - t_fit): how long, in units of 1/lambda, the fitted net stays before generalising."""
    out = []
    for r in runs:
        norms = sorted({p.init_norm for p in r.summary.points})
        b = _index(r, norms[min(1, len(norms) - 1)] if init_norm is None else init_norm)
        point = r.summary.points[b]
        t70 = first_crossing(r.arrays["time"], r.arrays["test_acc"][:, b], 0.70)
        out.append(point.lam * (t70 - point.t_fit))
    return out


def misgrok_drop(runs, clock_runs=None) -> list[float]:
    """Misgrokking: test acc at T-_{1/2}(alpha_eff) minus test acc at the horizon, largest init norm.

    clock_runs: runs (one per seed, same horizon) whose T-_{1/2} sets the early instant instead, for runs that
    have no clock of their own (lambda = 0: the control reads its own curve at the weight-decay run's instant)."""
    out = []
    for i, r in enumerate(runs):
        b = _index(r)
        c = r if clock_runs is None else clock_runs[i]
        early = _curve_at(r, "test_acc", b, _window_time(c, _index(c), 0.5, upper=False))
        out.append(early - r.summary.points[b].test_acc_final)
    return out


def late_gap_to_l1(runs) -> list[float]:
    """Test accuracy at the horizon minus the max-L1-margin classifier's test accuracy, largest init norm."""
    return [r.summary.points[_index(r)].test_acc_final - r.summary.max_l1_margin.test_acc for r in runs]


def matrix_kernel_ratio(runs) -> list[float]:
    """Matrix completion: test MSE at max(T-_{1/2}(alpha), t_fit) over the zero-fill kernel predictor's test
    MSE, largest alpha (here alpha is the paper's own: U = V = alpha I)."""
    out = []
    for r in runs:
        b = int(np.argmax([p.alpha for p in r.summary.points]))
        point = r.summary.points[b]
        t = r.arrays["time"]
        when = 0.5 * np.log(point.alpha) / point.lam if point.lam > 0 else t[-1]
        when = float(np.clip(when, point.t_fit if np.isfinite(point.t_fit) else t[-1], t[-1]))
        out.append(value_at(t, r.arrays["test_mse"][:, b], when) / r.summary.kernel_test_mse)
    return out


def matrix_slope(runs, below_late_scale: bool = False) -> list[float]:
    """Matrix completion: slope of lambda*t_half against ln(alpha) (theory: 1; at small init: no delay)."""
    return delay_slope(runs, lambda p: (p.alpha, p.t_half), below_late_scale)


def modular_delay_slope(runs, below_late_scale: bool = False) -> list[float]:
    """Modular addition: slope of lambda*t50 against ln(alpha), where t50 is the time test accuracy first
    reaches 50% (the middle of the jump; the time of 95% also carries the slow approach to the final accuracy,
    which varies between seeds)."""
    return delay_slope(runs, lambda p: (p.alpha, p.t_test50), below_late_scale)


def _misgrok_pair(ctx: Context):
    """The misgrokking runs without weight decay, and those with it (whose clock the control reads at)."""
    return ctx.results(MISGROK, lams=(0.0,)), ctx.results(MISGROK)


ALPHA_EFF = "[alpha_eff = ||theta0||/||theta_final||: our substitution for the theorem's alpha, module docstring]"
SMALL_INIT = ("small init at or below the late solution's norm (no kernel phase, so no ln(alpha)/lambda delay: our "
              "reading of the theorems, module docstring)")

CLAIMS = [
    Claim(name="delay_log_linear", paper=PAPER,
          source="Thms 3.4-3.5, Cor. 3.6-3.7; Fig. 1a",
          source_status=READ,
          statement="the switch from the kernel to the max-L1-margin classifier happens at t = (ln alpha + "
                    "O(1))/lambda, so lambda*t_grok grows like ln alpha with slope 1",
          measurement="slope of lambda*t_grok vs ln ||theta0|| (diagonal nets, sparse labels)",
          expect=Expect(0.9, 1.1, origin="a stated rule: within 10% of the theorems' slope 1, fixed when the check was "
                                         "written (the theorems give the slope only as alpha -> infinity, with no "
                                         "finite-alpha tolerance)"),
          measure=lambda ctx: slope_of_delay(_sparse(ctx)),
          control=lambda ctx: slope_of_delay(_sparse_small_init(ctx), below_late_scale=True),
          control_setting=f"{SMALL_INIT}: the same slope over ||theta0|| in {{0.25, 0.5, 1, 2}} (quick), 0.3 of the "
                          "horizon"),
    Claim(name="delay_inverse_lambda", paper=PAPER,
          source="Thms 3.4-3.5 (time scale 1/lambda)",
          source_status=READ,
          statement="the transition time scales as 1/lambda at fixed alpha",
          measurement="ratio lambda1*t_grok(lambda1) / lambda2*t_grok(lambda2) at the middle init norm (lambda2 = 2 "
                      "lambda1)",
          expect=Expect(0.9, 1.1, origin="a stated rule: within 10% of the theorems' ratio 1, fixed when the check was "
                                         "written (lambda enters ||theta_final||, so the theorems' O(1) offsets differ "
                                         "a little between the two lambdas)"),
          measure=lambda ctx: lambda_rescaled_ratio(_sparse_two_lambdas(ctx)),
          control=lambda ctx: lambda_rescaled_ratio(_sparse_small_init(ctx), init_norm=1.0),
          control_setting=f"{SMALL_INIT}: the same ratio at ||theta0|| = 1 on its own runs (a time set by the fit "
                          "gives lambda1/lambda2 = 0.5)"),
    Claim(name="early_kernel_predictor", paper=PAPER,
          source="Thm 3.4, Cor. 3.6",
          source_status=READ,
          statement="at T-_c the classifier is the kernel (max-L2-margin) classifier",
          measurement=f"cos(w, w_L2) at T-_{{1/2}}(alpha_eff), largest init norm {ALPHA_EFF}",
          expect=Expect(0.95, 1.0, origin="a stated rule: cosine at least 0.95, fixed when the check was written (the "
                                          "theorem's limit as alpha -> infinity is cosine 1; the upper end is the "
                                          "largest cosine)"),
          measure=lambda ctx: early_cosine_l2(_sparse(ctx)),
          control=lambda ctx: early_cosine_l2(_sparse_small_init(ctx), init_norm=4.0),
          control_setting="small init ||theta0|| = 4 (about the late norm: the window time clamps to the fit)"),
    Claim(name="early_kernel_accuracy", paper=PAPER,
          source="Thm 3.4, Cor. 3.6; Fig. 1a (test acc plateau)",
          source_status=READ,
          statement="early test accuracy is that of the max-L2-margin classifier (poor on sparse labels)",
          measurement=f"test acc at T-_{{1/2}}(alpha_eff) minus the max-L2-margin test acc {ALPHA_EFF}",
          expect=Expect(-0.03, 0.03, origin="a stated rule: within 3 accuracy points of the max-L2-margin classifier's "
                                            "test accuracy (the theorem's limit), fixed when the check was written"),
          measure=lambda ctx: early_accuracy_gap(_sparse(ctx)),
          control=lambda ctx: early_accuracy_gap(_sparse_small_init(ctx), init_norm=4.0),
          control_setting="small init ||theta0|| = 4 (about the late norm: the window time clamps to the fit)"),
    Claim(name="late_max_l1_margin", paper=PAPER,
          source="Thm 3.5, Cor. 3.7",
          source_status=READ,
          statement="by T+_c the direction is a KKT point of the net's max-margin problem, whose global optimum is the "
                    "max-L1-margin classifier (the paper proves KKT, not global optimality)",
          measurement=f"cos(w, w_L1) at T+_1(alpha_eff), largest init norm {ALPHA_EFF}",
          expect=Expect(0.98, 1.0, origin="a stated rule: cosine at least 0.98, fixed when the check was written (the "
                                          "upper end is the largest cosine)"),
          measure=lambda ctx: late_cosine_l1(_sparse(ctx)),
          control=lambda ctx: late_cosine_l1(_sparse_no_wd(ctx)),
          control_setting="lambda = 0, read at the horizon (no weight decay to end the kernel phase)"),
    Claim(name="sharp_transition", paper=PAPER,
          source="Thms 3.4-3.5 (window [(1-c), (1+c)] ln(alpha)/lambda for every c)",
          source_status=READ,
          statement="the transition is sharp: its width relative to its time shrinks as alpha grows",
          measurement="relative width (t95-t70)/t95 at the largest over the smallest init norm",
          expect=Expect(0.0, 0.6, origin="a stated rule: the relative width shrinks by at least 40% over the sweep, "
                                         "fixed when the check was written (the theorems say only that it tends to 0 "
                                         "as alpha -> infinity)"),
          measure=lambda ctx: sharpening(_sparse(ctx)),
          control=lambda ctx: sharpening(_sparse_small_init(ctx), high=4.0, low=1.0),
          control_setting="init norms 4 over 1 (no kernel regime)"),
    Claim(name="memorize_then_generalize", paper=PAPER,
          source="Sec. 3.2.3; Fig. 1a",
          source_status=READ,
          statement="train accuracy reaches 100% early while test accuracy stays low for a time of order "
                    "ln(alpha)/lambda",
          measurement="lambda*(t70 - t_fit) at the second-smallest init norm",
          expect=Expect(1.0, np.inf, origin="a stated rule: a plateau of at least 1/lambda, fixed when the check was "
                                            "written (the theory gives its order, ln(alpha)/lambda, not a constant)"),
          measure=lambda ctx: plateau_length(_sparse(ctx)),
          control=lambda ctx: plateau_length(_sparse_small_init(ctx), init_norm=4.0),
          control_setting="small init ||theta0|| = 4"),
    Claim(name="misgrokking", paper=PAPER,
          source="Sec. 3.2.3 (misgrokking); Fig. 1b",
          source_status=READ,
          statement="on the slab data the kernel-regime classifier generalises (test acc ~100%) and later, when weight "
                    "decay hands over to the max-L1-margin bias, test accuracy drops",
          measurement="test acc at T-_{1/2}(alpha_eff) minus test acc at lambda*t = 10, largest init norm "
                      f"{ALPHA_EFF}",
          expect=Expect(0.1, 1.0, origin="a stated rule: a drop of at least 10 accuracy points, fixed when the check "
                                         "was written (the upper end is the largest possible drop)"),
          measure=lambda ctx: misgrok_drop(ctx.results(MISGROK)),
          control=lambda ctx: misgrok_drop(*_misgrok_pair(ctx)),
          control_setting="lambda = 0, its own test acc read at the weight-decay run's T-_{1/2} and at the same "
                          "horizon"),
    Claim(name="misgrokking_to_l1", paper=PAPER,
          source="Thm 3.5, Cor. 3.7; Fig. 1b",
          source_status=READ,
          statement="the late classifier is the max-L1-margin one, so test accuracy falls to that classifier's",
          measurement="test acc at lambda*t = 10 minus the max-L1-margin test acc, largest init norm",
          expect=Expect(-0.1, 0.1, origin="a stated rule: within 10 accuracy points of the max-L1-margin classifier's "
                                          "test accuracy, fixed when the check was written"),
          measure=lambda ctx: late_gap_to_l1(ctx.results(MISGROK)),
          control=lambda ctx: late_gap_to_l1(ctx.results(MISGROK, lams=(0.0,))),
          control_setting="lambda = 0 (at the same horizon)"),
    Claim(name="matrix_kernel_phase", paper=PAPER,
          source="Cor. 3.11; Fig. 3",
          source_status=READ,
          statement="early in training the completion copies the observed entries, symmetrised, and is 0 elsewhere",
          measurement="test MSE at T-_{1/2}(alpha) over the zero-fill predictor's test MSE, largest alpha",
          expect=Expect(0.98, 1.02, origin="a stated rule: within 2% of the zero-fill predictor (the corollary's "
                                           "limit), fixed when the check was written"),
          measure=lambda ctx: matrix_kernel_ratio(ctx.results(MATRIX)),
          control=lambda ctx: matrix_kernel_ratio(_matrix_small_init(ctx)),
          control_setting="small init alpha = 0.5 (the window time clamps to the fit), half the horizon"),
    Claim(name="matrix_delay_log_linear", paper=PAPER,
          source="Thm 3.10, Thm 3.12; Fig. 3",
          source_status=READ,
          statement="the test error drops late, at t = (ln alpha + O(1))/lambda",
          measurement="slope of lambda*t_half vs ln alpha (t_half: test MSE below half the kernel predictor's)",
          expect=Expect(0.85, 1.15, origin="a stated rule: within 15% of the theorems' slope 1, fixed when the check "
                                           "was written"),
          measure=lambda ctx: matrix_slope(ctx.results(MATRIX)),
          control=lambda ctx: matrix_slope(_matrix_small_init(ctx), below_late_scale=True),
          control_setting=f"{SMALL_INIT}: the same slope over alpha in {{0.05, 0.1, 0.2}} (quick), half the horizon"),
    Claim(name="modular_delay_grows", paper=PAPER,
          source="Sec. 2, Fig. 2b",
          source_status=OURS,
          statement="with a larger init scale alpha (last layer zeroed) grokking on modular addition is delayed (Fig. "
                    "2b); slope 1 is our extrapolation of the theorems' ln(alpha)/lambda clock (proved for smooth "
                    "homogeneous nets) to this ReLU net",
          measurement="slope of lambda*t50 vs ln alpha (two-layer ReLU MLP, full-batch GD; t50: test acc reaches 50%)",
          expect=Expect(0.7, 1.3, origin="a stated rule: within 30% of slope 1, set when the claim was rewritten from "
                                         "'the slope is at least 0.2' to slope 1 (wider than the diagonal-net checks': "
                                         "the ReLU net is outside the theorems' smoothness assumption)"),
          measure=lambda ctx: modular_delay_slope(ctx.results(MODULAR)),
          control=lambda ctx: modular_delay_slope(_modular_small_init(ctx), below_late_scale=True),
          control_setting=f"{SMALL_INIT}: the same slope over alpha in {{0.25, 0.5, 1}} (quick), 0.3 of the horizon"),
]
