"""The specdec experiments `exact`, `speed` and `lossy` end to end on small configs (tabular chains; the "test"
tiny pair, trained in seconds into the session cache), their summaries, command line and figures."""
from __future__ import annotations

import math

import pytest

from sims.engine import ConfigError
from sims.engine.summary import undocumented_fields
from sims.specdec import BY_NAME, DEFAULT, EXACT, EXPERIMENTS, LOSSY, SPEED

SMALL_EXACT = {"lm": False, "n_seqs": 20000, "block_seqs": 800, "block_tokens": 48}
TEST_EXACT = {"pair": "test", "n_seqs": 4000, "block_seqs": 200, "block_tokens": 24, "lm_rows": 3000,
              "prompt_len": 12}
TEST_LOSSY = {"pair": "test", "kinds": ("linear",), "epsilons": (1.0, 0.5), "rows": 64, "new_tokens": 24,
              "prompt_len": 12, "chi_rows": 3000}
TEST_SPEED = {"pair": "test", "gammas": (1, 3), "batches": (1, 8), "min_rows": 4, "new_tokens": 16, "prompt_len": 8,
              "repeats": 1}


def test_every_summary_field_is_documented():
    assert set(BY_NAME) == {"exact", "distill", "speed", "lossy"} and DEFAULT[0] in BY_NAME
    for exp in EXPERIMENTS:
        assert undocumented_fields(exp.summary) == [], exp.name


def test_tabular_exactness_separates_the_exact_sampler_from_the_broken_ones(cache_dir):
    s = EXACT.cached(EXACT.config("quick", **SMALL_EXACT), root=cache_dir).summary
    for name, case in s.cases.items():
        assert case.modes["exact"].p_value > 1e-3, name
        assert case.modes["no_correction"].p_value < 1e-6, name
    # the draft-bonus bug is caught only when the tested prefix is longer than a block
    assert s.cases["bigram_k3_gamma2"].modes["draft_bonus"].p_value < 1e-6
    assert s.cases["bigram_k3_gamma3"].modes["draft_bonus"].p_value > 1e-3
    assert s.cases["bigram_k3_gamma2"].modes["exact"].dof > 100
    assert abs(s.iid.ratio - 1) < 4 * s.iid.ratio_se + 1e-3
    assert s.non_iid.ratio > 1 + 10 * s.non_iid.ratio_se   # Jensen: the i.i.d. formula underestimates
    assert math.isnan(s.lm_acceptance)


def test_the_same_seed_gives_the_same_summary(tmp_path):
    cfg = EXACT.config("quick", **{**SMALL_EXACT, "n_seqs": 500, "block_seqs": 50})
    assert EXACT.run(cfg).summary.to_json() == EXACT.run(cfg).summary.to_json()


def test_exact_on_the_test_pair(cache_dir):
    s = EXACT.cached(EXACT.config("quick", **TEST_EXACT), root=cache_dir).summary
    lm = s.cases["lm_k2_gamma1"]
    assert lm.k == 2 and lm.gamma == 1
    assert lm.modes["exact"].p_value > 1e-3
    # a bonus token drawn from the draft falls inside the tested two tokens (k > gamma): caught even on the weak
    # test pair (the no-correction sampler's bias is small there: its law min(p, q) + (1 - alpha) q is near p
    # when p and q are both diffuse)
    assert lm.modes["draft_bonus"].p_value < 1e-6
    assert lm.modes["exact"].n == 3000
    assert 0.9 < s.lm_acceptance < 1.1


def test_lossy_on_the_test_pair(cache_dir):
    s = LOSSY.cached(LOSSY.config("quick", **TEST_LOSSY), root=cache_dir).summary
    one, half = s.kinds["linear"]["1"], s.kinds["linear"]["0.5"]
    assert one.quality_tv == pytest.approx(0.0, abs=1e-9)
    assert half.quality_tv > 0.001
    assert half.predicted_acceptance > one.predicted_acceptance
    assert half.acceptance > one.acceptance
    assert one.ratio == pytest.approx(1.0, abs=0.1) and half.ratio > 1.0
    assert s.exact_at_one.p_value > 1e-3 and s.exact_at_lossy.p_value < 1e-6


def test_lossy_control_switches_lenience_off(cache_dir):
    s = LOSSY.cached(LOSSY.config("quick", **{**TEST_LOSSY, "lenient": False, "chi_rows": 0}), root=cache_dir).summary
    assert s.exact_at_one is None
    half = s.kinds["linear"]["0.5"]
    assert half.ratio == pytest.approx(1.0, abs=0.1)


def test_speed_on_the_test_pair(cache_dir):
    s = SPEED.cached(SPEED.config("quick", **TEST_SPEED), root=cache_dir).summary
    assert set(s.batches) == {1, 8}
    for b in s.batches.values():
        assert b.c > 0 and b.target_step_ms > 0
        for g, p in b.points.items():
            assert 1.0 <= p.tau <= g + 1 and 0.0 <= p.alpha <= 1.0
            assert p.speedup > 0 and p.ratio == pytest.approx(p.speedup / p.speedup_formula)


@pytest.mark.parametrize("exp, field, value, match", [
    (EXACT, "vocab", 3, "vocab"), (EXACT, "gamma", 0, "gamma"), (EXACT, "pair", "huge", "pair"),
    (SPEED, "gammas", (), "gammas"), (SPEED, "temperature", 0.0, "temperature"), (SPEED, "batches", (0,), "batches"),
    (LOSSY, "kinds", ("cubic",), "kinds"), (LOSSY, "epsilons", (1.5,), "epsilons"),
    (LOSSY, "chi_epsilon", 0.0, "chi_epsilon")])
def test_bad_parameters_are_named(exp, field, value, match):
    with pytest.raises(ConfigError, match=match):
        exp.config("quick", **{field: value})


def test_figures_draw(cache_dir, tmp_path):
    from figures.specdec import draw_result
    for exp, over in ((EXACT, SMALL_EXACT), (LOSSY, TEST_LOSSY), (SPEED, TEST_SPEED)):
        res = exp.cached(exp.config("quick", **over), root=cache_dir)
        paths = draw_result(exp.name, res, tmp_path)
        assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
