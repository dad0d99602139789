"""Memory lower bounds for in-context retrieval (Wen, Dang, Lyu, "RNNs are not Transformers (Yet): The Key
Bottleneck on In-context Retrieval", arXiv 2402.18510, ICLR 2025).

An RNN (any streaming state machine: state of s bits, transition t(state, token), output o(state)) that has
read the context is summarised by its s-bit state; whatever it writes afterwards (chain of thought included)
is a function of that state and of what it reads later. Solving a retrieval task therefore gives a one-way
protocol with an s-bit message, and one-way INDEX gives s = Omega(n) (Thm 4.6 for Index, associative recall,
c-gram retrieval and Counting; Thm 4.7 for IsTree, ICLR-version numbering).

This module gives the quantitative form used by the simulations [ours, derived from Fano's inequality; the
paper states the asymptotic Omega(n)]:

    f_V(p) = log2 V - h2(p) - (1 - p) log2(V - 1)      (bits a state must carry per key for success p >= 1/V)

With m independent uniform values on an alphabet of size V and a query chosen uniformly among the keys, any
s-bit state gives average success P with m f_V(P) <= s (Fano per key, summed over independent values, and
Jensen since f_V is convex). `ar_success_upper_bound` solves this for P. Pure numpy/scipy, no randomness.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

TASKS = ("index", "ar", "cgram", "counting", "istree")
_LN2 = math.log(2.0)


def binary_entropy(p) -> np.ndarray:
    """h2(p) = -p log2 p - (1-p) log2 (1-p) in bits (h2(0) = h2(1) = 0)."""
    p = np.asarray(p, dtype=float)
    return -(special.xlogy(p, p) + special.xlog1py(1 - p, -p)) / _LN2


# phi(x) = (1+x) ln(1+x) - x = sum_{k>=2} (-x)^k / (k (k-1)); the series is used for |x| < 0.1, where the closed
# form cancels (it is x^2/2 + O(x^3) from two terms of size |x|). 17 terms leave a relative error below 1e-17.
_SERIES_RADIUS = 0.1
_PHI_SERIES = tuple(1.0 / ((j + 2) * (j + 1)) for j in range(17))
_RTOL = 4 * np.finfo(float).eps                    # the tightest relative tolerance brentq accepts


def _phi(x) -> np.ndarray:
    """phi(x) = (1+x) ln(1+x) - x >= 0 for x >= -1 (phi(-1) = 1, phi(0) = 0 exactly), accurate to a few ulps
    everywhere, also near 0 where the closed form loses all its digits."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < _SERIES_RADIUS
    y = -np.where(small, x, 0.0)
    series = np.zeros_like(y)
    for c in reversed(_PHI_SERIES):
        series = series * y + c
    closed = special.xlog1py(1 + x, np.where(small, 0.0, x)) - x
    return np.where(small, y * y * series, closed)


def _fano_nats_above_chance(d, q: float) -> np.ndarray:
    """f_V(q + d) in nats (q = 1/V, 0 <= d <= 1 - q) in its Kullback-Leibler form

        f_V(p) = D(Bern(p) || Bern(q)) = q phi(d / q) + (1 - q) phi(-d / (1 - q)),

    a sum of two non-negative terms with no cancellation: exactly 0 at d = 0, d^2 / (2 q (1-q)) + O(d^3) above,
    to full relative precision (the caller passes d exactly; d = p - q is exact for p <= 2q)."""
    d = np.asarray(d, dtype=float)
    return q * _phi(d / q) + (1 - q) * _phi(-d / (1 - q))


def _fano_deficit_nats(e, V: int) -> np.ndarray:
    """ln V - f_V(1 - e) = h(e) + e ln(V - 1) in nats (h the binary entropy in nats): the information a state
    may lack and still succeed with probability 1 - e. Non-negative terms, exactly 0 at e = 0."""
    e = np.asarray(e, dtype=float)
    return -special.xlogy(e, e) - special.xlog1py(1 - e, -e) + e * math.log(V - 1)


def fano_bits_per_key(p, V: int) -> np.ndarray:
    """f_V(p) = log2 V - h2(p) - (1-p) log2(V-1): the mutual information a state must share with one uniform
    V-ary value for a decoder to guess it with probability p (Fano's inequality); 0 for p <= 1/V, and
    log2 V at p = 1. Increasing and convex on [1/V, 1].

    f_V(p) equals the Kullback-Leibler divergence D(Bern(p) || Bern(q)) / ln 2 with q = 1/V (expand
    p log2(p/q) + (1-p) log2((1-p)/(1-q))), which vanishes quadratically at chance,
    f_V(q + d) = d^2 / (2 ln 2 q (1-q)) + O(d^3); the difference of O(1) terms above leaves rounding noise of
    1e-15 bits there instead (1/V = 0.05 gave 8.9e-16). The lower half [q, (1+q)/2] is computed from d = p - q in
    that form, the upper half from e = 1 - p as log2 V minus a deficit. The chance level is the double nearest 1/V
    (what 1.0 / V gives): at it and below f_V is exactly 0, one ulp above it f_V is tiny, positive and correct
    to a few ulps; f_V(1) = log2 V exactly."""
    if V < 2:
        raise ValueError(f"V must be at least 2, got {V}.")
    p = np.asarray(p, dtype=float)
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p must lie in [0, 1], got {p[~((p >= 0) & (p <= 1))].ravel()[0]}.")
    q = 1.0 / V
    p = np.maximum(p, q)
    d, e = p - q, 1 - p
    lower = d <= e
    out = np.where(lower, _fano_nats_above_chance(np.where(lower, d, 0.0), q) / _LN2,
                   math.log2(V) - _fano_deficit_nats(np.where(lower, 0.0, e), V) / _LN2)
    return out if out.ndim else out[()]


def _invert_fano(bits_per_key: float, V: int) -> float:
    """The p in [1/V, 1] with f_V(p) = bits_per_key (1/V at 0, 1 when bits_per_key >= log2 V).

    Solved for the distance to the nearer end, d = p - 1/V on the lower half and e = 1 - p on the upper half,
    to a relative accuracy of 1e-15 in that distance, so that p comes out correctly rounded (to an ulp) near
    either end: P* = q + sqrt(2 ln 2 q (1-q) bits) (1 + O(sqrt(bits))) above chance, and P* is 1 only when
    bits >= log2 V or when the true 1 - P* is below half an ulp of 1."""
    q = 1.0 / V
    if bits_per_key <= 0:
        return q
    if bits_per_key >= math.log2(V):
        return 1.0
    nats = bits_per_key * _LN2
    half = (1 - q) / 2
    if nats <= float(_fano_nats_above_chance(half, q)):
        # 2 d^2 <= KL(Bern(q + d) || Bern(q)) <= d^2 / (q (1-q)) (Pinsker; KL <= chi^2), so the root d lies in
        # [sqrt(nats q (1-q)), sqrt(nats / 2)]; the bracket is widened by 2 on each side against rounding.
        d_lo = 0.5 * math.sqrt(nats * q * (1 - q))
        d_hi = min(half, 2 * math.sqrt(nats / 2))
        if q + d_hi == q:      # q < P* <= q + d_hi, and q + d_hi already rounds to q
            return q
        d = optimize.brentq(lambda x: float(_fano_nats_above_chance(x, q)) - nats, d_lo, d_hi,
                            xtol=1e-300, rtol=_RTOL)
        return q + d
    deficit = (math.log2(V) - bits_per_key) * _LN2
    # h(e) >= 2 ln 2 e on [0, 1/2] (concavity), so the deficit h(e) + e ln(V-1) reaches `deficit` by e_hi
    e_hi = min(half, deficit / (2 * _LN2 + math.log(V - 1)))
    if 1 - e_hi == 1:          # 1 - e_hi <= P* < 1, and 1 - e_hi already rounds to 1
        return 1.0
    if float(_fano_deficit_nats(e_hi, V)) <= deficit:     # only by rounding, at e_hi = half
        return 1 - e_hi
    e = optimize.brentq(lambda x: float(_fano_deficit_nats(x, V)) - deficit, 0.0, e_hi, xtol=1e-300, rtol=_RTOL)
    return 1 - e


def ar_success_upper_bound(s_bits, m, V: int) -> np.ndarray:
    """P*(s, m, V): the largest average success probability of any algorithm that answers one uniformly chosen
    query of associative recall (or Index) from an s-bit summary of m key-value pairs with independent uniform
    values on V symbols. Solves m f_V(P*) = s; P* = 1 once s >= m log2 V, P* = 1/V at s = 0. [ours; the
    quantitative form of Thm 4.6]"""
    s, m = np.broadcast_arrays(np.asarray(s_bits, dtype=float), np.asarray(m, dtype=float))
    if not (np.all(s >= 0) and np.all(m >= 1)):     # also rejects NaN
        raise ValueError("s_bits must be >= 0 and m >= 1.")
    out = np.array([_invert_fano(si / mi, V) for si, mi in zip(s.ravel(), m.ravel())]).reshape(s.shape)
    return out if out.ndim else float(out)


def ar_multiquery_upper_bound(s_bits: float, m: int, V: int, n_queries: int) -> np.ndarray:
    """Per-query bounds when queries j = 1..r (distinct keys) follow the pairs and the answers to earlier
    queries are revealed: given the revealed values, the m-j+1 remaining values are still independent and
    uniform, so query j succeeds with probability <= P*(s, m-j+1, V). Returns the r bounds. [ours]"""
    if not 1 <= n_queries <= m:
        raise ValueError(f"n_queries must lie in [1, m={m}], got {n_queries}.")
    return np.array([ar_success_upper_bound(s_bits, m - j, V) for j in range(n_queries)])


def ar_prefix_store_success(s_bits, m, V: int, key_bits: int = 0) -> np.ndarray:
    """Success of the simple achievable algorithm: store the first k = floor(s / (key_bits + ceil(log2 V)))
    pairs exactly and guess uniformly otherwise: min(k, m)/m + (1 - min(k, m)/m)/V. key_bits is what the
    algorithm spends to remember which key a stored value belongs to (0 when keys come in a known order)."""
    if V < 2:
        raise ValueError(f"V must be at least 2, got {V}.")
    s, m = np.broadcast_arrays(np.asarray(s_bits, dtype=float), np.asarray(m, dtype=float))
    per_pair = key_bits + _ceil_log2(V)
    frac = np.minimum(np.floor(s / per_pair), m) / m
    out = frac + (1 - frac) / V
    return out if out.ndim else float(out)


def critical_pairs(s_bits, V: int, target: float) -> np.ndarray:
    """m*(s): the number of pairs beyond which no s-bit state reaches average success `target` on associative
    recall: m* = s / f_V(target) (inf when target <= 1/V). The bound's prediction of the crossover. [ours]

    At the chance level (target == 1.0 / V, the double nearest 1/V) every m reaches the target with no state at
    all, so m* = inf; just above it f_V(target) ~ (target - 1/V)^2 / (2 ln 2 q (1-q)) is tiny but positive and
    m* is finite and huge (about 1e33 s one ulp above 1/20), continuous from the finite side."""
    if not 0 < target <= 1:
        raise ValueError(f"target must lie in (0, 1], got {target}.")
    s = np.asarray(s_bits, dtype=float)
    if not np.all(s >= 0):
        raise ValueError("s_bits must be >= 0.")
    f = float(fano_bits_per_key(target, V))     # exactly 0 iff target <= 1.0 / V, else > 0 (no underflow)
    if f == 0:
        out = np.full(s.shape, np.inf)
    else:
        out = s / f
    return out if out.ndim else float(out)


def memory_lower_bound(task: str, n: int, V: int = 2, success: float = 1.0, c: int = 2) -> float:
    """Bits of state any streaming algorithm (RNN, with chain of thought of any length) needs to reach average
    success `success` on inputs of size n (Thm 4.6 / 4.7 in Fano form) [ours: the gadgets of our notes 1.4]:

    index:    n positions with uniform V-ary tokens          -> n f_V(p)
    ar:       n key-value pairs, V-ary values                -> n f_V(p)
    cgram:    floor(n / c) disjoint c-grams, last token V-ary -> floor(n/c) f_V(p)
    counting: token j present iff x_j = 1 (vocabulary V >= 2) -> min(n, V) f_2(p)
    istree:   n nodes, two hubs + one gadget node, n-3 leaves -> (n - 3) f_2(p)
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}.")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    if not 0 <= success <= 1:
        raise ValueError(f"success must lie in [0, 1], got {success}.")
    if task in ("index", "ar"):
        return float(n * fano_bits_per_key(success, V))
    if task == "cgram":
        if c < 2:
            raise ValueError(f"c must be >= 2, got {c}.")
        return float((n // c) * fano_bits_per_key(success, V))
    if task == "counting":
        return float(min(n, V) * fano_bits_per_key(success, 2))
    return float(max(n - 3, 0) * fano_bits_per_key(success, 2))


def _ceil_log2(k: int) -> int:
    """ceil(log2 k) for an integer k >= 1, exactly (math.ceil(math.log2(k)) gives j instead of j + 1 for
    k = 2^j + 1 once j >= 53, where the float log2 rounds onto the integer j)."""
    return (int(k) - 1).bit_length()


def node_bits(n: int) -> int:
    """ceil(log2(n + 2)): bits for a node id of an n-node graph, plus the [FAILED] / none sentinels."""
    return _ceil_log2(n + 2)


def union_find_bits(n: int) -> int:
    """n ceil(log2 n): union-find over the edge stream (a parent pointer per node) decides IsTree exactly, the
    upper bound that makes the Omega(n) lower bound tight up to the log."""
    return n * _ceil_log2(max(n, 2))


def euler_cot_length(n: int) -> int:
    """Length of the plain DFS Euler-tour chain of thought of a tree on n nodes (each node printed on entry
    and once more after each child returns): 2n - 1 (official generator, `euler_tour`)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    return 2 * n - 1


def controller_state_bits(n: int) -> int:
    """Bits of state of the scripted retrieval controller for n-node graphs (Sec. 5, in-context RAG): five node
    registers (top, prev, parent, candidate, edge counter) and a visited counter of node_bits(n) bits each,
    plus 3 bits of phase. O(log n), against the Omega(n) bits any RNN without retrieval needs."""
    return 6 * node_bits(n) + 3


def istree_budget_bits(n: int, k: int) -> int:
    """State bits of the budgeted IsTree decider of `sims.retrieval.agents`: a buffer of three edges / two hub
    registers (6 node_bits), 2 phase bits and a k-bit map of hub sides for node ids 0..k-1."""
    return 6 * node_bits(n) + 2 + k


def istree_budget_success(s_bits, n: int) -> np.ndarray:
    """Accuracy of the budgeted streaming decider on the INDEX gadget (two hubs, gadget node z, final edge
    z - l last) [ours]: with k = s - 6 node_bits - 2 map bits (clipped to [0, n]) it answers exactly when both
    z and l have ids below k (probability k(k-1)/(n(n-1)) for a random labelling) and guesses otherwise:
    1/2 + (1/2) k(k-1)/(n(n-1))."""
    s = np.asarray(s_bits, dtype=float)
    k = np.clip(np.floor(s - 6 * node_bits(n) - 2), 0, n)
    out = 0.5 + 0.5 * k * np.maximum(k - 1, 0) / (n * (n - 1))
    return out if out.ndim else float(out)


def istree_success_upper_bound(s_bits, n: int) -> np.ndarray:
    """Fano ceiling for IsTree on the INDEX gadget with L = n - 3 uniform hub bits [ours]: success P of an
    s-bit decider satisfies L f_2(P) <= s, i.e. P <= P*(s, L, 2)."""
    return ar_success_upper_bound(s_bits, max(n - 3, 1), 2)
