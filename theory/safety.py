"""Token-wise constrained fine-tuning objective of "Safety Alignment Should Be Made More Than Just a Few Tokens Deep".

Paper: Qi, Panda, Lyu, Ma, Roy, Beirami, Mittal, Henderson, arXiv 2406.05946, ICLR 2025 (official code
`Unispac/shallow-vs-deep-alignment`, file `finetuning_buckets/trainer/trainer.py`). Sources used here: the
research notes `shared/papers/llm_papers.md`, sections 2.7 (objective, limits, gradient, code details, beta
schedule) and 2.11 (toy checks T2.3 and T2.4); the beta schedule and the weight clamp were also read in the official
`trainer.py` (commit 170f0acf).

Notation: for one target token y_t in context c_t, logp_theta = log pi_theta(y_t | c_t) (model being
fine-tuned), logp_aligned = log pi_a(y_t | c_t) (frozen aligned model), Delta = logp_aligned - logp_theta,
S(z) = log(1 + e^z) the softplus, sigma the logistic sigmoid. Arrays broadcast elementwise. Pure numpy/scipy.

* `constrained_token_loss`: (2/beta) S(beta Delta) (paper Eq. 3 rewritten as Eq. 4/10);
* `gradient_weight`: w = 2 sigma(beta Delta), the factor on -grad log pi_theta (Eq. 5 / App. F.2);
  `clamped_weight`: the official code's max(w, 1e-3), which differs from the maths;
* `beta_schedule`: the per-position beta of Sec. 4.2 (0.5, then 2 for positions 2-5, then 0.1);
* `small_beta_limit`, `large_beta_limit`: the limits of App. F.1 (Theorems 1-2) with explicit error bounds;
* `theorem3_limit_loss`: the beta -> infinity loss on categorical distributions (Theorem 3);
* `ce_growth`, `constrained_growth` [ours]: small-probability closed forms for the growth of a target token's
  probability under gradient steps, and `simulate_token_growth`, the exact iteration they approximate (T2.4).
"""
from __future__ import annotations

import numpy as np
from scipy import special


# Argument checks: one sentence naming the parameter (ValueError).
def _logprob(name: str, value) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a > 0):
        raise ValueError(f"{name} must hold finite log-probabilities (<= 0), got {value!r}.")
    return a


def _beta(value, name: str = "beta") -> np.ndarray:
    b = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}.")
    return b


def _broadcast(*pairs) -> tuple:
    try:
        return np.broadcast_arrays(*[a for _, a in pairs])
    except ValueError:
        names = ", ".join(n for n, _ in pairs)
        shapes = ", ".join(str(np.shape(a)) for _, a in pairs)
        raise ValueError(f"{names} must have broadcastable shapes, got {shapes}.") from None


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def _nonneg_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")


def _positive(name: str, value) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}.")
    return v


def _open_prob(name: str, value) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0 or v >= 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}.")
    return v


def _softplus(x: np.ndarray) -> np.ndarray:
    """Stable S(x) = log(1 + e^x) = max(x, 0) + log1p(e^{-|x|})."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _inputs(logp_theta, logp_aligned, beta):
    lt = _logprob("logp_theta", logp_theta)
    la = _logprob("logp_aligned", logp_aligned)
    b = _beta(beta)
    return _broadcast(("logp_theta", lt), ("logp_aligned", la), ("beta", b))


# ----------------------------------------------------------------------------------------------------------------
# The loss and its gradient weight.
def delta(logp_theta, logp_aligned) -> np.ndarray:
    """Delta = log pi_a(y_t|c_t) - log pi_theta(y_t|c_t) (notes Sec. 2.7, the argument of the softplus in Eq. 4).

    Positive while the fine-tuned model gives the target token less probability than the aligned model.
    """
    lt = _logprob("logp_theta", logp_theta)
    la = _logprob("logp_aligned", logp_aligned)
    lt, la = _broadcast(("logp_theta", lt), ("logp_aligned", la))
    return la - lt


def constrained_token_loss(logp_theta, logp_aligned, beta) -> np.ndarray:
    """Per-token constrained loss l = -(2/beta) log sigma(beta (logp_theta - logp_aligned)) = (2/beta) S(beta Delta).

    Paper Eq. 3 (per token), rewritten with -log sigma(-z) = S(z) as Eq. 4/10. The softplus is evaluated in the
    overflow-free form max(z, 0) + log1p(e^{-|z|}). beta > 0 may be an array (one value per position).
    """
    lt, la, b = _inputs(logp_theta, logp_aligned, beta)
    return (2.0 / b) * _softplus(b * (la - lt))


def gradient_weight(logp_theta, logp_aligned, beta) -> np.ndarray:
    """Adaptive weight w = 2 sigma(beta Delta) with grad l = -w grad log pi_theta(y_t|c_t) (paper Eq. 5, App. F.2).

    Equivalently w = -d l / d logp_theta. w = 1 at Delta = 0 (the SFT / cross-entropy gradient at initialisation)
    and w -> 0 once pi_theta(y_t) rises above pi_a(y_t).
    """
    lt, la, b = _inputs(logp_theta, logp_aligned, beta)
    return 2.0 * special.expit(b * (la - lt))


def clamped_weight(logp_theta, logp_aligned, beta, floor: float = 1e-3) -> np.ndarray:
    """The official code's weight max(2 (1 - sigma(beta (logp_theta - logp_ref))), floor), floor = 1e-3.

    Notes Sec. 2.7 ("Implementation detail"): the code detaches the weight and clamps it at >= 1e-3. This
    DIFFERS from the maths of Eq. 5: with the clamp the gradient never fully vanishes, so the token keeps
    being pushed up at rate >= floor even far above the aligned model's probability. (The code's reported loss
    VALUE is -w.detach() * logp_theta, not Eq. 3; only its gradient matches Eq. 5, up to the clamp.)
    """
    f = float(floor)
    if not np.isfinite(f) or f < 0 or f > 2:
        raise ValueError(f"floor must lie in [0, 2], got {floor!r}.")
    return np.maximum(gradient_weight(logp_theta, logp_aligned, beta), f)


def beta_schedule(n_positions: int, beta: float = 0.1, first_token_bias_factor: float = 5.0,
                  bias_factor: float = 20.0, bias_length: int = 5) -> np.ndarray:
    """Per-position beta_t, t = 1..n_positions, of the paper's experiments (Sec. 4.2; notes Sec. 2.7).

    The notes give the code flags `--beta 0.1 --first_token_bias_factor 5 --bias_factor 20 --bias_length 5` and
    the resulting values beta_1 = 0.5, beta_t = 2 for t = 2..5, beta_t = 0.1 for t > 5. We read the flags as
    beta_1 = beta * first_token_bias_factor, beta_t = beta * bias_factor for 2 <= t <= bias_length, and
    beta_t = beta after (no first-token override when bias_length = 0); with the defaults this gives exactly the
    values stated in the notes. This matches the official code's `get_beta_list` in
    `finetuning_buckets/trainer/trainer.py` (read at commit 170f0acf of Unispac/shallow-vs-deep-alignment).
    The first token gets the weaker value because its initial loss is already high and its sigmoid would
    saturate too fast (code comment).
    """
    _positive_int("n_positions", n_positions)
    _nonneg_int("bias_length", bias_length)
    b = float(_beta(beta))
    fb = _positive("first_token_bias_factor", first_token_bias_factor)
    bf = _positive("bias_factor", bias_factor)
    out = np.full(n_positions, b)
    out[:min(bias_length, n_positions)] = b * bf
    if bias_length > 0:
        out[0] = b * fb
    return out


# ----------------------------------------------------------------------------------------------------------------
# Limits (App. F.1).
def small_beta_limit(logp_theta, logp_aligned, beta) -> tuple[np.ndarray, np.ndarray]:
    """beta -> 0 limit (App. F.1, Theorem 1): l ~ -logp_theta + (2/beta) log 2 + logp_aligned, error <= beta Delta^2 / 4.

    Returns (limit, bound). The limit is the cross-entropy -log pi_theta(y_t) plus a theta-independent shift.
    Bound: Taylor S(x) = log 2 + x/2 + R with |R| <= x^2 / 8 because 0 < S'' <= 1/4; with x = beta Delta and
    the prefactor 2/beta this gives |l - limit| <= beta Delta^2 / 4 (notes Sec. 2.7).
    """
    lt, la, b = _inputs(logp_theta, logp_aligned, beta)
    d = la - lt
    return -lt + (2.0 / b) * np.log(2.0) + la, b * d * d / 4.0


def large_beta_limit(logp_theta, logp_aligned, beta) -> tuple[np.ndarray, np.ndarray]:
    """beta -> infinity limit (App. F.1, Theorem 2): l -> 2 max(Delta, 0), error <= (2/beta) e^{-beta |Delta|}.

    Returns (limit, bound). Exactly l - 2 max(Delta, 0) = (2/beta) log(1 + e^{-beta |Delta|}), which lies in
    (0, (2/beta) e^{-beta |Delta|}] since log(1 + u) <= u (notes Sec. 2.7).
    """
    lt, la, b = _inputs(logp_theta, logp_aligned, beta)
    d = la - lt
    return 2.0 * np.maximum(d, 0.0), (2.0 / b) * np.exp(-b * np.abs(d))


def theorem3_limit_loss(p_data, pi_theta, pi_aligned) -> np.ndarray:
    """Limiting loss sum_y p_data(y) max(Delta(y), 0), Delta(y) = log pi_a(y) - log pi_theta(y) (App. F.1, Theorem 3).

    Categorical distributions lie on the last axis (same shapes; pi_theta and pi_aligned strictly positive).
    The value is >= 0, and when p_data > 0 everywhere it is 0 iff pi_theta == pi_aligned: Delta <= 0 for every
    y means pi_a <= pi_theta pointwise and both sum to 1. (The beta -> infinity loss of `large_beta_limit` is
    twice the per-token term.)
    """
    p = np.asarray(p_data, dtype=float)
    t = np.asarray(pi_theta, dtype=float)
    a = np.asarray(pi_aligned, dtype=float)
    if not (p.shape == t.shape == a.shape) or p.ndim == 0:
        raise ValueError(f"p_data, pi_theta and pi_aligned must have the same non-scalar shape, got "
                         f"{p.shape}, {t.shape}, {a.shape}.")
    for name, x, strict in (("p_data", p, False), ("pi_theta", t, True), ("pi_aligned", a, True)):
        bad = (x <= 0) if strict else (x < 0)
        if not np.all(np.isfinite(x)) or np.any(bad) or not np.allclose(x.sum(-1), 1.0, atol=1e-9):
            kind = "strictly positive" if strict else "non-negative"
            raise ValueError(f"{name} must hold {kind} probabilities summing to 1 on the last axis.")
    return np.sum(p * np.maximum(np.log(a) - np.log(t), 0.0), axis=-1)


# ----------------------------------------------------------------------------------------------------------------
# Fine-tuning-attack dynamics (T2.4).
def ce_growth(pi0, eta, t) -> np.ndarray:
    """[ours] Target-token probability after t cross-entropy gradient steps of size eta: pi(t) ~ pi0 e^{eta t}.

    Regime: binary softmax (target logit z vs the rest fixed at 0), plain gradient descent on z, pi small
    throughout. Derivation: d(-log pi)/dz = -(1 - pi) ~ -1, so z grows by eta per step and log pi ~ z. Error
    is of relative order pi(t) (the neglected 1 - pi factors). Notes Sec. 2.11, T2.4.
    """
    p = _open_prob("pi0", pi0)
    e = _positive("eta", eta)
    tt = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(tt)) or np.any(tt < 0):
        raise ValueError(f"t must be finite and >= 0, got {t!r}.")
    return p * np.exp(e * tt)


def constrained_growth(pi0, eta, t, beta) -> np.ndarray:
    """[ours] Same under the constrained loss, started at the aligned model: pi(t) ~ pi0 (1 + 2 beta eta t)^{1/beta}.

    Regime: as `ce_growth` (pi small, 1 - pi ~ 1) and pi_a = pi0. Derivation sketch: with u = log pi - log pi_a
    = -Delta, du/dt = eta w = 2 eta sigma(-beta u) (Eq. 5 weight). For beta u >> 0, w ~ 2 (pi_a/pi)^beta =
    2 e^{-beta u}, so d e^{beta u}/dt = 2 beta eta and e^{beta u} = 1 + 2 beta eta t. Keeping the exact sigmoid
    gives e^{beta u} = 1 + beta (2 eta t - u), so the closed form overestimates pi by a relative amount
    ~ u / (1 + 2 beta eta t) (plus the Euler discretisation error); it is good when 2 beta eta t >> u, poor for
    small beta. Growth is polynomial in t, versus exponential for cross-entropy. Notes Sec. 2.11, T2.4.
    """
    p = _open_prob("pi0", pi0)
    e = _positive("eta", eta)
    b = _beta(beta)
    tt = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(tt)) or np.any(tt < 0):
        raise ValueError(f"t must be finite and >= 0, got {t!r}.")
    return p * (1.0 + 2.0 * b * e * tt) ** (1.0 / b)


def simulate_token_growth(pi0, eta, steps: int, beta=None) -> np.ndarray:
    """Exact gradient iteration behind T2.4 (notes Sec. 2.11): returns pi_0, ..., pi_steps (length steps + 1).

    Binary softmax: target logit z (the rest of the vocabulary one logit fixed at 0), pi = sigma(z), started at
    the aligned model, pi(0) = pi_a = pi0. Each step z <- z + eta w (1 - pi), which is gradient descent on the
    per-token loss since d log pi / dz = 1 - pi; w = 1 for cross-entropy (beta=None) and w = 2 sigma(beta Delta)
    for the constrained loss (Eq. 5), Delta = log pi0 - log pi.
    """
    p0 = _open_prob("pi0", pi0)
    e = _positive("eta", eta)
    _nonneg_int("steps", steps)
    b = None if beta is None else float(_beta(beta))
    logpa = np.log(p0)
    z = special.logit(p0)
    out = np.empty(steps + 1)
    out[0] = p0
    for s in range(1, steps + 1):
        logpi = -np.logaddexp(0.0, -z)
        w = 1.0 if b is None else 2.0 * special.expit(b * (logpa - logpi))
        z = z + e * w * special.expit(-z)
        out[s] = special.expit(z)
    return out
