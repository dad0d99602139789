"""Speculative decoding and DistillSpec: acceptance, block efficiency, speed-up, divergences, lenience.

Speculative decoding (Leviathan, Kalman, Matias, "Fast Inference from Transformers via Speculative Decoding",
ICML 2023; Chen et al., "Accelerating Large Language Model Decoding with Speculative Sampling", 2023): a cheap
draft q proposes gamma tokens, the target p scores them in one call, the draft token x is kept with probability
min(1, p(x)/q(x)), the first rejected one is replaced by a sample of the residual norm(max(0, p - q)), and when
all gamma are kept one bonus token is drawn from p. Every emitted token then has exactly the target's law.
DistillSpec (Zhou et al., "DistillSpec: Improving Speculative Decoding via Knowledge Distillation", arXiv
2310.08461, ICLR 2024) trains the draft toward the target with a divergence D(p || q) before decoding.

Distributions lie on the LAST axis of an array; every function broadcasts over the leading axes. Pure numpy and
scipy, no randomness. What is marked [ours] is our derivation, not a statement of the papers:

* `acceptance` = sum_x min(p, q) = 1 - `tv` (Leviathan et al., Sec. 3; notes Sec. 4.1);
* `block_efficiency` tau = (1 - alpha^(gamma+1)) / (1 - alpha) tokens per target call when every draft token
  is accepted independently with probability alpha (Leviathan et al., Sec. 3; notes Sec. 4.1);
  `block_efficiency_positions` for acceptance that depends on the position in the block [ours, same argument];
  `jensen_gap` [ours] for acceptance that varies between contexts (tau is convex in alpha, so the formula at
  the mean alpha underestimates);
* `speedup` = tau / (gamma c + 1) (Leviathan et al., Thm 3.8), `best_gamma` maximising it;
* the divergences of DistillSpec's objective (its Eq. 2, notes Sec. 4.2: forward KL, reverse KL, generalised
  JSD[beta], TVD) and their gradients in the draft's logits, in closed form [ours, by the softmax chain rule];
* `onpolicy_bound` alpha >= 1 - T eps (DistillSpec's on-policy guarantee, SECONDARY in the research notes,
  proved for a fixed length T in the notes' section 4.2 [ours]), and `history_tv_terms`, both sides of it by
  exact enumeration;
* lossy speculative decoding (DistillSpec's lossy variant, SECONDARY): a lenience function f(p, eps) replaces p
  in the acceptance test; `lossy_emitted_law` assumes the standard residual after a rejection, which is OUR choice:
  the residual the paper uses in its lossy variant is UNVERIFIED;
* `no_correction_law`: the first-token law of a broken sampler that resamples the draft after a rejection (a
  negative control for the exactness tests).
"""
from __future__ import annotations

import numpy as np
from scipy import special

DIVERGENCES = ("fkl", "rkl", "jsd", "tvd")
LENIENCE = ("linear", "quadratic", "exponential")


# Argument checks: one sentence naming the parameter (ValueError; theory knows nothing of sims, see DESIGN.md).
def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def _probability(name: str, value, open_low: bool = False, open_high: bool = False) -> None:
    v = float(value)
    if not np.isfinite(v) or (v <= 0 if open_low else v < 0) or (v >= 1 if open_high else v > 1):
        lo, hi = ("(0" if open_low else "[0"), ("1)" if open_high else "1]")
        raise ValueError(f"{name} must lie in {lo}, {hi}, got {value!r}.")


def _one_of(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _alpha(alpha) -> np.ndarray:
    """alpha as a float array, every entry in [0, 1]; ValueError naming `alpha` otherwise."""
    a = _arr(alpha)
    if not np.all((a >= 0.0) & (a <= 1.0)):
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}.")
    return a


# ---- one draft token ---------------------------------------------------------------------------------------
def acceptance(p, q) -> np.ndarray:
    """The probability that a draft token x ~ q survives the test u < p(x)/q(x): sum_x q min(1, p/q) =
    sum_x min(p, q) = 1 - TV(p, q) (Leviathan et al. 2023, Sec. 3: beta = 1 - D_LK(p, q))."""
    return np.minimum(_arr(p), _arr(q)).sum(axis=-1)


def tv(p, q) -> np.ndarray:
    """Total-variation distance 0.5 sum_x |p(x) - q(x)|."""
    return 0.5 * np.abs(_arr(p) - _arr(q)).sum(axis=-1)


def residual(p, q) -> np.ndarray:
    """The law sampled after a rejection: norm(max(0, p - q)) (Leviathan et al. 2023, Algorithm 1). Where p and q
    agree the residual has no mass and a rejection never happens; p is returned there so that the result is
    always a distribution."""
    p, q = np.broadcast_arrays(_arr(p), _arr(q))
    r = np.maximum(0.0, p - q)
    mass = r.sum(axis=-1, keepdims=True)
    return np.where(mass > 0, r / np.where(mass > 0, mass, 1.0), p)


# ---- blocks of gamma draft tokens --------------------------------------------------------------------------
def _gamma(gamma) -> np.ndarray:
    """gamma as an integer array, every entry >= 1 (a Python or numpy integer, or an array of them); ValueError
    naming `gamma` otherwise."""
    g = np.asarray(gamma)
    if g.dtype.kind not in "iu" or g.size == 0 or np.any(g < 1):
        raise ValueError(f"gamma must be an integer >= 1 (or an array of them), got {gamma!r}.")
    return g


def block_efficiency(alpha, gamma) -> np.ndarray:
    """Expected tokens per target call tau = sum_{i=0}^{gamma} alpha^i = (1 - alpha^(gamma+1)) / (1 - alpha) when
    each draft token is accepted independently with probability alpha (Leviathan et al. 2023, Sec. 3); gamma + 1
    at alpha = 1 (the limit). 1 <= tau <= gamma + 1. alpha and gamma (integers >= 1) broadcast together.
    Evaluated as -expm1((gamma + 1) ln alpha) / (1 - alpha), which keeps full relative precision near alpha = 1
    (1 - alpha is exact there) where the textbook quotient loses digits."""
    a, g = np.broadcast_arrays(_alpha(alpha), _gamma(gamma))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = -np.expm1((g + 1) * np.log(a)) / (1.0 - a)
    tau = np.where(a < 1.0, ratio, g + 1.0)
    return tau if tau.ndim else tau[()]


def block_efficiency_positions(alphas) -> np.ndarray:
    """[ours] tau when the i-th draft token of a block is accepted with probability alphas[..., i-1], given that
    the ones before it were: the block emits 1 + (number of leading accepts) tokens, and P(first i accepted) =
    prod_{j<=i} alpha_j, so tau = 1 + sum_{i=1}^{gamma} prod_{j<=i} alpha_j (gamma = alphas.shape[-1])."""
    a = _alpha(alphas)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError("alphas must have at least one position on its last axis.")
    return 1.0 + np.cumprod(a, axis=-1).sum(axis=-1)


def jensen_gap(alphas_per_context, gamma: int) -> np.ndarray:
    """[ours] mean_c tau(alpha_c) - tau(mean_c alpha_c), contexts on the last axis: how much the block-efficiency
    formula at the average acceptance underestimates tau when acceptance varies between contexts (each block
    drawn in a context c whose tokens are accepted i.i.d. with rate alpha_c).

    Proof sketch: tau(a) = sum_{i=0}^{gamma} a^i has tau''(a) = sum_{i>=2} i (i-1) a^(i-2) >= 0 on [0, 1],
    strictly positive for gamma >= 2, so tau is convex and Jensen's inequality gives E tau(alpha_c) >=
    tau(E alpha_c), with equality for gamma = 1 (tau linear) or a constant alpha_c. The gap is >= 0."""
    a = _alpha(alphas_per_context)
    return block_efficiency(a, gamma).mean(axis=-1) - block_efficiency(a.mean(axis=-1), gamma)


def expected_accepted(alpha, gamma) -> np.ndarray:
    """Expected number of accepted draft tokens per block, tau - 1 = alpha (1 - alpha^gamma) / (1 - alpha)."""
    return block_efficiency(alpha, gamma) - 1.0


def speedup(alpha, gamma, c) -> np.ndarray:
    """Expected wall-clock speed-up over plain decoding, tau / (gamma c + 1), where c = (draft step time) /
    (target step time) and one block costs gamma draft steps and one target call (Leviathan et al. 2023,
    Thm 3.8). For gamma = 1 it is (1 + alpha) / (1 + c), above 1 iff alpha > c [ours, direct algebra]."""
    c = _arr(c)
    if not np.all(c >= 0):
        raise ValueError(f"c must be non-negative, got {c!r}.")
    return block_efficiency(alpha, gamma) / (gamma * c + 1.0)


def best_gamma(alpha, c, max_gamma: int = 16):
    """The block length gamma in 1..max_gamma that maximises `speedup(alpha, gamma, c)` (the smallest one on a
    tie); an int for scalar inputs, an int array otherwise."""
    _positive_int("max_gamma", max_gamma)
    s = np.stack([speedup(alpha, g, c) for g in range(1, max_gamma + 1)], axis=-1)
    best = np.argmax(s, axis=-1) + 1
    return int(best) if best.ndim == 0 else best


# ---- divergences of DistillSpec ----------------------------------------------------------------------------
def fkl(p, q) -> np.ndarray:
    """Forward KL(p || q) = sum_x p log(p/q) (mode covering; 0 log 0 = 0, +inf if q = 0 where p > 0)."""
    return special.rel_entr(_arr(p), _arr(q)).sum(axis=-1)


def rkl(p, q) -> np.ndarray:
    """Reverse KL(q || p) = sum_x q log(q/p) (mode seeking)."""
    return special.rel_entr(_arr(q), _arr(p)).sum(axis=-1)


def _beta(beta: float) -> float:
    _probability("beta", beta, open_low=True, open_high=True)
    return float(beta)


def jsd(p, q, beta: float = 0.5) -> np.ndarray:
    """Generalised Jensen-Shannon divergence JSD[beta] = beta KL(p || m) + (1 - beta) KL(q || m) with
    m = beta p + (1 - beta) q, beta in (0, 1) (DistillSpec, notes Sec. 4.2, after Agarwal et al.'s GKD). Always finite
    (at most the binary entropy of beta); symmetric in p, q at beta = 0.5."""
    b = _beta(beta)
    p, q = _arr(p), _arr(q)
    m = b * p + (1.0 - b) * q
    return b * special.rel_entr(p, m).sum(axis=-1) + (1.0 - b) * special.rel_entr(q, m).sum(axis=-1)


def tvd(p, q) -> np.ndarray:
    """Total-variation distance, the divergence whose minimisation maximises acceptance (acceptance = 1 - TVD)."""
    return tv(p, q)


def divergence(name: str, p, q, beta: float = 0.5) -> np.ndarray:
    """D(p || q) for `name` in DIVERGENCES (target p, draft q); beta is used by "jsd" only."""
    _one_of("divergence", name, DIVERGENCES)
    if name == "jsd":
        return jsd(p, q, beta)
    return {"fkl": fkl, "rkl": rkl, "tvd": tvd}[name](p, q)


def _softmax_chain(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Gradient with respect to logits z of a function of q = softmax(z) whose gradient in q is g:
    dD/dz_k = q_k (g_k - sum_x q_x g_x)."""
    return q * (g - (q * g).sum(axis=-1, keepdims=True))


def divergence_grad_logits(name: str, p, z, beta: float = 0.5) -> np.ndarray:
    """Gradient of divergence(name, p, softmax(z)) with respect to the draft logits z [ours, softmax chain rule
    dD/dz = q * (g - <q, g>) with g = dD/dq]:

    * fkl: g = -p/q, so dD/dz = q - p (p a distribution);
    * rkl: g = log(q/p) + 1, so dD/dz = q * (log(q/p) - KL(q || p)) (needs p > 0: KL(q || p) is infinite
      otherwise);
    * jsd: g = (1 - beta) log(q/m) (the p/m terms cancel), so dD/dz = (1 - beta) q * (log(q/m) - KL(q || m));
    * tvd: the subgradient with g = 0.5 sign(q - p), sign(0) = 0.
    """
    _one_of("divergence", name, DIVERGENCES)
    p = _arr(p)
    logq = special.log_softmax(_arr(z), axis=-1)
    q = np.exp(logq)
    if name == "fkl":
        return q * p.sum(axis=-1, keepdims=True) - p
    if name == "rkl":
        return _softmax_chain(q, logq - np.log(p))
    if name == "jsd":
        b = _beta(beta)
        m = b * p + (1.0 - b) * q
        return _softmax_chain(q, (1.0 - b) * (logq - np.log(m)))
    return _softmax_chain(q, 0.5 * np.sign(q - p))


# ---- the on-policy guarantee -------------------------------------------------------------------------------
def onpolicy_bound(eps, T: int) -> np.ndarray:
    """alpha >= 1 - T eps: DistillSpec's on-policy guarantee (its Theorem 1 / 4.1, SECONDARY in the research
    notes) for a fixed length T, eps the on-policy TVD loss (mean over draft-generated sequences of the per-token
    average TV(p_t, q_t)). Proof sketch [ours, notes Sec. 4.2]: with f_t = TV(p_t, q_t) in [0, 1],
    E_p[f_t] <= E_q[f_t] + TV(p_<t, q_<t) <= E_q[f_t] + sum_{s<t} E_q[f_s]; summing over t <= T gives
    E_p[sum f] <= T E_q[sum f] = T^2 eps and alpha = 1 - E_p[sum f] / T >= 1 - T eps. Vacuous once T eps >= 1."""
    _positive_int("T", T)
    e = _arr(eps)
    if not np.all((e >= 0.0) & (e <= 1.0)):
        raise ValueError(f"eps must lie in [0, 1], got {eps!r}.")
    return 1.0 - T * e


def _prefix_weights(cond: list) -> list:
    """Probability of every prefix of length t = 0..T-1 under next-token laws cond[t] of shape (V,) * (t + 1)."""
    weights = [np.ones(())]
    for law in cond[:-1]:
        weights.append(weights[-1][..., None] * law)
    return weights


def history_tv_terms(p_cond, q_cond) -> tuple[float, float]:
    """[ours] The two sides of `onpolicy_bound`, exactly, for history-dependent models of fixed length T:
    p_cond[t], q_cond[t] of shape (V,) * (t + 1) hold the target's and the draft's next-token laws after every
    prefix y_0..y_{t-1} (t = 0..T-1). Returns (alpha, eps) with f_t(y_<t) = TV(p_t, q_t),
    alpha = 1 - E_{y ~ p}[sum_t f_t] / T (the acceptance averaged along target sequences, DistillSpec's Eq. 3 with
    L_p = T) and eps = E_{y ~ q}[sum_t f_t] / T (the on-policy TVD loss). Enumerates V^T prefixes."""
    if len(p_cond) != len(q_cond) or len(p_cond) == 0:
        raise ValueError("p_cond and q_cond must hold the same positive number of positions.")
    p_cond, q_cond = [_arr(x) for x in p_cond], [_arr(x) for x in q_cond]
    for t, (p, q) in enumerate(zip(p_cond, q_cond)):
        if p.shape != q.shape or p.ndim != t + 1 or len(set(p.shape)) != 1:
            raise ValueError(f"p_cond[{t}] and q_cond[{t}] must both have shape (V,) * {t + 1}.")
    f = [tv(p, q) for p, q in zip(p_cond, q_cond)]
    along_p = sum(float(np.sum(w * ft)) for w, ft in zip(_prefix_weights(p_cond), f))
    along_q = sum(float(np.sum(w * ft)) for w, ft in zip(_prefix_weights(q_cond), f))
    T = len(p_cond)
    return 1.0 - along_p / T, along_q / T


# ---- lossy speculative decoding ----------------------------------------------------------------------------
def _lenience_args(epsilon, kind: str) -> None:
    _probability("epsilon", epsilon, open_low=True)
    _one_of("lenience", kind, LENIENCE)


def lenience(p, epsilon, kind: str):
    """The lenience function f(p, eps) that replaces p in the lossy acceptance test min(1, f(p(x), eps)/q(x))
    (DistillSpec, lossy speculative decoding, SECONDARY): linear p/eps, quadratic p/eps^2, exponential p^eps,
    eps in (0, 1]; eps = 1 gives f = p (lossless). For p in [0, 1] each f is >= p and non-increasing in eps.
    Written with arithmetic operators only, so p may be a numpy array, a float or a torch tensor."""
    _lenience_args(epsilon, kind)
    if kind == "linear":
        return p / epsilon
    if kind == "quadratic":
        return p / (epsilon * epsilon)
    return p ** epsilon


def lossy_acceptance(p, q, epsilon, kind: str) -> np.ndarray:
    """Probability that a draft token x ~ q passes the lossy test u < f(p(x), eps)/q(x): sum_x min(q, f(p))."""
    f = lenience(_arr(p), epsilon, kind)
    return np.minimum(_arr(q), f).sum(axis=-1)


def lossy_emitted_law(p, q, epsilon, kind: str) -> np.ndarray:
    """Law of the token emitted at a position of lossy speculative decoding: the draft token survives the lossy
    test with probability min(q, f(p)) per token, and a rejection (probability 1 - sum min(q, f)) is followed by
    a sample of the STANDARD residual norm(max(0, p - q)). That residual is our choice: the one the paper uses in
    its lossy variant is UNVERIFIED.

    [ours] The result equals p at eps = 1, tends to q as eps -> 0 when q puts no mass outside the support of p
    (f -> inf, or p^eps -> 1, wherever p > 0),
    and its distance to p is TV(law, p) = lossy_acceptance - acceptance (the extra mass accepted where q > p,
    taken from the residual where p > q), hence non-increasing in eps."""
    p, q = _arr(p), _arr(q)
    kept = np.minimum(q, lenience(p, epsilon, kind))
    rejected = 1.0 - kept.sum(axis=-1, keepdims=True)
    return kept + rejected * residual(p, q)


# ---- broken samplers (negative controls) -------------------------------------------------------------------
def no_correction_law(p, q) -> np.ndarray:
    """First-token law of a broken sampler that, after a rejection, emits a fresh draft sample instead of a
    residual sample: min(p, q) + (1 - acceptance(p, q)) q. Differs from p whenever p != q."""
    p, q = _arr(p), _arr(q)
    return np.minimum(p, q) + (1.0 - acceptance(p, q))[..., None] * q
