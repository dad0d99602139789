"""QSR toy experiments: the generalised Local SGD loop (per-step learning rates, per-round H), the four rules under a
decaying learning rate on the bilinear label-noise toy, and the drift-factor law at constant learning rates, with
their controls (K = 1, sigma = 0, lam0 = 2)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sims.engine import local_steps
from sims.engine.errors import ConfigError
from sims.engine.summary import undocumented_fields
from sims.engine.toys import BilinearRegression
from sims.qsr.drift import DRIFT, DriftSummary
from sims.qsr.toy import TOY, ToySummary
from theory import qsr as tq


# ---- the generalised loop ---------------------------------------------------------------------------------
def _fixed_h_reference(toy, theta0, eta, steps, K, H, local_batch, rng, n_record, chunk):
    """The fixed-eta, fixed-H loop as it stood before the generalisation (sims/local_sgd/discrete.py): steps // H
    rounds, noise drawn in chunks of `chunk` steps, records at evenly spread rounds."""
    P, _ = theta0.shape
    theta = np.repeat(theta0[:, None, :], K, axis=1)
    n_rounds = steps // H
    rec = set(np.unique(np.linspace(0, n_rounds, num=max(n_record, 2)).round().astype(int)).tolist())
    out_steps, sharp, spread = [0], [toy.manifold_sharpness(theta.mean(1))], [np.zeros(P)]
    last = np.zeros(P)
    noise, pos = np.empty(0), 0
    for r in range(1, n_rounds + 1):
        for _ in range(H):
            if pos >= noise.shape[0]:
                noise, pos = rng.standard_normal((chunk, P, K, toy.noise_dim)), 0
            theta -= float(eta) * toy.stochastic_grad(theta, noise[pos], local_batch)
            pos += 1
        if K > 1:
            avg = theta.mean(axis=1, keepdims=True)
            if r in rec:
                last = ((theta - avg) ** 2).sum(-1).mean(-1)
            theta[:] = avg
        if r in rec:
            out_steps.append(r * H)
            sharp.append(toy.manifold_sharpness(theta.mean(1)))
            spread.append(last.copy())
    return np.array(out_steps), np.array(sharp), np.array(spread)


@pytest.mark.parametrize("eta,steps,K,H,B,n_record,chunk", [(0.025, 600, 4, 20, 2, 13, 4096),
                                                            (0.03, 610, 3, 20, 1, 7, 50),
                                                            (0.02, 300, 1, 1, 8, 40, 64),
                                                            (0.02, 10, 2, 20, 1, 5, 4096)])
def test_float_eta_and_int_h_reproduce_the_fixed_h_loop_bit_for_bit(eta, steps, K, H, B, n_record, chunk):
    toy = BilinearRegression(2, 1.0)
    th0 = toy.random_manifold_points(6.0, 8, np.random.default_rng(0))
    got = local_steps.run(toy, th0, eta, steps, K, H, B, np.random.default_rng(7), n_record=n_record, chunk=chunk)
    ref_steps, ref_sharp, ref_spread = _fixed_h_reference(toy, th0, eta, steps, K, H, B, np.random.default_rng(7),
                                                          n_record, chunk)
    assert np.array_equal(got.steps, ref_steps)
    assert np.array_equal(got.sharpness, ref_sharp) and np.array_equal(got.spread, ref_spread)
    assert got.n_rounds == steps // H and np.array_equal(got.steps, got.rounds * H)


def test_constant_arrays_equal_the_scalar_forms_exactly():
    toy = BilinearRegression(2, 1.0)
    th0 = toy.random_manifold_points(5.0, 6, np.random.default_rng(1))
    a = local_steps.run(toy, th0, 0.03, 800, 4, 16, 2, np.random.default_rng(3), n_record=20, chunk=37)
    b = local_steps.run(toy, th0, np.full(800, 0.03), 800, 4, np.full(50, 16), 2, np.random.default_rng(3),
                        n_record=20)
    for f in ("steps", "sharpness", "loss", "spread", "rounds"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert a.n_rounds == b.n_rounds == 50


def test_per_step_rates_and_round_lengths_are_applied_in_order():
    """Without noise the run is gradient descent with the given rate at every step, whatever the rounds."""
    toy = BilinearRegression(2, 0.0)
    th0 = np.random.default_rng(2).normal(size=(3, 4))
    lrs = np.linspace(0.1, 0.01, 120)
    lengths = np.array([1, 2, 3, 50, 64])
    got = local_steps.run(toy, th0, lrs, 120, 3, lengths, 1, np.random.default_rng(0), n_record=10)
    x = th0.copy()
    for t in range(120):
        x -= lrs[t] * toy.grad(x)
    assert np.allclose(got.sharpness[-1], toy.manifold_sharpness(x), rtol=0, atol=1e-12)
    assert np.array_equal(got.steps, np.concatenate([[0], np.cumsum(lengths)]))  # 5 rounds, all recorded
    assert got.n_rounds == 5 and np.array_equal(got.rounds, np.arange(6))
    # a reversed schedule lands elsewhere: the order of the rates matters
    rev = local_steps.run(toy, th0, lrs[::-1].copy(), 120, 3, lengths, 1, np.random.default_rng(0), n_record=10)
    assert not np.allclose(rev.sharpness[-1], got.sharpness[-1], atol=1e-6)


def test_one_worker_with_any_rounds_is_sgd_exactly():
    toy = BilinearRegression(2, 1.0)
    th0 = toy.random_manifold_points(6.0, 8, np.random.default_rng(0))
    lrs = tq.LRSchedule("cosine", 0.04, 900, final=0.002).rates()
    sgd = local_steps.run(toy, th0, lrs, 900, 1, 1, 4, np.random.default_rng(9), n_record=900)
    qsr = tq.replay(tq.SyncRule.qsr(0.08, 2), lrs)
    loc = local_steps.run(toy, th0, lrs, 900, 1, qsr.lengths, 4, np.random.default_rng(9), n_record=900)
    assert qsr.count < 900
    assert np.array_equal(loc.sharpness[-1], sgd.sharpness[-1])
    # every round boundary of the Local run is a step of the SGD run, with the same iterate there
    idx = np.searchsorted(sgd.steps, loc.steps)
    assert np.array_equal(sgd.steps[idx], loc.steps) and np.array_equal(sgd.sharpness[idx], loc.sharpness)


@pytest.mark.parametrize("eta,H,word", [(np.full(10, 0.1), 3, "shape"), (0.1, np.array([3, 3]), "add up"),
                                        (np.full(12, -0.1), 3, "non-negative"), (0.1, np.array([4, 0, 8]), ">= 1"),
                                        (0.1, 2.5, "whole number"), (float("nan"), 3, "eta")])
def test_bad_rates_or_rounds_are_refused(eta, H, word):
    toy = BilinearRegression(2, 1.0)
    with pytest.raises(ValueError, match=word):
        local_steps.run(toy, np.ones((2, 4)), eta, 12, 2, H, 1, np.random.default_rng(0))


# ---- the four rules under a decaying learning rate ------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_quick(cache_dir):
    return TOY.cached(TOY.config("quick"), cache_dir)


def test_quick_toy_ranks_the_rules_beyond_path_noise(toy_quick):
    s, a = toy_quick.summary, toy_quick.arrays
    r = s.rules
    # ranking of the final sharpness: each paired 95 % interval over the paths lies above 0
    for pair in ("sgd-constant", "constant-inverse_lr", "inverse_lr-qsr"):
        assert s.margins[pair].low > 0, pair
        assert s.margins_predicted[pair] > 0, pair  # the slow flow ranks them the same way
        # measured margins are 0.93-0.96 of the flow's (the discrete runs drift faster at finite eta)
        assert abs(s.margins[pair].mean / s.margins_predicted[pair] - 1) < 0.15, pair
    assert r["sgd"].final_sharpness.low > r["constant"].final_sharpness.high
    assert r["constant"].final_sharpness.low > r["inverse_lr"].final_sharpness.high
    assert r["inverse_lr"].final_sharpness.low > r["qsr"].final_sharpness.high
    assert r["qsr"].final_sharpness.mean > 2.2  # not saturated at the flattest point
    # communication: QSR fewest rounds, SGD one per step
    assert r["sgd"].rounds == toy_quick.config["steps"]
    assert r["qsr"].rounds < r["inverse_lr"].rounds < r["constant"].rounds < r["sgd"].rounds
    # the tail's drift factor: about 1 for constant H, in between for 1/eta, near K for QSR
    assert r["constant"].tail_factor < 1.1 < r["inverse_lr"].tail_factor < 2.5 < r["qsr"].tail_factor <= 4
    # discrete vs slow flow: the finite-eta gap is a few per cent of lambda0 - 2 (measured at most 0.024)
    for name in r:
        assert abs(r[name].gap_max) < 0.05 and r[name].gap_final < 0, name
    # the fair start: every Local rule has H = H_base at the peak; then QSR >= 1/eta >= constant step by step
    hb = toy_quick.config["h_base"]
    assert a["h_constant"][0] == a["h_inverse_lr"][0] == a["h_qsr"][0] == hb
    assert np.all(a["h_qsr"] >= a["h_inverse_lr"]) and np.all(a["h_inverse_lr"] >= a["h_constant"])
    assert a["eta"].shape == a["h_qsr"].shape == (toy_quick.config["steps"],)
    assert a["sharp_qsr"].shape == (a["rounds_qsr"].size, toy_quick.config["n_paths"])
    assert a["rounds_qsr"][-1] == r["qsr"].rounds and a["steps_qsr"][-1] == toy_quick.config["steps"]


def test_toy_with_one_worker_gives_every_rule_the_sgd_numbers(cache_dir):
    res = TOY.cached(TOY.config("quick", K=1, steps=4000, n_paths=16), cache_dir)
    sgd = res.arrays["sharp_sgd"][-1]
    for name in ("constant", "inverse_lr", "qsr"):
        assert np.array_equal(res.arrays[f"sharp_{name}"][-1], sgd), name
    assert all(m.mean == m.low == m.high == 0.0 for m in res.summary.margins.values())
    assert res.summary.rules["qsr"].rounds < res.summary.rules["sgd"].rounds  # rounds still differ


def test_toy_is_deterministic_by_seed_and_summaries_are_documented(cache_dir):
    assert undocumented_fields(ToySummary) == [] and undocumented_fields(DriftSummary) == []
    cfg = TOY.config("quick", steps=1500, n_paths=8, n_record=10)
    a, b = TOY.run(cfg), TOY.run(cfg)
    c = TOY.run(TOY.config("quick", steps=1500, n_paths=8, n_record=10, seed=1))
    assert np.array_equal(a.arrays["sharp_qsr"], b.arrays["sharp_qsr"]) and a.summary == b.summary
    assert not np.array_equal(a.arrays["sharp_qsr"], c.arrays["sharp_qsr"])
    stored = TOY.cached(cfg, cache_dir)
    again = TOY.cached(cfg, cache_dir)
    assert again.meta["from_cache"] and isinstance(again.summary, ToySummary) and again.summary == stored.summary


@pytest.mark.parametrize("field,value,word", [("peak", -0.1, "peak"), ("peak", 0.5, "peak"), ("final", 0.5, "final"),
                                              ("kind", "exp", "kind"), ("kind", "step", "milestones"),
                                              ("h_peak", 2, "h_peak"), ("lam0", 2.0, "lam0"), ("K", 0, "K"),
                                              ("warmup", 15_000, "warmup"), ("n_paths", 1, "n_paths"),
                                              ("sigma", -1.0, "sigma")])
def test_bad_toy_parameters_are_one_sentence_errors(field, value, word):
    with pytest.raises(ConfigError, match=word) as err:
        TOY.config("quick", **{field: value})
    msg = str(err.value)
    assert msg.endswith(".") and "\n" not in msg


# ---- the drift-factor law at constant learning rates ----------------------------------------------------------
@pytest.fixture(scope="module")
def drift_quick(cache_dir):
    return DRIFT.cached(DRIFT.config("quick"), cache_dir)


def test_drift_follows_the_slow_flow_up_to_the_finite_eta_variance(drift_quick):
    s = drift_quick.summary
    assert [e.eta for e in s.by_eta] == [0.04, 0.02, 0.01]
    for e in s.by_eta:
        for name, r in e.rules.items():
            # the slow flow lacks the discrete variance factor 2/(2 - eta lambda) <= 1.136 here: a 15 % band
            assert abs(r.ratio - 1) < 0.15, (e.eta, name)
            # with it taken out, what is left is path noise (<= 1 %) and O((eta lambda)^2) terms: 3 % (measured 1.1 %)
            assert abs(r.ratio / e.variance_correction - 1) < 0.03, (e.eta, name)
            # the measured factor against the flow's ratio of drops: 3 % (measured <= 0.5 %)
            assert abs(r.factor_measured / r.factor_predicted - 1) < 0.03, (e.eta, name)
            assert r.factor_low <= r.factor_measured <= r.factor_high
        assert e.rules["sgd"].factor_measured == 1.0 and e.rules["sgd"].factor_at_lam0 == 1.0
    assert s.worst_corrected_error < 0.03 < s.worst_ratio_error  # the correction is what the band is made of
    inv = [e.rules["inverse_lr"] for e in s.by_eta]
    qsr = [e.rules["qsr"] for e in s.by_eta]
    # H = beta/eta: nearly fixed factor (predicted drift of 3.7 % over the three etas); QSR climbs toward K (+36 %)
    assert abs(inv[-1].factor_measured / inv[0].factor_measured - 1) < 0.1
    assert qsr[-1].factor_measured / qsr[0].factor_measured > 1.25
    assert qsr[0].factor_high < qsr[1].factor_low and qsr[1].factor_high < qsr[2].factor_low
    assert all(1 < r.factor_low for r in inv + qsr) and all(r.factor_at_lam0 < s.factor_limit_qsr for r in qsr)
    assert [r.h for r in qsr] == [5, 20, 81] and [r.h for r in inv] == [5, 10, 20]


def test_drift_controls_one_worker_no_noise_and_the_flattest_point(cache_dir):
    small = dict(n_paths=64, etas=(0.04, 0.02))
    k1 = DRIFT.cached(DRIFT.config("quick", K=1, **small), cache_dir).summary
    for e in k1.by_eta:
        sgd = e.rules["sgd"].drop
        for name in ("inverse_lr", "qsr"):
            assert e.rules[name].drop == sgd and e.rules[name].factor_measured == pytest.approx(1.0, abs=1e-12)
            assert e.rules[name].factor_at_lam0 == 1.0
        assert sgd.low > 0  # SGD itself drifts
    quiet = DRIFT.cached(DRIFT.config("quick", sigma=0.0, **small), cache_dir).summary
    flat = DRIFT.cached(DRIFT.config("quick", lam0=2.0, **small), cache_dir).summary
    for s in (quiet, flat):
        assert math.isnan(s.worst_ratio_error)
        for e in s.by_eta:
            for name, r in e.rules.items():
                assert abs(r.drop.mean) < 1e-12 and abs(r.drop.low) < 1e-12 and abs(r.drop.high) < 1e-12
                assert r.predicted_drop == 0.0 and math.isnan(r.ratio) and math.isnan(r.factor_measured)
                assert math.isfinite(r.factor_at_lam0)
    # the lam0 = 2 drop read against the lam0 = 6 prediction: nothing of it is left
    base = DRIFT.cached(DRIFT.config("quick", **small), cache_dir).summary
    assert all(abs(e.rules["qsr"].drop.mean) < 1e-9 * b.rules["qsr"].predicted_drop
               for e, b in zip(flat.by_eta, base.by_eta))


@pytest.mark.parametrize("field,value,word", [("lam0", 1.9, "lam0"), ("etas", (), "etas"), ("etas", (0.5,), "etas"),
                                              ("etas", (0.02, 0.02), "repeat"), ("beta", 0.0, "beta"),
                                              ("alpha", -1.0, "alpha"), ("slow_time", 1e-6, "slow_time"),
                                              ("n_paths", 1, "n_paths")])
def test_bad_drift_parameters_are_one_sentence_errors(field, value, word):
    with pytest.raises(ConfigError, match=word) as err:
        DRIFT.config("quick", **{field: value})
    msg = str(err.value)
    assert msg.endswith(".") and "\n" not in msg


def test_drift_is_deterministic_by_seed():
    cfg = DRIFT.config("quick", n_paths=16, etas=(0.04,))
    a, b = DRIFT.run(cfg), DRIFT.run(cfg)
    c = DRIFT.run(DRIFT.config("quick", n_paths=16, etas=(0.04,), seed=3))
    assert a.summary == b.summary and np.array_equal(a.arrays["drop_qsr_eta0"], b.arrays["drop_qsr_eta0"])
    assert not np.array_equal(a.arrays["drop_qsr_eta0"], c.arrays["drop_qsr_eta0"])
