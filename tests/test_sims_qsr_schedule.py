"""The ViT-B recipe replayed (sims/qsr/schedule.py): the round counts of every rule, the tail statistic read from
the rounds the rule set freely, a step decay's jump of H, and one-sentence errors."""
from __future__ import annotations

import pytest

from sims.engine.errors import ConfigError
from sims.qsr import SCHEDULE
from sims.qsr.schedule import ScheduleSummary, qsr_name


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    return SCHEDULE.cached(SCHEDULE.config("quick"), tmp_path_factory.mktemp("qsr-schedule"))


def test_round_counts_of_the_vit_recipe(vit):
    """The counts of the research notes' independent replay of the official adjust_h (shared/papers, 1.2)."""
    s = vit.summary
    assert isinstance(s, ScheduleSummary) and s.steps == s.data_parallel_rounds == 93_600
    counts = {name: r.rounds for name, r in s.rules.items()}
    assert counts == {"constant": 23_400, "inverse_lr": 16_718, qsr_name(0.0175): 9_711, qsr_name(0.02): 7_817,
                      qsr_name(0.025): 5_855}
    q = s.rules[qsr_name(0.0175)]
    assert q.h_max == 8_142 and q.h_max_free == 2_769 and q.h_after_warmup == 4


def test_tail_eta_h_orders_the_rules_and_grows_with_alpha(vit):
    """eta * H in the tail, from rounds the rule set freely (a last round cut to the steps left would measure the
    cut): about 0 for a constant H, of order alpha_1 for power 1, order alpha^2 / eta for QSR, growing with alpha."""
    r = vit.summary.rules
    assert r["constant"].eta_h_tail < 1e-3 < r["inverse_lr"].eta_h_tail < 0.1 < r[qsr_name(0.0175)].eta_h_tail
    assert r[qsr_name(0.0175)].eta_h_tail < r[qsr_name(0.02)].eta_h_tail < r[qsr_name(0.025)].eta_h_tail


def test_a_step_decay_multiplies_qsr_h_by_about_a_hundred(tmp_path):
    """A x0.1 decay multiplies (alpha / eta)^2 by 100; the floor of 24.99... and 2499.99... (0.8 x 0.1 is slightly
    above 0.08 in floating point) gives 24 then 2,500 or 2,499, so the jump is 100 within the floor's rounding."""
    cfg = SCHEDULE.config("quick", kind="step", total=20_000, warmup=0, peak=0.8, milestones=(5_000, 10_000),
                          gamma=0.1, alphas=(0.4,), h_base=4, init_h=4)
    s = SCHEDULE.cached(cfg, tmp_path).summary
    assert 100 <= s.rules[qsr_name(0.4)].largest_jump <= 2_500 / 24


@pytest.mark.parametrize("field,value,word", [("alphas", (0.02, 0.02), "alphas must not repeat"),
                                              ("warmup", 93_600, "warmup"), ("kind", "exp", "kind"),
                                              ("final", 0.1, "final"), ("alphas", (), "alphas")])
def test_bad_parameters_are_one_sentence(field, value, word):
    with pytest.raises(ConfigError, match=word) as err:
        SCHEDULE.config("quick", **{field: value})
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
