"""Tests of sims.specdec.tabular: exactness of speculative decoding on Markov chains by chi-square tests with fixed
seeds (and the two broken samplers as negative controls, including the notes' blind spot k <= gamma), acceptance
counts against their prediction, block efficiency against the formula, lossy decoding against its theoretical
law, and the configuration errors (research notes, toy checks T4.1, T4.2, T4.5)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sims.engine import rng
from sims.engine.errors import ConfigError
from sims.engine.stats import chi_square
from sims.specdec import tabular as tb
from theory import specdec as sd

V = 6
PASS, FAIL = 1e-3, 1e-6          # chi-square p-value above PASS for a correct law, below FAIL for a wrong one
Z = 4.0                          # two-sided normal tests at |z| < 4 (level about 6e-5)


@pytest.fixture(scope="module")
def context_free_pair():
    gen = rng(0, "context-free pair")
    return tb.random_chain(V, 1.0, gen, context_free=True), tb.random_chain(V, 1.0, gen, context_free=True)


@pytest.fixture(scope="module")
def bigram_pair():
    gen = rng(0, "bigram pair")
    return tb.random_chain(V, 1.0, gen), tb.random_chain(V, 0.5, gen)


def _prefix_p_value(run: tb.TabularRun, law_chain: tb.Chain, k: int) -> float:
    counts = np.bincount(tb.sequence_index(run.tokens[:, :k], V), minlength=V ** k)
    return chi_square(counts, tb.sequence_law(law_chain, k)).p_value


def _first_token_p_value(run: tb.TabularRun, law) -> float:
    return chi_square(np.bincount(run.tokens[:, 0], minlength=V), law).p_value


# ---- the chains ----------------------------------------------------------------------------------------------
def test_sequence_law_is_the_product_of_transitions():
    chain = tb.random_chain(3, 1.0, rng(1, "chain"))
    law = tb.sequence_law(chain, 3)
    assert law.shape == (27,) and law.sum() == pytest.approx(1.0, abs=1e-12)
    a, b, c = 2, 0, 1
    idx = int(tb.sequence_index(np.array([[a, b, c]]), 3)[0])
    assert idx == a * 9 + b * 3 + c
    assert law[idx] == pytest.approx(chain.init[a] * chain.trans[a, b] * chain.trans[b, c], rel=1e-14)


def test_context_free_chain_repeats_one_law():
    chain = tb.random_chain(4, 0.7, rng(2, "chain"), context_free=True)
    np.testing.assert_array_equal(chain.trans, np.tile(chain.init, (4, 1)))
    np.testing.assert_allclose(tb.sequence_law(chain, 2), np.outer(chain.init, chain.init).ravel(), rtol=1e-14)


def test_chain_validation():
    with pytest.raises(ConfigError, match="trans"):
        tb.Chain(np.array([0.5, 0.5]), np.array([[0.5, 0.6], [0.5, 0.5]]))
    with pytest.raises(ConfigError, match="init"):
        tb.Chain(np.array([1.5, -0.5]), np.eye(2))
    with pytest.raises(ConfigError, match="trans"):
        tb.Chain(np.array([0.5, 0.5]), np.eye(3))
    with pytest.raises(ConfigError, match="vocab"):
        tb.random_chain(1, 1.0, rng(0))
    with pytest.raises(ConfigError, match="concentration"):
        tb.random_chain(3, 0.0, rng(0))


# ---- exactness (T4.1) ----------------------------------------------------------------------------------------
def test_first_token_is_exact_and_the_no_correction_control_follows_its_own_law(context_free_pair):
    p, q = context_free_pair
    exact = tb.speculative(p, q, 3, 40_000, 1, rng(0, "cf exact"))
    assert _first_token_p_value(exact, p.init) > PASS
    broken = tb.speculative(p, q, 3, 40_000, 1, rng(0, "cf broken"), mode="no_correction")
    assert _first_token_p_value(broken, p.init) < FAIL
    assert _first_token_p_value(broken, sd.no_correction_law(p.init, q.init)) > PASS


@pytest.mark.parametrize("gamma", [2, 3])
def test_three_token_prefix_is_exact_and_no_correction_is_caught(bigram_pair, gamma):
    p, q = bigram_pair
    exact = tb.speculative(p, q, gamma, 30_000, 3, rng(gamma, "bigram exact"))
    assert _prefix_p_value(exact, p, 3) > PASS
    broken = tb.speculative(p, q, gamma, 30_000, 3, rng(gamma, "bigram broken"), mode="no_correction")
    assert _prefix_p_value(broken, p, 3) < FAIL


def test_draft_bonus_bug_is_invisible_for_k_le_gamma_and_caught_for_k_gt_gamma(bigram_pair):
    p, q = bigram_pair
    hidden = tb.speculative(p, q, 3, 30_000, 3, rng(0, "bonus hidden"), mode="draft_bonus")
    assert _prefix_p_value(hidden, p, 3) > PASS           # k = 3 = gamma: the bonus token is never inside
    same_seed = tb.speculative(p, q, 3, 30_000, 3, rng(0, "bonus hidden"))
    np.testing.assert_array_equal(hidden.tokens, same_seed.tokens)     # token for token the exact sampler's
    caught = tb.speculative(p, q, 2, 30_000, 3, rng(0, "bonus caught"), mode="draft_bonus")
    assert _prefix_p_value(caught, p, 3) < FAIL           # k = 3 > gamma = 2


def test_longer_sequences_are_exact_at_their_fifth_token_pair(bigram_pair):
    # every (token 4, token 5) pair of 8-token sequences, after several blocks, against the chain's marginal
    p, q = bigram_pair
    run = tb.speculative(p, q, 3, 20_000, 8, rng(0, "long"))
    marginal = p.init @ np.linalg.matrix_power(p.trans, 4)
    law = (marginal[:, None] * p.trans).ravel()
    counts = np.bincount(tb.sequence_index(run.tokens[:, 4:6], V), minlength=V * V)
    assert chi_square(counts, law).p_value > PASS


def test_same_seed_same_tokens_and_bookkeeping(bigram_pair):
    p, q = bigram_pair
    a = tb.speculative(p, q, 3, 500, 11, rng(5, "det"))
    b = tb.speculative(p, q, 3, 500, 11, rng(5, "det"))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert a.tokens.shape == (500, 11) and a.tokens.min() >= 0 and a.tokens.max() < V
    assert a.accepted.sum() == a.accepts <= a.attempts
    assert a.accepted.size == a.full.size == a.blocks.sum()
    assert np.all(a.blocks >= math.ceil(11 / 4)) and np.all(a.blocks <= 11)


# ---- acceptance and block efficiency (T4.2) ------------------------------------------------------------------
def _z_accepts(run: tb.TabularRun) -> float:
    """z of accepts against predicted_accepts with the binomial variance attempts r (1 - r), r the predicted rate:
    an upper bound on the true variance sum beta_i (1 - beta_i) (concavity), so the test is conservative."""
    r = run.predicted_accepts / run.attempts
    return (run.accepts - run.predicted_accepts) / math.sqrt(run.attempts * r * (1 - r))


def test_acceptance_rate_matches_its_prediction_on_a_bigram_pair(bigram_pair):
    p, q = bigram_pair
    run = tb.speculative(p, q, 3, 20_000, 12, rng(0, "acceptance"))
    assert abs(_z_accepts(run)) < Z


def test_context_free_acceptance_and_block_efficiency_match_the_formulas(context_free_pair):
    p, q = context_free_pair
    alpha = float(sd.acceptance(p.init, q.init))
    gamma = 3
    one_block = tb.speculative(p, q, gamma, 40_000, gamma + 1, rng(0, "tau"))   # one full block per sequence
    assert one_block.predicted_accepts / one_block.attempts == pytest.approx(alpha, rel=1e-12)
    assert abs(_z_accepts(one_block)) < Z
    assert one_block.full.sum() == 40_000 and one_block.full[:40_000].all()     # the first blocks only
    tokens = one_block.accepted[one_block.full] + 1.0
    tau = float(sd.block_efficiency(alpha, gamma))
    assert abs(one_block.block_efficiency - tau) < Z * tokens.std(ddof=1) / math.sqrt(tokens.size)
    # several blocks per sequence: the blocks that started with room for gamma + 1 tokens
    many = tb.speculative(p, q, gamma, 5_000, 40, rng(1, "tau"))
    full = many.accepted[many.full] + 1.0
    assert abs(many.block_efficiency - tau) < Z * full.std(ddof=1) / math.sqrt(full.size)


# ---- lossy decoding (T4.5) -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sd.LENIENCE)
def test_lossy_first_token_follows_the_theoretical_law(context_free_pair, kind):
    p, q = context_free_pair
    run = tb.speculative(p, q, 2, 40_000, 1, rng(0, "lossy", kind), lenience=kind, epsilon=0.3)
    law = sd.lossy_emitted_law(p.init, q.init, 0.3, kind)
    assert _first_token_p_value(run, law) > PASS
    assert _first_token_p_value(run, p.init) < FAIL


def test_lossy_with_epsilon_1_is_exact(bigram_pair):
    p, q = bigram_pair
    run = tb.speculative(p, q, 2, 30_000, 3, rng(0, "lossless"), lenience="exponential", epsilon=1.0)
    assert _prefix_p_value(run, p, 3) > PASS


def test_acceptance_rises_as_epsilon_falls(bigram_pair):
    p, q = bigram_pair
    rates = []
    for eps in (1.0, 0.6, 0.3):
        run = tb.speculative(p, q, 3, 10_000, 8, rng(0, "eps", str(eps)), lenience="linear", epsilon=eps)
        assert abs(_z_accepts(run)) < Z
        rates.append(run.acceptance_rate)
    assert rates[0] < rates[1] < rates[2]


# ---- the chi-square test (sims.engine.stats.chi_square) -------------------------------------------------------
def test_chi_square_without_pooling_is_pearsons_test():
    counts = np.array([18, 22, 31, 29])
    probs = np.array([0.2, 0.2, 0.3, 0.3])
    res = chi_square(counts, probs)
    ref = stats.chisquare(counts, 100 * probs)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12) and res.p_value == pytest.approx(ref.pvalue)
    assert res.dof == 3 and res.cells == 4


def test_chi_square_pools_small_cells_until_they_expect_min_expected():
    # expected 1, 2, 3, 44, 50: the cells expecting 1 and 2 are small, the pool 1 + 2 = 3 < 5 takes the 3 too
    counts = np.array([0, 4, 3, 43, 50])
    res = chi_square(counts, np.array([1, 2, 3, 44, 50]) / 100)
    o, e = np.array([43, 50, 7]), np.array([44, 50, 6])
    assert res.cells == 3 and res.dof == 2
    assert res.statistic == pytest.approx(float(np.sum((o - e) ** 2 / e)), rel=1e-12)
    assert res.p_value == pytest.approx(float(stats.chi2.sf(res.statistic, 2)), rel=1e-12)


def test_chi_square_counts_in_an_impossible_cell_reject_outright():
    assert chi_square([5, 5, 1], [0.5, 0.5, 0.0]).p_value == 0.0
    assert chi_square([5, 5, 0], [0.5, 0.5, 0.0]).p_value == 1.0


def test_chi_square_p_values_are_uniform_under_the_null():
    gen = rng(0, "chi-square null")
    probs = gen.dirichlet(np.ones(8))
    p_values = [chi_square(gen.multinomial(500, probs), probs).p_value for _ in range(400)]
    assert stats.kstest(p_values, "uniform").pvalue > PASS


@pytest.mark.parametrize("counts, probs", [
    ([1, 2], [0.2, 0.3, 0.5]), ([1, -2, 3], [0.2, 0.3, 0.5]), ([1, 2, 3], [0.2, 0.3, 0.4]),
    ([0, 0, 0], [0.2, 0.3, 0.5]), ([1, 2, 3], [-0.2, 0.7, 0.5]), ([1, 1, 1], [0.98, 0.01, 0.01]),
])
def test_chi_square_rejects_bad_input(counts, probs):
    with pytest.raises(ValueError, match="chi_square"):
        chi_square(counts, probs)


# ---- configuration errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    ({"gamma": 0}, "gamma"), ({"gamma": 2.5}, "gamma"), ({"n_seqs": 0}, "n_seqs"), ({"n_tokens": 0}, "n_tokens"),
    ({"mode": "greedy"}, "mode"), ({"lenience": "linear", "epsilon": 0.0}, "epsilon"),
    ({"lenience": "linear", "epsilon": 1.5}, "epsilon"), ({"epsilon": 0.5}, "epsilon"),
    ({"lenience": "cubic"}, "lenience"),
])
def test_bad_arguments_are_config_errors(bigram_pair, kwargs, name):
    p, q = bigram_pair
    args = {"gamma": 2, "n_seqs": 10, "n_tokens": 4, **kwargs}
    with pytest.raises(ConfigError, match=name):
        tb.speculative(p, q, gen=rng(0), **args)


def test_vocabulary_mismatch_is_a_config_error(bigram_pair):
    p, _ = bigram_pair
    with pytest.raises(ConfigError, match="draft"):
        tb.speculative(p, tb.random_chain(V + 1, 1.0, rng(0)), 2, 10, 4, rng(0))
