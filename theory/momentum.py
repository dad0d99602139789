"""SGD with momentum (SGDM) at small learning rate tracks plain SGD at the effective learning rate.

Paper: Runzhe Wang, Sadhika Malladi, Tianhao Wang, Kaifeng Lyu, Zhiyuan Li, "The Marginal Value of Momentum
for Small Learning Rate SGD", ICLR 2024, arXiv 2307.15196.

Parametrisations (paper Sec. 1: Eq. 1, used in practice, and the normalised Eq. 3 used by the theory;
Def. 3.3 states the general schedule form):

* standard (PyTorch) form, learning rate ``lr`` (the paper's gamma)::

      m_{k+1} = beta m_k + g_k,          x_{k+1} = x_k - lr * m_{k+1}

* normalised form, learning rate ``eff_lr`` (the paper's eta)::

      m_{k+1} = beta m_k + (1 - beta) g_k,   x_{k+1} = x_k - eff_lr * m_{k+1}

  The two produce the same iterates when ``eff_lr = lr / (1 - beta)`` (and the buffers differ by the factor
  1 - beta). The paper's results compare SGDM(eta, beta) in the normalised form with SGD(eta), i.e. standard
  SGDM(lr, beta) with SGD(lr / (1 - beta)): ``effective_lr``.

What the paper proves (statements confirmed as far as our sources reach; see the report for sources):

* Def. 3.1 / Thm 3.5: for hyper-parameter schedules with eta -> 0, ``1 - beta = Theta(eta^alpha)`` with
  ``alpha in [0, 1)`` and gradient-noise scale ``sigma <= eta^{-1/2}``, SGDM(eta, beta) and SGD(eta) are weak
  approximations of each other over ``T/eta`` steps with error ``O(sqrt(eta / (1 - beta))) =
  O(eta^{(1-alpha)/2})`` (``paper_weak_order``). Both are therefore approximated by the same SDE
  ``dX = -grad L dt + sqrt(eta) sigma Sigma^{1/2} dW`` on the clock ``t = k eta`` (Li et al. 2019;
  Malladi et al. 2022), ``sde_coefficients``.
* Thm 4.5 (slow SDE): near a manifold of minimisers, over ``O(1/eta^2)`` steps SGDM and SGD follow the same
  slow SDE on the clock ``t = k eta^2``.
* Slow flow on the bilinear toy (sims.engine.toys.BilinearRegression, label noise): the slow SDE of SGD for
  label noise (Li, Wang, Arora 2022) is the deterministic flow d zeta/dt = -(sigma^2 / (4B)) P_zeta grad
  tr Hessian; on this toy it closes on the sharpness, lambda(t)^2 = 4 + (lambda0^2 - 4) exp(-2 sigma^2 t / B)
  (``bilinear_slow_sharpness``, ``bilinear_slow_drift``: SGD's flow of ``theory.local_sgd``, the toy's one home,
  with this module's input checks). [ours; the 1/4 coefficient is the label-noise case of Li et al., which our
  discrete runs reproduce, not a formula of the momentum paper]
* Sec. 3 (last paragraph): for ``alpha > 1`` (momentum memory longer than the gradient time scale) the
  dynamics differ; in general the SDE picture needs ``eta * lambda_max << 1 - beta`` (``curvature_ratio``).

For the quadratic loss ``L = sum_i lambda_i x_i^2 / 2`` with additive Gaussian gradient noise
``g = grad L + sigma xi`` everything is linear-Gaussian, so the mean and covariance of (x_k, m_k) after
every step follow exactly from a 2x2 recursion per coordinate (``sgdm_moments``); SGD is beta = 0. [ours]
From these: the stationary variances (``sgd_stationary_variance``, ``sgdm_stationary_variance``), the
Ornstein-Uhlenbeck moments of the SDE (``ou_moments``), and the exact weak error on this toy, whose order in
eta is ``1 - alpha`` (``quadratic_weak_order``), twice the paper's general upper bound. [ours]

Everything here is pure numpy/scipy (and theory.local_sgd): no randomness, no I/O. Bad input raises
``ValueError`` naming the parameter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import local_sgd

__all__ = [
    "Moments",
    "bilinear_slow_drift",
    "bilinear_slow_sharpness",
    "beta_for_scaling",
    "curvature_ratio",
    "effective_lr",
    "normalized_to_standard_lr",
    "ou_moments",
    "paper_weak_order",
    "quadratic_weak_error",
    "quadratic_weak_order",
    "sde_coefficients",
    "sgd_moments",
    "sgd_stable",
    "sgd_stationary_variance",
    "sgdm_moments",
    "sgdm_stable",
    "sgdm_stationary_variance",
    "sigma2_for_temperature",
    "steps_for_time",
]


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------

def _arr(name: str, value, positive: bool = False, non_negative: bool = False) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number or array of real numbers.") from exc
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be positive, got {value!r}.")
    if non_negative and np.any(a < 0):
        raise ValueError(f"{name} must be non-negative, got {value!r}.")
    return a


def _beta(beta) -> np.ndarray:
    b = _arr("beta", beta)
    if np.any((b < 0) | (b >= 1)):
        raise ValueError(f"beta must lie in [0, 1), got {beta!r}.")
    return b


def _out(x: np.ndarray):
    return float(x) if np.ndim(x) == 0 else x


# ----------------------------------------------------------------------------------------------
# the effective learning rate and the scaling of Def. 3.1
# ----------------------------------------------------------------------------------------------

def effective_lr(lr, beta):
    """eta = lr / (1 - beta): the normalised-form learning rate (paper Eq. 1 -> Eq. 3) of standard SGDM
    with learning rate lr (the paper's gamma); SGDM(lr, beta) tracks SGD(eta). beta = 0 gives eta = lr."""
    return _out(_arr("lr", lr, positive=True) / (1.0 - _beta(beta)))


def normalized_to_standard_lr(eff_lr, beta):
    """gamma = eta (1 - beta): the standard-form learning rate of normalised SGDM(eta, beta)."""
    return _out(_arr("eff_lr", eff_lr, positive=True) * (1.0 - _beta(beta)))


def beta_for_scaling(eff_lr, alpha, c: float = 1.0):
    """beta with 1 - beta = c * eta^alpha (Def. 3.1); alpha = 0 is a fixed beta = 1 - c.
    Requires the result to lie in [0, 1)."""
    eta = _arr("eff_lr", eff_lr, positive=True)
    alpha = _arr("alpha", alpha, non_negative=True)
    c = float(_arr("c", c, positive=True))
    one_minus = c * eta ** alpha
    if np.any(one_minus > 1.0):
        raise ValueError(f"c * eff_lr^alpha must be at most 1 (so beta >= 0); got {one_minus!r}.")
    return _out(1.0 - one_minus)


def paper_weak_order(alpha):
    """Thm 3.5: the weak-approximation error between SGDM(eta, beta) and SGD(eta) over O(1/eta) steps is
    O(sqrt(eta / (1 - beta))) = O(eta^{(1 - alpha)/2}) for 1 - beta = Theta(eta^alpha), alpha in [0, 1)."""
    a = _arr("alpha", alpha, non_negative=True)
    if np.any(a >= 1):
        raise ValueError(f"alpha must lie in [0, 1) for Thm 3.5, got {alpha!r}.")
    return _out((1.0 - a) / 2.0)


def quadratic_weak_order(alpha):
    """[ours] On a quadratic with additive noise the weak error of SGDM(eta, 1 - c eta^alpha) against
    SGD(eta) is Theta(eta / (1 - beta)) = Theta(eta^{1 - alpha}) (the exact moments below): order 1 - alpha,
    twice the general bound of Thm 3.5. For alpha >= 1 it no longer shrinks (order <= 0)."""
    return _out(1.0 - _arr("alpha", alpha, non_negative=True))


def curvature_ratio(eff_lr, beta, sharpness):
    """eta * lambda_max / (1 - beta): the number of momentum memory lengths that fit in one gradient
    relaxation time, inverted. The SDE regime of Thm 3.5 needs it << 1 (1 - beta >> eta); when it is
    O(1) the curvature, not the noise, shapes the dynamics and SGDM and SGD(eta) differ (Sec. 3, end)."""
    return _out(_arr("eff_lr", eff_lr, positive=True) * _arr("sharpness", sharpness, non_negative=True)
                / (1.0 - _beta(beta)))


def sgd_stable(lr, sharpness) -> bool | np.ndarray:
    """SGD on a quadratic is mean-square stable iff lr * lambda < 2."""
    v = _arr("lr", lr, positive=True) * _arr("sharpness", sharpness, non_negative=True) < 2.0
    return bool(v) if np.ndim(v) == 0 else v


def sgdm_stable(lr, beta, sharpness) -> bool | np.ndarray:
    """Standard-form SGDM (heavy ball) on a quadratic is stable iff lr * lambda < 2 (1 + beta); in the
    normalised form eta * lambda < 2 (1 + beta)/(1 - beta), far beyond SGD(eta)'s limit of 2."""
    v = _arr("lr", lr, positive=True) * _arr("sharpness", sharpness, non_negative=True) < 2.0 * (1.0 + _beta(beta))
    return bool(v) if np.ndim(v) == 0 else v


def sigma2_for_temperature(eff_lr, temperature):
    """Gradient-noise variance sigma^2 = s / eta that keeps the SDE diffusion eta sigma^2 = s fixed as eta
    varies: the noise-dominated scaling sigma = Theta(eta^{-1/2}) of Sec. 2 / Def. 3.1."""
    return _out(_arr("temperature", temperature, non_negative=True) / _arr("eff_lr", eff_lr, positive=True))


def steps_for_time(eff_lr, t: float) -> int:
    """Number of steps k with k * eta = t (rounded; at least 1)."""
    eta = float(_arr("eff_lr", eff_lr, positive=True))
    t = float(_arr("t", t, positive=True))
    return max(1, int(round(t / eta)))


# ----------------------------------------------------------------------------------------------
# the SDE (Sec. 2.2) and its Ornstein-Uhlenbeck moments on a quadratic
# ----------------------------------------------------------------------------------------------

def sde_coefficients(eff_lr, sigma2):
    """Diffusion scale sqrt(eta sigma^2) of the SDE dX = -grad L(X) dt + sqrt(eta) sigma Sigma^{1/2} dW that
    SGD(eta) and SGDM(eta(1-beta), beta) both approximate on the clock t = k eta (Thm 3.5 with the SDE
    approximation of SGD). Returns the scalar multiplying Sigma^{1/2} dW."""
    return _out(np.sqrt(_arr("eff_lr", eff_lr, positive=True) * _arr("sigma2", sigma2, non_negative=True)))


def ou_moments(sharpness, x0, temperature, t):
    """Mean and variance at time t of dX = -lambda X dt + sqrt(s) dW, X(0) = x0 (per coordinate):
    mean x0 e^{-lambda t}, var s (1 - e^{-2 lambda t}) / (2 lambda) (s t when lambda = 0)."""
    lam = _arr("sharpness", sharpness, non_negative=True)
    x0 = _arr("x0", x0)
    s = _arr("temperature", temperature, non_negative=True)
    t = _arr("t", t, non_negative=True)
    mean = x0 * np.exp(-lam * t)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(lam > 0, s * -np.expm1(-2.0 * lam * t) / (2.0 * np.where(lam > 0, lam, 1.0)), s * t)
    return _out(mean), _out(var)


# ----------------------------------------------------------------------------------------------
# exact moments of SGD / SGDM on the noisy quadratic
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Moments:
    """Exact moments of x_k per coordinate, at the steps `steps`: mean [K, ...], var [K, ...];
    `second` = mean^2 + var, the test function h(x) = x^2."""

    steps: np.ndarray
    mean: np.ndarray
    var: np.ndarray

    @property
    def second(self) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self.mean ** 2 + self.var


def sgdm_moments(sharpness, lr, beta, sigma2, x0, n_steps: int, record_every: int = 1, m0=0.0) -> Moments:
    """Exact mean and variance of x_k for standard-form SGDM(lr, beta) on L = lambda x^2 / 2 with gradient
    g_k = lambda x_k + sigma xi_k, xi_k ~ N(0, 1) iid, started at (x0, m0) deterministic. [ours]

    State z = (x, m): z_{k+1} = A z_k + b xi_k with A = [[1 - lr lambda, -lr beta], [lambda, beta]],
    b = (-lr sigma, sigma); mean_{k+1} = A mean_k, C_{k+1} = A C_k A^T + b b^T. All arguments broadcast
    (vectorised over coordinates and hyper-parameters). beta = 0 is SGD(lr). Beyond the stability edge
    the moments grow without bound and overflow to inf / NaN.
    """
    lam = _arr("sharpness", sharpness, non_negative=True)
    lr = _arr("lr", lr, positive=True)
    beta = _beta(beta)
    s2 = _arr("sigma2", sigma2, non_negative=True)
    x0 = _arr("x0", x0)
    m0 = _arr("m0", m0)
    if int(n_steps) < 0 or int(record_every) < 1:
        raise ValueError("n_steps must be >= 0 and record_every >= 1.")
    lam, lr, beta, s2, x0, m0 = np.broadcast_arrays(lam, lr, beta, s2, x0, m0)
    a11, a12, a21, a22 = 1.0 - lr * lam, -lr * beta, lam, beta
    b1, b2 = -lr * np.sqrt(s2), np.sqrt(s2)
    mx, mm = x0.astype(float).copy(), m0.astype(float).copy()
    cxx, cxm, cmm = np.zeros_like(mx), np.zeros_like(mx), np.zeros_like(mx)
    steps, means, vars_ = [0], [mx.copy()], [cxx.copy()]
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the stability edge the moments blow up
        _iterate(int(n_steps), int(record_every), (a11, a12, a21, a22, b1, b2), [mx, mm, cxx, cxm, cmm],
                 steps, means, vars_)
    return Moments(np.asarray(steps), np.asarray(means), np.asarray(vars_))


def _iterate(n_steps, record_every, coeffs, state, steps, means, vars_) -> None:
    a11, a12, a21, a22, b1, b2 = coeffs
    mx, mm, cxx, cxm, cmm = state
    for k in range(1, n_steps + 1):
        mx, mm = a11 * mx + a12 * mm, a21 * mx + a22 * mm
        nxx = a11 * a11 * cxx + 2 * a11 * a12 * cxm + a12 * a12 * cmm + b1 * b1
        nxm = a11 * a21 * cxx + (a11 * a22 + a12 * a21) * cxm + a12 * a22 * cmm + b1 * b2
        nmm = a21 * a21 * cxx + 2 * a21 * a22 * cxm + a22 * a22 * cmm + b2 * b2
        cxx, cxm, cmm = nxx, nxm, nmm
        if k % record_every == 0 or k == n_steps:
            steps.append(k)
            means.append(mx.copy())
            vars_.append(cxx.copy())


def sgd_moments(sharpness, lr, sigma2, x0, n_steps: int, record_every: int = 1) -> Moments:
    """Exact moments of SGD(lr) on the noisy quadratic: sgdm_moments with beta = 0."""
    return sgdm_moments(sharpness, lr, 0.0, sigma2, x0, n_steps, record_every)


def sgd_stationary_variance(sharpness, lr, sigma2):
    """Stationary variance of SGD(lr) on lambda x^2/2 with noise variance sigma^2:
    lr sigma^2 / (lambda (2 - lr lambda)); inf when lr lambda >= 2. [ours, standard]"""
    lam = _arr("sharpness", sharpness, positive=True)
    lr = _arr("lr", lr, positive=True)
    s2 = _arr("sigma2", sigma2, non_negative=True)
    denom = lam * (2.0 - lr * lam)
    with np.errstate(divide="ignore"):
        return _out(np.where(denom > 0, lr * s2 / np.where(denom > 0, denom, 1.0), np.inf))


def sgdm_stationary_variance(sharpness, lr, beta, sigma2):
    """Stationary variance of standard SGDM(lr, beta) (heavy ball) on lambda x^2/2 with noise variance sigma^2:
    lr sigma^2 (1 + beta) / (lambda (1 - beta) (2 (1 + beta) - lr lambda)); inf beyond lr lambda = 2(1+beta).
    In the normalised form (eta = lr/(1-beta)) this is eta sigma^2 / (lambda (2 - eta lambda (1-beta)/(1+beta))),
    against SGD(eta)'s eta sigma^2 / (lambda (2 - eta lambda)): equal to first order in eta lambda, apart at
    O(eta lambda). [ours, solved from the Lyapunov equation of sgdm_moments]"""
    lam = _arr("sharpness", sharpness, positive=True)
    lr = _arr("lr", lr, positive=True)
    b = _beta(beta)
    s2 = _arr("sigma2", sigma2, non_negative=True)
    denom = lam * (1.0 - b) * (2.0 * (1.0 + b) - lr * lam)
    with np.errstate(divide="ignore"):
        return _out(np.where(denom > 0, lr * s2 * (1.0 + b) / np.where(denom > 0, denom, 1.0), np.inf))


def quadratic_weak_error(sharpness, eff_lr, beta, temperature, x0, t: float) -> float:
    """[ours] Exact E h(x) for SGDM(eta(1-beta), beta) minus SGD(eta) at time t = k eta, with
    h(x) = mean over coordinates of x_i^2, noise variance sigma^2 = s / eta (Def. 3.1 scaling)."""
    eta = float(_arr("eff_lr", eff_lr, positive=True))
    k = steps_for_time(eta, t)
    s2 = sigma2_for_temperature(eta, temperature)
    lr = normalized_to_standard_lr(eta, beta)
    m_sgdm = sgdm_moments(sharpness, lr, beta, s2, x0, k, record_every=k)
    m_sgd = sgd_moments(sharpness, eta, s2, x0, k, record_every=k)
    return float(np.mean(m_sgdm.second[-1]) - np.mean(m_sgd.second[-1]))



# ----------------------------------------------------------------------------------------------
# the slow flow on the bilinear toy (Sec. 4 setting; label noise)
# ----------------------------------------------------------------------------------------------

def bilinear_slow_drift(theta, label_noise: float, batch_size: int = 1) -> np.ndarray:
    """Drift of the label-noise slow SDE on the toy L = (u.v - 1)^2/2, theta = (u, v) [..., 2D]:
    -(sigma^2/(4B)) P grad tr H with tr H = |theta|^2 and P the projector off the normal g = (v, u). On the clock
    t = k eta^2; the same flow for SGD(eta) and normalised SGDM(eta, beta) (Thm 4.5). SGD's flow of
    `theory.local_sgd.bilinear_slow_drift` (K = 1), the toy's one home, with this module's input checks. [ours]"""
    return local_sgd.bilinear_slow_drift(_arr("theta", theta),
                                         float(_arr("label_noise", label_noise, non_negative=True)),
                                         float(_arr("batch_size", batch_size, positive=True)))


def bilinear_slow_sharpness(sharpness0, t, label_noise: float, batch_size: int = 1):
    """Sharpness lambda(t) = |zeta(t)|^2 under the slow flow started on the manifold at lambda0 >= 2:
    d lambda/dt = -(sigma^2/B)(lambda - 4/lambda), so lambda^2 = 4 + (lambda0^2 - 4) exp(-2 sigma^2 t / B).
    Decreasing in t towards the flattest value 2. `theory.local_sgd.bilinear_sharpness_sgd` with this module's
    input checks. [ours]"""
    lam0 = _arr("sharpness0", sharpness0)
    if np.any(lam0 < 2):
        raise ValueError(f"sharpness0 must be at least 2 on this toy's manifold, got {sharpness0!r}.")
    t = _arr("t", t, non_negative=True)
    return _out(local_sgd.bilinear_sharpness_sgd(t, lam0, float(_arr("label_noise", label_noise, non_negative=True)),
                                                 float(_arr("batch_size", batch_size, positive=True))))
