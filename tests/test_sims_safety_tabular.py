"""Tests of sims.safety.tabular: the exact tabular chat world (T2.1, T2.2, T2.4 of the research notes, Sec. 2.11)."""
import dataclasses
import itertools
import math

import numpy as np
import pytest

from sims.engine import rng
from sims.engine.errors import ConfigError
from sims.engine.stats import chi_square
from sims.engine.summary import undocumented_fields
from sims.safety import tabular as tb
from theory import safety as theory


def random_model(length, seed):
    g = np.random.default_rng(seed)
    return tb._model(g.uniform(0.02, 0.98, size=(length, 2)))


@pytest.fixture(scope="module")
def test_run():
    return tb.run_tabular(tb.TABULAR.config("test"))


# ---------------------------------------------------------------------------------------------------------------
# Exact laws.
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("prefill", [0, 1, 3])
def test_prefill_asr_matches_enumeration(seed, prefill):
    model = random_model(7, seed)
    law = tb.sequence_law(model, prefill)
    assert law.sum() == pytest.approx(1.0, abs=1e-12)
    by_enum = law[tb.harmful_mask(7, 3)].sum()
    assert tb.prefill_asr(model, prefill, 3) == pytest.approx(by_enum, rel=1e-12, abs=1e-15)


def test_harm_marginals_match_enumeration():
    model = random_model(6, 9)
    law = tb.sequence_law(model)
    y = (np.arange(64)[:, None] >> np.arange(6)) & 1
    np.testing.assert_allclose(tb.harm_marginals(model), law @ y, rtol=1e-12)


@pytest.mark.parametrize("prefill", [0, 2])
def test_sampler_matches_exact_law(prefill):
    base = tb.base_model(6, 0.8, 0.9)
    model = tb.shallow_aligned(base, 2, 0.05)
    y = tb.sample(model, 40000, rng(0, "test-sampler", prefill), prefill).astype(int)
    counts = np.bincount(y @ (2 ** np.arange(6)), minlength=64)
    assert chi_square(counts, tb.sequence_law(model, prefill)).p_value > 1e-3
    # power: a slightly different law (recovery 0.2 after H) is rejected by the same draws
    other = tb.deep_aligned(model, 0.2)
    assert chi_square(counts, tb.sequence_law(other, prefill)).p_value < 1e-6


def test_mc_asr_within_interval_of_exact():
    _, shallow = tb.world(tb.TABULAR.config("quick", jitter=0.0))
    for m in (0, 2, 5):
        f, se = tb.mc_asr(shallow, 50000, rng(1, "mc", m), m, 4)
        assert abs(f - tb.prefill_asr(shallow, m, 4)) < 4 * se


# ---------------------------------------------------------------------------------------------------------------
# T2.1: shallow alignment.
def test_kl_zero_beyond_depth_exactly():
    base = tb.base_model(12, 0.85, 0.97)
    shallow = tb.shallow_aligned(base, 3, 1e-3)
    g = np.random.default_rng(0)
    for _ in range(20):
        y = g.integers(0, 2, 12)
        assert np.all(tb.kl_profile(shallow, base, y)[3:] == 0.0)
    along_harm = tb.kl_profile(shallow, base)
    assert np.all(along_harm[1:] == 0.0)
    expected = 1e-3 * math.log(1e-3 / 0.85) + 0.999 * math.log(0.999 / 0.15)
    assert along_harm[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_shallow_asr_equals_base_beyond_depth(depth):
    base = tb.base_model(12, 0.85, 0.97)
    shallow = tb.shallow_aligned(base, depth, 1e-3)
    for m in range(9):
        a, b = tb.prefill_asr(shallow, m, 4), tb.prefill_asr(base, m, 4)
        if m >= 1 and m + 1 >= depth:
            assert a == pytest.approx(b, rel=1e-13)
        else:
            assert a < b
    assert tb.prefill_asr(shallow, 0, 4) < tb.prefill_asr(base, 0, 4) / 3


def test_hand_built_deep_model_resists_prefilling():
    base = tb.base_model(12, 0.85, 0.97)
    shallow = tb.shallow_aligned(base, 3, 1e-3)
    deep = tb.deep_aligned(shallow, 0.5)
    kl = tb.kl_profile(deep, base)
    expected = tb.token_kl(0.485, 0.97)
    np.testing.assert_allclose(kl[1:], expected, rtol=1e-12)
    for m in (1, 3, 5, 8):
        assert tb.prefill_asr(deep, m, 4) < tb.prefill_asr(shallow, m, 4) / 5


def test_decode_identity_and_greedy():
    model = random_model(8, 3)
    np.testing.assert_allclose(tb.decode(model, 1.0, 1.0).harm, model.harm, rtol=1e-12)
    greedy = tb.decode(model, 1.0, 0.5)
    assert set(np.unique(greedy.harm)) <= {0.0, 1.0}
    np.testing.assert_array_equal(greedy.harm, (model.harm > 0.5).astype(float))
    hot = tb.decode(model, 2.0, 1.0)
    assert np.all(np.abs(hot.harm - 0.5) <= np.abs(model.harm - 0.5) + 1e-15)


def test_decoding_attack_is_worst_over_grid():
    _, shallow = tb.world(tb.TABULAR.config("quick", jitter=0.0))
    d = tb.decoding_attack(shallow, (0.5, 1.0, 1.5), (0.8, 1.0), 4)
    grid = [tb.prefill_asr(tb.decode(shallow, t, p), 0, 4) for t in (0.5, 1.0, 1.5) for p in (0.8, 1.0)]
    assert d.asr == max(grid)
    assert d.default_asr == tb.prefill_asr(shallow, 0, 4)
    assert d.asr >= d.default_asr


# ---------------------------------------------------------------------------------------------------------------
# T2.2: recovery training on Eq. 2.
def test_cut_law():
    law = tb.cut_law(12, 0.5, 4)
    assert law.sum() == pytest.approx(1.0)
    assert law[0] == 0.5 and np.allclose(law[1:5], 0.125) and np.all(law[5:] == 0)
    assert np.allclose(tb.cut_law(5, 1.0, 100)[1:], 0.25)


@pytest.mark.parametrize("anchor", tb.ANCHORS)
def test_gradient_matches_finite_differences(anchor):
    base = tb.base_model(6, 0.85, 0.97)
    init = tb.shallow_aligned(base, 2, 1e-2)
    model = random_model(6, 4)
    w = tb.recovery_weights(6, 0.2, 0.5, 3)
    a = tb.anchor_weights(init, 0.2, anchor)
    used = tb._used(6)
    w, a = w * used, a * used
    grad = tb.recovery_gradient(model.harm, init.harm, w, a)
    z = tb.special.logit(model.harm)
    for t, s in [(0, 0), (1, 1), (2, 0), (3, 1), (5, 0)]:
        dz = np.zeros_like(z)
        dz[t, s] = 1e-6
        up = tb.recovery_loss(tb._model(tb.special.expit(z + dz)), init, w, a)
        down = tb.recovery_loss(tb._model(tb.special.expit(z - dz)), init, w, a)
        assert (up - down) / 2e-6 == pytest.approx(grad[t, s], rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("anchor", ["refusal", "all"])
def test_optimum_is_a_stationary_point_and_training_lowers_loss(anchor):
    base = tb.base_model(12, 0.85, 0.97)
    init = tb.shallow_aligned(base, 3, 1e-3)
    w = tb.recovery_weights(12, 0.2, 0.5, 8) * tb._used(12)
    a = tb.anchor_weights(init, 0.2, anchor)
    opt = tb.recovery_optimum(init, w, a)
    assert np.max(np.abs(tb.recovery_gradient(opt.harm, init.harm, w, a))) < 1e-15
    trained = tb.train_recovery(init, 0.2, 0.5, 8, 500, 5.0, anchor)
    longer = tb.train_recovery(init, 0.2, 0.5, 8, 3000, 5.0, anchor)
    loss = [tb.recovery_loss(m, init, w, a) for m in (init, trained, longer, opt)]
    assert loss[0] > loss[1] > loss[2] >= loss[3] - 1e-12


def test_training_deepens_alignment():
    base = tb.base_model(12, 0.85, 0.97)
    shallow = tb.shallow_aligned(base, 3, 1e-3)
    deep = tb.train_recovery(shallow, 0.2, 0.5, 8, 2000, 5.0)
    for m in (1, 2, 3, 5, 8):
        assert tb.prefill_asr(deep, m, 4) < tb.prefill_asr(shallow, m, 4)
    assert tb.prefill_asr(deep, 2, 4) < 0.2 * tb.prefill_asr(shallow, 2, 4)
    late = tb.kl_profile(deep, base)[1:]
    assert late[:8].min() > 0.05 and np.all(tb.kl_profile(shallow, base)[1:] == 0)
    assert tb.anchor_kl(deep, shallow) > 0 and tb.anchor_kl(shallow, shallow) == 0


def test_anchor_on_harmful_states_fights_recovery():
    base = tb.base_model(12, 0.85, 0.97)
    shallow = tb.shallow_aligned(base, 3, 1e-3)
    asr = {a: tb.prefill_asr(tb.train_recovery(shallow, 0.2, 0.5, 8, 2000, 5.0, a), 5, 4) for a in tb.ANCHORS}
    assert asr["none"] < asr["refusal"] < asr["all"] < tb.prefill_asr(shallow, 5, 4)
    assert tb.anchor_mask(12, "none").sum() == 0 and tb.anchor_mask(12, "all").sum() == 23
    assert tb.anchor_mask(12, "refusal").sum() == 12


def test_ablations_monotone(test_run):
    s = test_run.summary
    by_c = [a.mean_asr for a in s.ablate_c]
    by_p = [a.mean_asr for a in s.ablate_p]
    assert all(x > y for x, y in itertools.pairwise(by_c))
    assert all(x > y for x, y in itertools.pairwise(by_p))
    kl_p = [a.late_kl for a in s.ablate_p]
    assert all(x < y for x, y in itertools.pairwise(kl_p))
    assert s.ablate_c[0].late_kl < s.ablate_c[-1].late_kl


# ---------------------------------------------------------------------------------------------------------------
# T2.4: fine-tuning attack.
def test_constrained_growth_matches_theory_in_small_regime():
    final = tb.finetune_attack([1e-5, 1e-4], 0.5, 1000, [2.0, 2.0])
    pred = theory.constrained_growth(1e-5, 0.5, 1000, 2.0), theory.constrained_growth(1e-4, 0.5, 1000, 2.0)
    assert final[0] == pytest.approx(pred[0], rel=0.01)
    assert final[1] == pytest.approx(pred[1], rel=0.01)
    ce = tb.finetune_attack([1e-7], 0.1, 50, None)
    assert ce[0] == pytest.approx(theory.ce_growth(1e-7, 0.1, 50), rel=1e-3)


def test_growth_ratio_nan_outside_regime():
    final = tb.finetune_attack([1e-4, 0.5], 0.5, 100, [2.0, 2.0])
    r = tb.growth_ratio([1e-4, 0.5], 0.5, 100, [2.0, 2.0], final, 0.05)
    assert math.isnan(r[1]) and r[0] == pytest.approx(final[0] / theory.constrained_growth(1e-4, 0.5, 100, 2.0))


def test_attack_pattern_of_table8(test_run):
    s = test_run.summary
    early = slice(0, 3)
    assert min(s.attack["sft"][early]) > 0.9 and min(s.attack["uniform_0.1"][early]) > 0.9
    assert max(s.attack["uniform_2"][early]) < 0.5
    assert max(s.attack["schedule"][1:3]) < 0.5
    assert s.benign["uniform_2"] < s.benign["schedule"] - 0.1
    assert s.benign["schedule"] > 0.95
    np.testing.assert_allclose(tb.objective_betas("schedule", 10), theory.beta_schedule(10))


# ---------------------------------------------------------------------------------------------------------------
# Experiment plumbing.
@pytest.mark.parametrize("field, value", [("tail", 20), ("prefills", (0, 9)), ("train_lr", 9.0), ("jitter", -1.0),
                                          ("alpha", 0.0), ("benign_positions", (11,)), ("persist", 1.0),
                                          ("attack_pi0", (0.0, 0.5)), ("mc_samples", 1), ("c_grid", ()), ("anchor", "benign")])
def test_bad_config_names_field(field, value):
    with pytest.raises(ConfigError, match=field):
        tb.TABULAR.config("quick", **{field: value})


def test_bad_function_arguments():
    base = tb.base_model(8, 0.85, 0.97)
    with pytest.raises(ConfigError, match="prefill"):
        tb.prefill_asr(base, 6, 4)
    with pytest.raises(ConfigError, match="temperature"):
        tb.decode(base, 0.0)
    with pytest.raises(ConfigError, match="objective"):
        tb.objective_betas("dpo", 5)


def test_deterministic_and_seed_matters(test_run):
    cfg = tb.TABULAR.config("test")
    again = tb.run_tabular(cfg)
    assert again.summary.to_json() == test_run.summary.to_json()
    other = tb.run_tabular(dataclasses.replace(cfg, seed=1)).summary
    assert other.p_harm != test_run.summary.p_harm and other.asr != test_run.summary.asr
    flat0 = tb.run_tabular(dataclasses.replace(cfg, jitter=0.0)).summary
    flat1 = tb.run_tabular(dataclasses.replace(cfg, jitter=0.0, seed=1)).summary
    assert flat0.asr == flat1.asr and flat0.attack == flat1.attack and flat0.p_harm == 0.85


def test_summary_documented_and_round_trips(test_run):
    for cls in (tb.TabularSummary, tb.Ablation, tb.DecodingAttack):
        assert undocumented_fields(cls) == []
    s = test_run.summary
    assert tb.TabularSummary.from_json(s.to_json()).to_json() == s.to_json()
    assert "prefill ASR" in tb.summarize_tabular(test_run)
