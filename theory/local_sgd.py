"""Theory of Gu, Lyu, Huang, Arora, "Why (and When) does Local SGD Generalize Better than SGD?" (ICLR 2023,
arXiv 2303.01215): SDE approximations of SGD and Local SGD, their slow SDEs on the manifold of minima Gamma,
and the predicted ratio of the sharpness-regularisation strength of Local SGD over SGD.

Setting (paper Sec. 1-3). K workers, each with a local batch of B_loc samples, total batch B = K * B_loc;
each worker takes H local SGD steps with learning rate eta, then the K parameter vectors are averaged.
Parallel (mini-batch) SGD with batch B is the baseline. Sigma(theta) is the per-sample gradient-noise
covariance.

SDE (conventional, time t = eta * steps): d theta = -grad L dt + sqrt(eta / B) Sigma^{1/2} dW (SGD);
each Local SGD worker follows the same with B_loc in place of B between averagings, which happen every
eta * H units of time.

Slow SDEs (time t = eta^2 * steps; eta -> 0 with alpha = eta * H held fixed for Local SGD):
  SGD (Li, Wang, Arora 2022, restated in the paper Sec. 3):
      d zeta = P_zeta( B^{-1/2} Sigma_par^{1/2} dW  -  1/(2B) grad^3 L(zeta)[Sigma_hat_diamond] dt )
  Local SGD (paper, main theorem of Sec. 3):
      d zeta = P_zeta( B^{-1/2} Sigma_par^{1/2} dW  -  1/(2B) grad^3 L[Sigma_hat_diamond] dt
                       - (K - 1)/(2B) grad^3 L[Psi_hat] dt )
  where, with (lambda_i, v_i) the non-zero eigenpairs of the Hessian at zeta,
      Sigma_hat_diamond = sum_ij <Sigma, v_i v_j^T> / (lambda_i + lambda_j) v_i v_j^T,
      Psi_hat           = sum_ij psi(alpha (lambda_i + lambda_j)) <Sigma, v_i v_j^T> / (lambda_i + lambda_j) v_i v_j^T,
      psi(x) = (e^{-x} - 1 + x) / x,  increasing from psi(0) = 0 to psi(inf) = 1.
  The diffusion term is the same for both; only the drift is stronger for Local SGD. H = 1 (alpha -> 0) or
  K = 1 gives back SGD; alpha -> inf gives K times the SGD drift (the normal-space noise of one worker,
  batch B_loc = B/K).

UNVERIFIED: the theorem text of the paper was not reachable through our search tools (only its abstract and
introduction were), so the slow-SDE statements above are written from the known form of Li, Wang, Arora's slow
SDE and the Local SGD paper's comparison of drifts, not copied from the paper; the coefficients were re-derived
here (`variance_factor_symbolic`: the within-round normal-space variance of K independent OU workers averaged
every alpha units of time is V_SGD * (1 + (K-1) psi(2 alpha lambda)) for a rank-one direction) and checked
against the discrete algorithm on the toy in `sims.local_sgd` (the discrete runs follow these flows within
2-3 % of the sharpness range, and the measured speed-up is 0.98 of the predicted one at eta = 0.025).
A second search during review (pages, code and string indexes; arXiv, ar5iv, OpenReview, the QSR follow-up
arXiv 2310.14423) again reached only the abstract and introduction, so the theorem number and the exact
statement are still to be confirmed against the paper.

Label noise (paper Sec. 3, label-noise corollary): Sigma = sigma^2 * Hessian on Gamma, so Sigma_par = 0 and
the slow SDE is a deterministic flow; for SGD it is the Riemannian gradient flow of
sigma^2/(4B) tr Hessian. For the bilinear toy of `sims.engine.toys.BilinearRegression`
(L = (u.v - 1)^2 / 2, sharpness lambda = |u|^2 + |v|^2 >= 2 on Gamma; the flow in parameter space is
`bilinear_slow_drift`, the one home of this toy's flow, which sims.local_sgd, theory.momentum and sims.momentum
use) this reduces to one ODE for lambda:
      d lambda / dt = -4 c(lambda) (lambda^2 - 4) / lambda,
      c(lambda) = sigma^2/(4B) * (1 + (K - 1) psi(2 alpha lambda)),
with the closed form lambda(t)^2 = 4 + (lambda0^2 - 4) exp(-2 sigma^2 t / B) for SGD.
"""
from __future__ import annotations

import numpy as np
from scipy import integrate

# ---------------------------------------------------------------------------------------------------------
# the interpolating function and the regularisation ratio
# ---------------------------------------------------------------------------------------------------------


def psi(x):
    """psi(x) = (e^{-x} - 1 + x) / x for x >= 0, psi(0) = 0 (paper Sec. 3, the Local SGD drift weight).

    Computed with expm1 and a series near 0 so that small alpha is accurate."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-4
    xs = np.where(small, 1.0, x)
    big = (xs + np.expm1(-xs)) / xs
    series = x / 2.0 - x ** 2 / 6.0 + x ** 3 / 24.0
    return np.where(small, series, big)


def drift_factor(K: int, alpha, lam_sum) -> np.ndarray:
    """Strength of Local SGD's drift relative to SGD's in one eigen-pair (i, j):
    1 + (K - 1) psi(alpha (lambda_i + lambda_j)). Equals 1 for K = 1 or alpha = 0, tends to K as alpha -> inf."""
    return 1.0 + (np.asarray(K, dtype=float) - 1.0) * psi(np.asarray(alpha, dtype=float) * np.asarray(lam_sum))


def label_noise_ratio(K: int, alpha, lam) -> np.ndarray:
    """Predicted ratio of regularisation strength (Local SGD / SGD) for label noise along a Hessian
    eigendirection with eigenvalue lambda: 1 + (K - 1) psi(2 alpha lambda)."""
    return drift_factor(K, alpha, 2.0 * np.asarray(lam, dtype=float))


def label_noise_ratio_discrete(K: int, eta: float, H: int, lam) -> np.ndarray:
    """[ours] Finite-eta version of `label_noise_ratio`: the same round-averaged normal variance computed for the
    discrete linearised iteration x <- (1 - eta lambda) x + noise, q = (1 - eta lambda)^2:
    1 + (K - 1) (1 - (1 - q^H) / (H (1 - q))).
    It is exactly 1 for H = 1 (Local SGD with H = 1 is SGD) and tends to `label_noise_ratio(K, eta H, lambda)`
    as eta -> 0 with eta H fixed. Not a statement of the paper; used to read finite-eta deviations."""
    lam = np.asarray(lam, dtype=float)
    q = (1.0 - eta * lam) ** 2
    mean_q = np.where(np.abs(1.0 - q) < 1e-12, 1.0, (1.0 - q ** H) / (H * np.where(np.abs(1.0 - q) < 1e-12, 1.0,
                                                                                      1.0 - q)))
    return 1.0 + (K - 1.0) * (1.0 - mean_q)


# ---------------------------------------------------------------------------------------------------------
# conventional SDEs (time t = eta * steps)
# ---------------------------------------------------------------------------------------------------------


def sgd_sde_drift(grad: np.ndarray) -> np.ndarray:
    """Drift of the SGD SDE: -grad L (paper eq. for the conventional SDE, time t = eta * steps)."""
    return -np.asarray(grad)


def sgd_sde_diffusion(noise_factor: np.ndarray, eta: float, batch: int) -> np.ndarray:
    """Diffusion of the SGD SDE: sqrt(eta / B) A with Sigma = A A^T (per-sample factor A, [..., d, m])."""
    return np.sqrt(eta / batch) * np.asarray(noise_factor)


def local_sgd_sde_diffusion(noise_factor: np.ndarray, eta: float, batch: int, K: int) -> np.ndarray:
    """Diffusion of one Local SGD worker between averagings: sqrt(eta / B_loc) A with B_loc = B / K."""
    return np.sqrt(eta * K / batch) * np.asarray(noise_factor)


def averaging_period(eta: float, H: int) -> float:
    """Conventional-SDE time between two averagings: alpha = eta * H."""
    return eta * H


# ---------------------------------------------------------------------------------------------------------
# slow SDEs on the manifold (time t = eta^2 * steps)
# ---------------------------------------------------------------------------------------------------------


def hessian_eig(hessian: np.ndarray, tol: float = 1e-9):
    """Non-zero eigenpairs of a symmetric PSD Hessian on Gamma: (lambda [r], V [d, r])."""
    w, V = np.linalg.eigh(np.asarray(hessian, dtype=float))
    keep = w > tol * max(1.0, float(np.abs(w).max()))
    return w[keep], V[:, keep]


def sigma_hat_diamond(sigma: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """Sigma_hat_diamond = sum_ij <Sigma, v_i v_j^T>/(lambda_i + lambda_j) v_i v_j^T, the solution X of
    H X + X H = Sigma restricted to the normal space (Li, Wang, Arora 2022; paper Sec. 3)."""
    lam, V = hessian_eig(hessian)
    S = V.T @ np.asarray(sigma, dtype=float) @ V
    return V @ (S / (lam[:, None] + lam[None, :])) @ V.T


def psi_hat(sigma: np.ndarray, hessian: np.ndarray, alpha: float) -> np.ndarray:
    """Psi_hat = sum_ij psi(alpha (lambda_i + lambda_j)) <Sigma, v_i v_j^T>/(lambda_i + lambda_j) v_i v_j^T
    (paper, Local SGD slow SDE)."""
    lam, V = hessian_eig(hessian)
    S = V.T @ np.asarray(sigma, dtype=float) @ V
    ls = lam[:, None] + lam[None, :]
    return V @ (psi(alpha * ls) * S / ls) @ V.T


def slow_sde_drift(third: callable, sigma: np.ndarray, hessian: np.ndarray, projector: np.ndarray,
                   batch: int, K: int = 1, alpha: float = 0.0) -> np.ndarray:
    """Drift of the slow SDE at zeta in Gamma (time t = eta^2 * steps):
    -P [ 1/(2B) grad^3 L[Sigma_hat_diamond] + (K - 1)/(2B) grad^3 L[Psi_hat] ].

    third: M -> grad^3 L(zeta)[M] (a d-vector, the derivative of <Hessian(theta), M> at zeta);
    K = 1 or alpha = 0 gives the SGD slow SDE."""
    v = third(sigma_hat_diamond(sigma, hessian)) / (2.0 * batch)
    if K > 1 and alpha > 0:
        v = v + (K - 1) * third(psi_hat(sigma, hessian, alpha)) / (2.0 * batch)
    return -np.asarray(projector) @ v


def slow_sde_diffusion(sigma: np.ndarray, projector: np.ndarray, batch: int) -> np.ndarray:
    """Diffusion factor of the slow SDE, identical for SGD and Local SGD: P Sigma_par^{1/2} / sqrt(B),
    with Sigma_par = P Sigma P the tangent part of the noise."""
    P = np.asarray(projector)
    par = P @ np.asarray(sigma, dtype=float) @ P
    w, V = np.linalg.eigh(par)
    root = V @ np.diag(np.sqrt(np.clip(w, 0.0, None))) @ V.T
    return P @ root / np.sqrt(batch)


# ---------------------------------------------------------------------------------------------------------
# the bilinear label-noise toy (sims.engine.toys.BilinearRegression), in closed form
# ---------------------------------------------------------------------------------------------------------

LAMBDA_MIN = 2.0  # the flattest sharpness on the toy's manifold


def bilinear_rate(lam, sigma: float, batch: int, K: int = 1, alpha: float = 0.0):
    """d lambda / dt on the toy's slow flow: -4 c(lambda) (lambda^2 - 4)/lambda,
    c = sigma^2/(4B) (1 + (K-1) psi(2 alpha lambda)). Time t = eta^2 * steps."""
    lam = np.asarray(lam, dtype=float)
    c = sigma ** 2 / (4.0 * batch) * label_noise_ratio(K, alpha, lam)
    return -4.0 * c * (lam ** 2 - 4.0) / lam


def bilinear_slow_drift(theta, sigma: float, batch: float, K: int = 1, alpha: float = 0.0) -> np.ndarray:
    """Drift of the toy's label-noise slow flow in parameter space, theta = (u, v) [..., 2D] (any point, on Gamma
    or off it: the Euler steps of an integration leave Gamma):
        d zeta/dt = -c(lambda) P_zeta grad tr Hessian,  c(lambda) = sigma^2/(4B) (1 + (K-1) psi(2 alpha lambda)),
    with lambda = tr Hessian = |theta|^2, grad tr Hessian = 2 theta and P the projector off the unit normal
    n = g/|g|, g = (v, u), |g| = |theta|: P grad tr Hessian = 2 theta - 4 (u.v) g / |theta|^2.
    K = 1 or alpha = 0 is SGD's flow, which normalised SGDM(eta, beta) follows too (theory.momentum, Thm 4.5 of
    that paper). Time t = eta^2 * steps. Along the flow d lambda/dt = `bilinear_rate` (`bilinear_rate_symbolic`)."""
    th = np.asarray(theta, dtype=float)
    D = th.shape[-1] // 2
    u, v = th[..., :D], th[..., D:]
    g = np.concatenate([v, u], axis=-1)
    uv = (u * v).sum(-1, keepdims=True)
    lam = (th * th).sum(-1, keepdims=True)
    c = sigma ** 2 / (4.0 * batch) * label_noise_ratio(K, alpha, lam)
    return -c * (2.0 * th - 4.0 * uv * g / lam)


def bilinear_sharpness_sgd(t, lam0: float, sigma: float, batch: int):
    """Closed form of the SGD slow flow on the toy: lambda(t) = sqrt(4 + (lambda0^2 - 4) e^{-2 sigma^2 t / B})."""
    t = np.asarray(t, dtype=float)
    return np.sqrt(4.0 + (lam0 ** 2 - 4.0) * np.exp(-2.0 * sigma ** 2 * t / batch))


def bilinear_sharpness(t, lam0: float, sigma: float, batch: int, K: int = 1, alpha: float = 0.0):
    """lambda(t) on the slow flow of Local SGD (K workers, alpha = eta H) or SGD (K = 1 / alpha = 0),
    integrated in the variable log(lambda^2 - 4) with scipy (tolerances 1e-10)."""
    t_in = np.asarray(t, dtype=float)
    if K == 1 or alpha == 0.0:
        return bilinear_sharpness_sgd(t_in, lam0, sigma, batch)
    if lam0 <= LAMBDA_MIN:
        return np.full_like(t_in, LAMBDA_MIN)
    t = t_in.ravel()
    if t.size == 0 or t.max() <= 0.0:  # nothing to integrate (times before 0 are read as 0)
        return np.full_like(t_in, lam0)

    def rhs(_, y):
        lam = np.sqrt(4.0 + np.exp(y[0]))
        # d log(lam^2-4)/dt = 2 lam lam' / (lam^2 - 4) = -8 c(lam)
        return [-8.0 * sigma ** 2 / (4.0 * batch) * float(label_noise_ratio(K, alpha, lam))]

    order = np.argsort(t)
    sol = integrate.solve_ivp(rhs, (0.0, float(max(t.max(), 0.0))), [np.log(lam0 ** 2 - 4.0)],
                              t_eval=np.maximum(t[order], 0.0), rtol=1e-10, atol=1e-12)
    out = np.empty_like(t)
    out[order] = np.sqrt(4.0 + np.exp(sol.y[0]))
    return out.reshape(t_in.shape)


def bilinear_time_to(lam0: float, lam1: float, sigma: float, batch: int, K: int = 1, alpha: float = 0.0) -> float:
    """Slow time for the toy's sharpness to fall from lambda0 to lambda1 (2 < lambda1 < lambda0):
    integral of d lambda / |rate(lambda)|."""
    if not (LAMBDA_MIN < lam1 < lam0):
        raise ValueError("need 2 < lam1 < lam0")
    val, _ = integrate.quad(lambda l: 1.0 / abs(float(bilinear_rate(l, sigma, batch, K, alpha))), lam1, lam0,
                            epsabs=0.0, epsrel=1e-10)
    return float(val)


def bilinear_speedup(lam0: float, lam1: float, K: int, alpha: float) -> float:
    """Predicted ratio T_SGD / T_LocalSGD of the slow times to bring sharpness from lambda0 to lambda1
    (independent of sigma and B). Lies between the drift factors at lambda1 and lambda0."""
    return bilinear_time_to(lam0, lam1, 1.0, 1, 1, 0.0) / bilinear_time_to(lam0, lam1, 1.0, 1, K, alpha)


def bilinear_third_contraction(zeta: np.ndarray, M: np.ndarray) -> np.ndarray:
    """grad^3 L(zeta)[M] for the toy: gradient of <Hessian(theta), M> at theta = zeta with
    Hessian = g g^T + h J, g = J theta, h = u.v - 1: 2 J M g + tr(J M) g (exact everywhere)."""
    zeta = np.asarray(zeta, dtype=float)
    D = zeta.shape[-1] // 2
    J = np.block([[np.zeros((D, D)), np.eye(D)], [np.eye(D), np.zeros((D, D))]])
    g = J @ zeta
    Ms = 0.5 * (M + M.T)
    return 2.0 * J @ Ms @ g + np.trace(J @ Ms) * g


# ---------------------------------------------------------------------------------------------------------
# symbolic checks (sympy)
# ---------------------------------------------------------------------------------------------------------


def variance_factor_symbolic():
    """Re-derivation of the factor 1 + (K-1) psi(2 alpha lambda) (sympy).

    Along a normal direction with curvature lambda, each worker's normal coordinate is an OU process
    dx = -lambda x dt + s dW_k with s^2 = eta sigma^2 lambda / B_loc (time t = eta * steps); all K workers
    start a round from the averaged point. In the periodic steady state the averaged point has variance
    V = s^2/(2 lambda K) = V_SGD (the SGD stationary variance with batch B = K B_loc), and a worker's variance
    at time tau into the round is V e^{-2 lambda tau} + K V (1 - e^{-2 lambda tau}). The drift along Gamma is
    proportional to the worker variance averaged over the round of length alpha. Returns
    (round_average / V_SGD, 1 + (K-1) psi(2 alpha lambda)) as sympy expressions (their difference simplifies to 0).
    """
    import sympy as sp

    K, a, lam, V, tau = sp.symbols("K alpha lambda V tau", positive=True)
    x = 2 * a * lam
    var_tau = V * sp.exp(-2 * lam * tau) + K * V * (1 - sp.exp(-2 * lam * tau))
    avg = sp.integrate(var_tau, (tau, 0, a)) / a
    psi_sym = (sp.exp(-x) - 1 + x) / x
    return sp.simplify(avg / V), 1 + (K - 1) * psi_sym


def steady_variance_symbolic():
    """The averaged point's variance v solves v = e^{-2 lambda alpha} v + (1 - e^{-2 lambda alpha}) s^2/(2 lambda K)
    (the K independent within-round increments are averaged). Returns (v, s^2 / (2 lambda K))."""
    import sympy as sp

    v, lam, a, s, K = sp.symbols("v lambda alpha s K", positive=True)
    e = sp.exp(-2 * lam * a)
    sol = sp.solve(sp.Eq(v, e * v + (1 - e) * s ** 2 / (2 * lam * K)), v)[0]
    return sp.simplify(sol), s ** 2 / (2 * lam * K)


def bilinear_rate_symbolic():
    """Symbolic check of the toy's flow: with theta = (s + d, s - d) on Gamma (|s|^2 - |d|^2 = 1),
    lambda = 2(|s|^2 + |d|^2) and |P grad lambda|^2 = 4 (lambda^2 - 4)/lambda, so d lambda/dt = -c |P grad lambda|^2
    = -4 c (lambda^2 - 4)/lambda. Returns (|P grad lambda|^2 in terms of a = |s|^2, b = |d|^2, 4(lambda^2-4)/lambda)
    with b = a - 1 substituted."""
    import sympy as sp

    a = sp.symbols("a", positive=True)
    b = a - 1
    lam = 2 * (a + b)
    # grad lambda = 2 theta; normal n = J theta / |theta| (|J theta| = |theta|); theta . J theta = 2 u.v = 2.
    theta2 = lam
    proj_sq = 4 * (theta2 - (2 / sp.sqrt(theta2)) ** 2)
    return sp.simplify(proj_sq), sp.simplify(4 * (lam ** 2 - 4) / lam)


__all__ = [
    "LAMBDA_MIN", "averaging_period", "bilinear_rate", "bilinear_rate_symbolic", "bilinear_sharpness",
    "bilinear_sharpness_sgd", "bilinear_slow_drift", "bilinear_speedup", "bilinear_third_contraction",
    "bilinear_time_to", "drift_factor", "hessian_eig", "label_noise_ratio", "label_noise_ratio_discrete",
    "local_sgd_sde_diffusion", "psi", "psi_hat", "sgd_sde_diffusion", "sgd_sde_drift", "sigma_hat_diamond",
    "slow_sde_diffusion", "slow_sde_drift", "steady_variance_symbolic", "variance_factor_symbolic",
]
