"""Property tests of theory.specdec: acceptance = 1 - TV and the one-token exactness identity, the block-efficiency
and speed-up formulas, the Jensen gap, the DistillSpec divergences and their logit gradients (against central
finite differences), the on-policy bound (against exact enumeration), and the lossy lenience laws."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special

from theory import specdec as sd

LOGITS = st.floats(-4.0, 4.0, allow_nan=False)
ALPHA = st.floats(0.0, 1.0, allow_nan=False)
GAMMA = st.integers(1, 12)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _logit_vectors(n):
    return arrays(np.float64, n, elements=LOGITS)


PQ = st.integers(2, 8).flatmap(lambda n: st.tuples(_logit_vectors(n), _logit_vectors(n))).map(
    lambda zz: (_softmax(zz[0]), _softmax(zz[1])))
P_Z = st.integers(2, 8).flatmap(lambda n: st.tuples(_logit_vectors(n), _logit_vectors(n))).map(
    lambda zz: (_softmax(zz[0]), zz[1]))


# ---- one draft token ---------------------------------------------------------------------------------------
@settings(max_examples=100)
@given(PQ)
def test_acceptance_is_one_minus_total_variation(pq):
    p, q = pq
    assert sd.acceptance(p, q) == pytest.approx(1.0 - sd.tv(p, q), abs=1e-12)
    assert 0.0 <= sd.acceptance(p, q) <= 1.0 + 1e-12
    assert sd.acceptance(p, p) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=100)
@given(PQ)
def test_accept_or_resample_from_the_residual_gives_the_target_law(pq):
    p, q = pq
    r = sd.residual(p, q)
    assert r.sum() == pytest.approx(1.0, abs=1e-12) and np.all(r >= 0)
    if np.any(p > q):                                 # else p == q and the residual is p by convention
        assert np.all(r[p <= q] == 0)
    law = np.minimum(p, q) + (1.0 - sd.acceptance(p, q)) * r
    np.testing.assert_allclose(law, p, atol=1e-12)


def test_residual_of_identical_laws_is_the_law_and_broadcasts():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    q = np.array([[0.2, 0.8], [0.9, 0.1]])
    r = sd.residual(p, q)
    np.testing.assert_array_equal(r[0], p[0])
    np.testing.assert_allclose(r[1], [0.0, 1.0])
    assert sd.acceptance(p, q).shape == (2,)


@settings(max_examples=50)
@given(PQ)
def test_the_no_correction_sampler_is_biased_whenever_the_laws_differ(pq):
    p, q = pq
    law = sd.no_correction_law(p, q)
    assert law.sum() == pytest.approx(1.0, abs=1e-12)
    if sd.tv(p, q) > 1e-6:
        assert sd.tv(law, p) > 0


# ---- blocks ------------------------------------------------------------------------------------------------
@settings(max_examples=100)
@given(ALPHA, GAMMA)
def test_block_efficiency_lies_between_1_and_gamma_plus_1_and_matches_the_closed_form(alpha, gamma):
    tau = float(sd.block_efficiency(alpha, gamma))
    assert 1.0 <= tau <= gamma + 1
    if alpha < 0.999:
        assert tau == pytest.approx((1 - alpha ** (gamma + 1)) / (1 - alpha), rel=1e-12)
    assert float(sd.expected_accepted(alpha, gamma)) == pytest.approx(tau - 1.0, abs=1e-15)


def test_block_efficiency_at_alpha_1_is_gamma_plus_1_and_takes_arrays():
    np.testing.assert_array_equal(sd.block_efficiency(np.array([0.0, 1.0]), 3), [1.0, 4.0])
    assert float(sd.block_efficiency(1 - 1e-12, 5)) == pytest.approx(6.0, abs=1e-9)
    gammas = np.arange(1, 9)
    np.testing.assert_allclose(sd.block_efficiency(0.7, gammas),
                               [sum(0.7 ** i for i in range(g + 1)) for g in range(1, 9)], rtol=1e-14)
    assert float(sd.block_efficiency(0.7, np.int64(3))) == pytest.approx(1 + 0.7 + 0.49 + 0.343, rel=1e-14)


@pytest.mark.parametrize("gamma", [0, 2.5, True, np.array([1, 0]), np.array([])])
def test_bad_gamma_is_a_config_error(gamma):
    with pytest.raises(ValueError, match="gamma"):
        sd.block_efficiency(0.5, gamma)


@settings(max_examples=100)
@given(ALPHA, ALPHA, GAMMA)
def test_block_efficiency_increases_in_alpha_and_gamma(a1, a2, gamma):
    lo, hi = min(a1, a2), max(a1, a2)
    assert sd.block_efficiency(lo, gamma) <= sd.block_efficiency(hi, gamma)
    if hi - lo > 1e-9:
        assert sd.block_efficiency(lo, gamma) < sd.block_efficiency(hi, gamma)
    if hi ** (gamma + 1) > 1e-12:                     # else the added term is below the rounding of tau
        assert sd.block_efficiency(hi, gamma + 1) > sd.block_efficiency(hi, gamma)


@settings(max_examples=50)
@given(st.lists(ALPHA, min_size=1, max_size=6))
def test_position_dependent_block_efficiency_against_the_law_of_the_number_of_accepts(alphas):
    a = np.array(alphas)
    gamma = a.size
    expected = 0.0                                   # sum over n = accepted draft tokens of P(n) (n + 1)
    for n in range(gamma + 1):
        prob = np.prod(a[:n]) * (1.0 - a[n] if n < gamma else 1.0)
        expected += prob * (n + 1)
    assert float(sd.block_efficiency_positions(a)) == pytest.approx(expected, abs=1e-12)
    assert float(sd.block_efficiency_positions(np.full(gamma, a[0]))) == pytest.approx(
        float(sd.block_efficiency(a[0], gamma)), abs=1e-12)


@settings(max_examples=50)
@given(st.lists(ALPHA, min_size=2, max_size=20), GAMMA)
def test_jensen_gap_is_non_negative_and_vanishes_for_gamma_1_or_constant_alpha(alphas, gamma):
    a = np.array(alphas)
    assert float(sd.jensen_gap(a, gamma)) >= -1e-12
    assert float(sd.jensen_gap(a, 1)) == pytest.approx(0.0, abs=1e-12)
    assert float(sd.jensen_gap(np.full(5, a[0]), gamma)) == pytest.approx(0.0, abs=1e-12)
    if gamma >= 2 and np.ptp(a) > 0.05:
        assert float(sd.jensen_gap(a, gamma)) > 0


def test_jensen_gap_example_half_contexts_certain_half_hopeless():
    # alpha_c in {0, 1}, gamma = 3: mean tau = (1 + 4)/2 = 2.5, tau(0.5) = 1.875
    assert float(sd.jensen_gap(np.array([0.0, 1.0]), 3)) == pytest.approx(2.5 - 1.875, abs=1e-15)


@settings(max_examples=100)
@given(ALPHA, st.floats(0.0, 2.0))
def test_speedup_with_gamma_1_exceeds_1_iff_alpha_exceeds_c(alpha, c):
    assume(abs(alpha - c) > 1e-9)
    s = float(sd.speedup(alpha, 1, c))
    assert s == pytest.approx((1 + alpha) / (1 + c), rel=1e-12)
    assert (s > 1.0) == (alpha > c)


@settings(max_examples=50)
@given(ALPHA, st.floats(0.0, 1.0), st.integers(1, 16))
def test_best_gamma_maximises_the_speedup(alpha, c, max_gamma):
    g = sd.best_gamma(alpha, c, max_gamma)
    values = [float(sd.speedup(alpha, k, c)) for k in range(1, max_gamma + 1)]
    assert 1 <= g <= max_gamma and values[g - 1] == max(values)


def test_best_gamma_edges_and_arrays():
    assert sd.best_gamma(1.0, 0.0, 7) == 7
    assert sd.best_gamma(0.0, 0.1) == 1
    np.testing.assert_array_equal(sd.best_gamma(np.array([0.0, 1.0]), 0.0, 5), [1, 5])


# ---- divergences and their gradients -----------------------------------------------------------------------
@settings(max_examples=100)
@given(PQ, st.sampled_from(sd.DIVERGENCES))
def test_divergences_are_non_negative_and_zero_iff_equal(pq, name):
    p, q = pq
    assert float(sd.divergence(name, p, p)) == pytest.approx(0.0, abs=1e-12)
    d = float(sd.divergence(name, p, q))
    assert d >= -1e-15
    if sd.tv(p, q) > 1e-3:
        assert d > 0


@settings(max_examples=50)
@given(PQ, st.floats(0.05, 0.95))
def test_divergences_match_their_definitions(pq, beta):
    p, q = pq
    assert float(sd.fkl(p, q)) == pytest.approx(float(np.sum(p * np.log(p / q))), rel=1e-9, abs=1e-12)
    assert float(sd.rkl(p, q)) == pytest.approx(float(np.sum(q * np.log(q / p))), rel=1e-9, abs=1e-12)
    m = beta * p + (1 - beta) * q
    direct = beta * np.sum(p * np.log(p / m)) + (1 - beta) * np.sum(q * np.log(q / m))
    assert float(sd.jsd(p, q, beta)) == pytest.approx(float(direct), rel=1e-9, abs=1e-12)
    entropy = -beta * math.log(beta) - (1 - beta) * math.log(1 - beta)
    assert float(sd.jsd(p, q, beta)) <= entropy + 1e-12
    assert float(sd.tvd(p, q)) == float(sd.tv(p, q))
    assert float(sd.divergence("jsd", p, q, beta)) == float(sd.jsd(p, q, beta))


@settings(max_examples=50)
@given(PQ)
def test_jsd_is_symmetric_at_one_half(pq):
    p, q = pq
    assert float(sd.jsd(p, q)) == pytest.approx(float(sd.jsd(q, p)), abs=1e-14)


def _finite_difference(name, p, z, beta, h=1e-6):
    grad = np.empty_like(z)
    for k in range(z.size):
        e = np.zeros_like(z)
        e[k] = h
        grad[k] = (sd.divergence(name, p, _softmax(z + e), beta) - sd.divergence(name, p, _softmax(z - e), beta)) / (
            2 * h)
    return grad


@settings(max_examples=60)
@given(P_Z, st.sampled_from(sd.DIVERGENCES), st.floats(0.1, 0.9))
def test_logit_gradients_match_central_finite_differences(pz, name, beta):
    p, z = pz
    if name == "tvd":                                  # keep away from the kinks of |p - q|
        assume(np.min(np.abs(p - _softmax(z))) > 1e-4)
    g = sd.divergence_grad_logits(name, p, z, beta)
    np.testing.assert_allclose(g, _finite_difference(name, p, z, beta), rtol=1e-5, atol=1e-7)
    assert g.sum() == pytest.approx(0.0, abs=1e-12)     # softmax is invariant to a shift of the logits


def test_gradients_broadcast_over_rows_and_vanish_at_the_target():
    gen = np.random.default_rng(0)
    z = gen.normal(size=(3, 5))
    p = _softmax(gen.normal(size=(3, 5)))
    for name in sd.DIVERGENCES:
        g = sd.divergence_grad_logits(name, p, z)
        for i in range(3):
            np.testing.assert_allclose(g[i], sd.divergence_grad_logits(name, p[i], z[i]), atol=1e-15)
        q = np.exp(special.log_softmax(z, axis=-1))     # bit-equal to the draft law, so sign(q - p) = 0 for tvd
        np.testing.assert_allclose(sd.divergence_grad_logits(name, q, z), 0.0, atol=1e-15)


def test_unknown_divergence_and_bad_beta_are_config_errors():
    p = np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="divergence"):
        sd.divergence("kl", p, p)
    with pytest.raises(ValueError, match="divergence"):
        sd.divergence_grad_logits("hellinger", p, np.zeros(2))
    with pytest.raises(ValueError, match="beta"):
        sd.jsd(p, p, beta=1.0)


# ---- the on-policy bound, by exact enumeration -------------------------------------------------------------
def _history_laws(gen, vocab, length, concentration):
    """A random history-dependent model: the next-token law after each prefix of length < `length`."""
    return {prefix: gen.dirichlet(np.full(vocab, concentration))
            for t in range(length) for prefix in itertools.product(range(vocab), repeat=t)}


def _expected_tv_sum(laws_p, laws_q, sampler, vocab, length):
    """E over sequences y ~ sampler of sum_t TV(p(.|y_<t), q(.|y_<t)), by enumeration."""
    total = 0.0
    for y in itertools.product(range(vocab), repeat=length):
        prob = np.prod([sampler[y[:t]][y[t]] for t in range(length)])
        total += prob * sum(float(sd.tv(laws_p[y[:t]], laws_q[y[:t]])) for t in range(length))
    return total


@settings(max_examples=30)
@given(st.integers(2, 3), st.integers(1, 3), st.integers(0, 2**32 - 1), st.floats(0.2, 3.0))
def test_onpolicy_bound_holds_by_exact_enumeration(vocab, length, seed, concentration):
    gen = np.random.default_rng(seed)
    p = _history_laws(gen, vocab, length, concentration)
    q = _history_laws(gen, vocab, length, concentration)
    eps = _expected_tv_sum(p, q, q, vocab, length) / length          # on-policy per-token TVD loss
    alpha = 1.0 - _expected_tv_sum(p, q, p, vocab, length) / length  # acceptance along target sequences
    assert alpha >= float(sd.onpolicy_bound(eps, length)) - 1e-12
    as_arrays = [[np.array([laws[prefix] for prefix in itertools.product(range(vocab), repeat=t)]).reshape(
        (vocab,) * (t + 1)) for t in range(length)] for laws in (p, q)]
    terms = sd.history_tv_terms(*as_arrays)
    assert terms == pytest.approx((alpha, eps), abs=1e-12)


def test_history_terms_of_context_free_models_are_one_token_quantities():
    p, q = np.array([0.7, 0.2, 0.1]), np.array([0.2, 0.5, 0.3])
    alpha, eps = sd.history_tv_terms([np.broadcast_to(p, (3,) * (t + 1)) for t in range(4)],
                                     [np.broadcast_to(q, (3,) * (t + 1)) for t in range(4)])
    assert alpha == pytest.approx(float(sd.acceptance(p, q)), abs=1e-14)
    assert eps == pytest.approx(float(sd.tv(p, q)), abs=1e-14)
    with pytest.raises(ValueError, match="p_cond"):
        sd.history_tv_terms([p], [q, q])


def test_onpolicy_bound_values_and_errors():
    np.testing.assert_allclose(sd.onpolicy_bound(np.array([0.0, 0.01, 0.5]), 10), [1.0, 0.9, -4.0])
    with pytest.raises(ValueError, match="T"):
        sd.onpolicy_bound(0.1, 0)
    with pytest.raises(ValueError, match="eps"):
        sd.onpolicy_bound(-0.1, 3)


# ---- lossy speculative decoding ----------------------------------------------------------------------------
EPS = st.floats(0.01, 1.0)


@settings(max_examples=50)
@given(PQ, st.sampled_from(sd.LENIENCE))
def test_epsilon_1_is_lossless(pq, kind):
    p, q = pq
    np.testing.assert_allclose(sd.lenience(p, 1.0, kind), p, rtol=1e-15)
    np.testing.assert_allclose(sd.lossy_emitted_law(p, q, 1.0, kind), p, atol=1e-12)
    assert float(sd.lossy_acceptance(p, q, 1.0, kind)) == pytest.approx(float(sd.acceptance(p, q)), abs=1e-15)


@settings(max_examples=80)
@given(PQ, st.sampled_from(sd.LENIENCE), EPS, EPS)
def test_lenience_trades_exactness_for_acceptance_monotonically(pq, kind, e1, e2):
    p, q = pq
    lo, hi = min(e1, e2), max(e1, e2)
    acc_lo, acc_hi = (float(sd.lossy_acceptance(p, q, e, kind)) for e in (lo, hi))
    law_lo, law_hi = (sd.lossy_emitted_law(p, q, e, kind) for e in (lo, hi))
    assert acc_lo >= acc_hi - 1e-12
    assert float(sd.tv(law_lo, p)) >= float(sd.tv(law_hi, p)) - 1e-12
    for law, acc in ((law_lo, acc_lo), (law_hi, acc_hi)):
        assert law.sum() == pytest.approx(1.0, abs=1e-12) and np.all(law >= -1e-15)
        # [ours] the distance to p is exactly the extra acceptance
        assert float(sd.tv(law, p)) == pytest.approx(acc - float(sd.acceptance(p, q)), abs=1e-12)


@settings(max_examples=50)
@given(PQ)
def test_vanishing_linear_lenience_emits_the_draft_law(pq):
    p, q = pq
    np.testing.assert_allclose(sd.lossy_emitted_law(p, q, 1e-9, "linear"), q, atol=1e-9)
    assert float(sd.lossy_acceptance(p, q, 1e-9, "linear")) == pytest.approx(1.0, abs=1e-9)


def test_lenience_values_and_torch_tensors():
    p = np.array([0.25, 0.75])
    np.testing.assert_allclose(sd.lenience(p, 0.5, "linear"), [0.5, 1.5])
    np.testing.assert_allclose(sd.lenience(p, 0.5, "quadratic"), [1.0, 3.0])
    np.testing.assert_allclose(sd.lenience(p, 0.5, "exponential"), [0.5, math.sqrt(0.75)])
    torch = pytest.importorskip("torch")
    for kind in sd.LENIENCE:
        t = sd.lenience(torch.tensor(p, dtype=torch.float64), 0.5, kind)
        assert isinstance(t, torch.Tensor)
        np.testing.assert_allclose(t.numpy(), sd.lenience(p, 0.5, kind), rtol=1e-15)


@pytest.mark.parametrize("epsilon", [0.0, -0.1, 1.5, float("nan")])
def test_bad_epsilon_is_a_config_error(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        sd.lenience(np.array([0.5, 0.5]), epsilon, "linear")


def test_bad_lenience_kind_and_bad_alpha_or_gamma_are_config_errors():
    with pytest.raises(ValueError, match="lenience"):
        sd.lenience(np.array([0.5, 0.5]), 0.5, "cubic")
    with pytest.raises(ValueError, match="alpha"):
        sd.block_efficiency(1.2, 3)
    with pytest.raises(ValueError, match="gamma"):
        sd.block_efficiency(0.5, 0)
    with pytest.raises(ValueError, match="c must"):
        sd.speedup(0.5, 2, -1.0)
