"""theory.qsr: the synchronisation rules, their replay over a schedule, the drift factor along it, the
communication model."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import local_sgd
from theory import qsr as q


def _official(rule: q.SyncRule, lrs: np.ndarray, warmup: int) -> list[int]:
    """The official call order, step by step: step, count, average when the count reaches h, then the next round's h
    from the learning rate of the step about to run (research notes 1.1). Returns every round's h."""
    total = len(lrs)
    h = rule.h(float(lrs[0]), 0, total, warmup)
    out, count = [h], 0
    for step in range(total):
        count += 1
        if count >= h and step + 1 < total:
            count = 0
            h = rule.h(float(lrs[step + 1]), step + 1, total, warmup)
            out.append(h)
    return out


def test_vit_round_counts_of_the_research_notes():
    lrs = q.vit_schedule().rates()
    counts = {a: q.replay(q.SyncRule.qsr(a, 4), lrs, q.VIT_WARMUP).count for a in (0.0175, 0.02, 0.025)}
    assert q.replay(q.SyncRule.constant(4), lrs, q.VIT_WARMUP).count == 23_400
    assert counts == {0.0175: 9_711, 0.02: 7_817, 0.025: 5_855}
    # the power-1 rule at the same alpha gives another count: the check can tell the exponent
    assert q.replay(q.SyncRule.inverse_lr(0.0175, 4), lrs, q.VIT_WARMUP).count == 16_718


def test_vit_largest_rounds():
    lrs = q.vit_schedule().rates()
    r = q.replay(q.SyncRule.qsr(0.0175, 4), lrs, q.VIT_WARMUP)
    assert r.lengths[-1] == 8_142 == q.VIT_STEPS - r.starts[-1]  # the last round is cut to the steps left
    assert int(np.sort(r.lengths)[-2]) == 2_769
    assert r.lengths.sum() == q.VIT_STEPS


def test_cosine_over_all_steps_gives_other_counts():
    """The slip the research notes warn of: the cosine over all 93,600 steps instead of the steps after warm-up."""
    lrs = q.vit_schedule().rates()
    t = np.arange(q.VIT_STEPS)
    alt = q.VIT_MIN + 0.5 * (q.VIT_PEAK - q.VIT_MIN) * (1 + np.cos(np.pi * t / q.VIT_STEPS))
    alt[:q.VIT_WARMUP] = lrs[:q.VIT_WARMUP]
    assert q.replay(q.SyncRule.qsr(0.0175, 4), alt, q.VIT_WARMUP).count == 8_133


def test_replay_matches_the_official_call_order():
    lrs = q.LRSchedule("cosine", peak=0.1, total=3000, warmup=200, final=1e-4).rates()
    for rule in (q.SyncRule.qsr(0.3, 2, 3), q.SyncRule.inverse_lr(0.5, 2), q.SyncRule.constant(7)):
        assert q.replay(rule, lrs, 200).lengths.tolist() == _official(rule, lrs, 200)


def test_step_decay_multiplies_qsr_h_by_about_100():
    lrs = q.LRSchedule("step", peak=0.8, total=30_000, milestones=(10_000, 20_000), gamma=0.1).rates()
    r = q.replay(q.SyncRule.qsr(0.4, 2), lrs)
    after_first = r.lengths[np.flatnonzero(r.starts >= 10_000)[0]]
    after_second = r.lengths[np.flatnonzero(r.starts >= 20_000)[0]]
    assert r.lengths[0] == 2  # (0.4/0.8)^2 = 0.25 -> H_base
    # (0.4/0.08)^2 = 25 up to the floor of a float just below it (0.8 * 0.1 > 0.08): 24 or 25, then x100
    assert after_first in (24, 25)
    assert abs(after_second / after_first - 100) <= 100 / 24 + 1e-9
    # power 1 multiplies H by 10 instead
    r1 = q.replay(q.SyncRule.inverse_lr(4.0, 2), lrs)
    h1 = r1.lengths[np.flatnonzero(r1.starts >= 10_000)[0]]
    h2 = r1.lengths[np.flatnonzero(r1.starts >= 20_000)[0]]
    assert h1 in (49, 50) and h2 in (499, 500)


def test_warmup_uses_init_h_and_alpha_zero_is_constant():
    lrs = q.LRSchedule("cosine", peak=0.1, total=1000, warmup=100).rates()
    r = q.replay(q.SyncRule(alpha=0.05, power=2, h_base=2, init_h=5), lrs, 100)
    assert (r.lengths[r.starts < 100] == 5).all()
    assert r.lengths[np.flatnonzero(r.starts >= 100)[0]] == 2  # (0.05/0.1)^2 = 0.25 -> H_base
    assert set(q.replay(q.SyncRule.constant(3), lrs, 100).lengths[:-1].tolist()) == {3}


def test_h_of_is_the_rule_at_the_round_start():
    lrs = q.LRSchedule("linear", peak=0.2, total=500, final=0.01).rates()
    rule = q.SyncRule.qsr(0.3, 1)
    f = q.h_of(rule, lrs)
    r = q.replay(rule, lrs)
    assert [f(int(s)) for s in r.starts] == r.lengths.tolist()
    with pytest.raises(ValueError, match="step"):
        f(500)


def test_schedules():
    s = q.LRSchedule("cosine", peak=1.0, total=101, warmup=0, final=0.0).rates()
    assert s[0] == pytest.approx(1.0) and s[50] == pytest.approx(0.5 * (1 + math.cos(math.pi * 50 / 101)))
    lin = q.LRSchedule("linear", peak=1.0, total=10, final=0.5).rates()
    assert lin[0] == 1.0 and np.all(np.diff(lin) < 0) and lin[-1] > 0.5
    w = q.LRSchedule("constant", peak=0.1, total=10, warmup=5, warmup_start=0.01).rates()
    assert w[0] == pytest.approx(0.01) and w[5:].tolist() == [0.1] * 5 and np.all(np.diff(w[:6]) > 0)


@pytest.mark.parametrize("kwargs, word", [
    (dict(kind="exp"), "kind"), (dict(peak=0.0), "peak"), (dict(total=0), "total"), (dict(warmup=1000), "warmup"),
    (dict(final=1.0), "final"), (dict(gamma=0.0), "gamma"), (dict(warmup=5, warmup_start=0.0), "warmup_start")])
def test_schedule_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        q.LRSchedule(**{**dict(peak=0.1, total=1000), **kwargs})


@pytest.mark.parametrize("kwargs, word", [(dict(alpha=-1.0), "alpha"), (dict(power=0.0), "power"),
                                          (dict(h_base=0), "h_base"), (dict(init_h=1.5), "init_h")])
def test_rule_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        q.SyncRule(**kwargs)


def test_drift_factor_limits():
    lrs = np.full(4000, 0.01)
    dp = q.replay(q.SyncRule.data_parallel(), lrs)
    assert np.allclose(q.drift_factor_along(dp, lrs, 8, 3.0), 1.0)  # H = 1 is SGD exactly
    big = q.replay(q.SyncRule.constant(2000), lrs)
    assert q.regularisation(big, lrs, 8, 3.0) > 7.9  # eta H lambda = 60: the factor is K up to psi's tail
    assert q.regularisation(big, lrs, 1, 3.0) == pytest.approx(1.0)  # K = 1: no enhancement


@given(st.floats(1e-3, 0.05), st.integers(2, 16), st.floats(0.5, 10.0))
def test_drift_factor_between_one_and_k(eta, K, lam):
    lrs = np.full(3000, eta)
    for rule in (q.SyncRule.constant(5), q.SyncRule.inverse_lr(0.1, 1), q.SyncRule.qsr(0.05, 1)):
        f = q.drift_factor_along(q.replay(rule, lrs), lrs, K, lam)
        assert np.all(f >= 1.0 - 1e-12) and np.all(f <= K + 1e-9)


def test_qsr_tail_factor_grows_to_k_and_constant_h_falls_to_one():
    """[ours] As the final learning rate shrinks, QSR's drift factor in the tail tends to K, the constant-H rule's
    to 1, and the power-1 rule's stays in between (research notes 1.5)."""
    K, lam = 4, 3.0
    tails = {}
    for final in (1e-3, 1e-4):
        lrs = q.LRSchedule("cosine", peak=0.05, total=40_000, final=final).rates()
        tails[final] = {n: q.tail_factor(q.replay(r, lrs), lrs, K, lam, 0.05) for n, r in
                        {"constant": q.SyncRule.constant(8), "inverse": q.SyncRule.inverse_lr(0.4, 8),
                         "qsr": q.SyncRule.qsr(0.2, 8)}.items()}
    lo, hi = tails[1e-3], tails[1e-4]
    assert hi["qsr"] > lo["qsr"] and hi["qsr"] > 0.9 * K
    assert hi["constant"] < lo["constant"] and hi["constant"] < 1.1
    assert 1.5 < hi["inverse"] < K - 0.5 and 1.5 < lo["inverse"] < K - 0.5


def test_bilinear_flow_along_constant_schedule_matches_local_sgd_closed_form():
    lrs = np.full(9600, 0.025)
    r = q.replay(q.SyncRule.constant(20), lrs)
    got = q.bilinear_sharpness_along(6.0, 1.0, 8, 4, r, lrs)
    t = np.cumsum(q.round_slow_time(r, lrs))
    # the round-wise finite-eta factor differs from the slow-SDE limit by O(eta lambda); both end near each other
    ref = local_sgd.bilinear_sharpness(t, 6.0, 1.0, 8, 4, 0.5)
    assert np.max(np.abs(got - ref)) < 0.02 * (6.0 - 2.0)
    sgd = q.bilinear_sharpness_along(6.0, 1.0, 8, 1, r, lrs)
    assert np.max(np.abs(sgd - local_sgd.bilinear_sharpness_sgd(t, 6.0, 1.0, 8))) < 1e-6


def test_bilinear_flow_ranks_the_rules_under_cosine_decay():
    lrs = q.LRSchedule("cosine", peak=0.05, total=20_000, final=5e-4).rates()
    final = {n: q.bilinear_sharpness_along(8.0, 1.0, 32, 4, q.replay(r, lrs), lrs)[-1] for n, r in
             {"dp": q.SyncRule.data_parallel(), "constant": q.SyncRule.constant(8),
              "inverse": q.SyncRule.inverse_lr(0.4, 8), "qsr": q.SyncRule.qsr(0.2, 8)}.items()}
    assert final["dp"] > final["constant"] > final["inverse"] > final["qsr"] > 2.0


def test_communication_model():
    fit = q.fit_allreduce([1e5, 1e6, 1e7], [1e-3 + 1e5 / 2e8, 1e-3 + 1e6 / 2e8, 1e-3 + 1e7 / 2e8])
    assert fit.latency == pytest.approx(1e-3, rel=1e-6) and fit.rate == pytest.approx(2e8, rel=1e-6)
    assert q.wall_time(100, 25, 0.01, 0.02) == pytest.approx(1.5)
    assert q.speedup_over_data_parallel(100, 100, 0.01, 0.02) == pytest.approx(1.0)
    assert q.speedup_over_data_parallel(100, 25, 0.01, 0.02) == pytest.approx(3.0 / 1.5)
    with pytest.raises(ValueError, match="two distinct sizes"):
        q.fit_allreduce([1e5, 1e5], [1.0, 1.0])
