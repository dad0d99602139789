"""The slow SDE of SGD / Local SGD on the toy's manifold, integrated with the shared engine (sims.engine.sde).

Paper Sec. 3 (slow SDEs; time t = eta^2 * steps, alpha = eta * H fixed). With label noise the per-sample
noise covariance is Sigma = sigma^2 * Hessian on Gamma, so its tangent part vanishes and the slow SDE is the
deterministic flow
    d zeta/dt = -sigma^2/(4B) * (1 + (K-1) psi(2 alpha lambda(zeta))) * P_zeta grad tr Hessian(zeta)
(`theory.local_sgd.bilinear_slow_drift`, the bilinear toy's flow); K = 1 or alpha = 0 is SGD.
It is integrated here in the full parameter space, over many starting points at once, and read through the
projection Phi (the Euler steps leave Gamma by O(dt^2) each).
"""
from __future__ import annotations

import numpy as np

from theory.local_sgd import bilinear_slow_drift


def integrate_slow_flow(toy, zeta0: np.ndarray, t1: float, n_steps: int, batch: int, K: int = 1,
                        alpha: float = 0.0, n_record: int = 100, seed: int = 0):
    """Integrate the slow flow of the bilinear toy `toy` (sims.engine.toys.BilinearRegression) from zeta0 [n, d]
    over [0, t1] with the engine's Euler scheme.

    Returns (t [T], sharpness lambda(Phi(zeta(t))) [T, n], distance |L| = h^2/2 of zeta to Gamma [T, n])."""
    from sims.engine import sde

    every = max(1, n_steps // n_record)

    d = np.asarray(zeta0).shape[-1]
    sigma = float(toy.sigma)

    def drift(t, x):
        return bilinear_slow_drift(x, sigma, batch, K, alpha)

    def zero(t, x):  # label noise: no tangent noise, so the slow SDE is a flow (one idle noise channel)
        return np.zeros((d, 1))

    def observe(x):
        return np.stack([toy.manifold_sharpness(x), toy.value(x)], axis=-1)

    sol = sde.integrate(drift, zero, np.asarray(zeta0, dtype=float), 0.0, float(t1), int(n_steps),
                        method="euler", noise="additive", seed=seed, record_every=every, record_fn=observe)
    rec = np.asarray(sol.records, dtype=float)
    return np.asarray(sol.t, dtype=float), rec[..., 0], rec[..., 1]
