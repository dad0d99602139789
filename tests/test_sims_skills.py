"""The skills simulations: the shipped table loads with its sources and its drop column checked, the table
experiment reproduces the notes' fit, and the synthetic population shows Y = X^k with k the skills per question."""
from __future__ import annotations

import numpy as np
import pytest

from sims.engine import ConfigError
from sims.skills import BY_NAME, DEFAULT, EXPERIMENTS, POPULATION, TABLE
from sims.skills import table as tables
from sims.skills.population import PopulationConfig, abilities


def test_the_table_ships_inside_the_package_with_a_source_per_row():
    assert (tables.DATA / "math2_table.csv").is_file()
    t = tables.load_main()
    assert len(t.model) == 25 and all(t.source)
    assert t.x[t.index("o1-preview")] == pytest.approx(0.855) and t.y[t.index("MetaMath-13B")] == pytest.approx(0.0048)
    assert np.all(t.drop_error <= t.drop_bound)
    assert set(tables.load_icl()) == {"mammoth", "skill_based", "proposed"}
    assert len(tables.load_modified()["modified"]) == 4


def test_the_loader_rejects_a_drop_that_rounding_cannot_explain(tmp_path, monkeypatch):
    text = (tables.DATA / "math2_table.csv").read_text().replace("10.89", "11.89")
    (tmp_path / "math2_table.csv").write_text(text)
    monkeypatch.setattr(tables, "DATA", tmp_path)
    with pytest.raises(tables.TableError, match="o1-preview"):
        tables.load_main()


def test_the_table_experiment_matches_the_notes_fit(tmp_path):
    s = TABLE.cached(TABLE.config("quick"), root=tmp_path).summary
    assert s.r2_square == pytest.approx(0.987, abs=0.001)
    assert s.exponent == pytest.approx(2.004, abs=0.002)
    assert s.exponent_low < s.exponent < s.exponent_high
    assert 1.8 < s.exponent_low and s.exponent_high < 2.25
    assert s.r2_linear == pytest.approx(0.940, abs=0.001)
    assert s.max_residual_model == "DeepSeek-R1-Distill-Llama-8B" and s.min_residual_model == "Claude 3.5 Sonnet"


def test_presets_validate_and_bad_values_are_named():
    assert DEFAULT in BY_NAME and len(EXPERIMENTS) == 3
    for exp in EXPERIMENTS:
        for preset in ("quick", "paper"):
            exp.config(preset)
    with pytest.raises(ConfigError, match="penalty"):
        POPULATION.config("quick", penalty=1.5)
    with pytest.raises(ConfigError, match="ks"):
        POPULATION.config("quick", ks=(2, 200))
    with pytest.raises(ConfigError, match="ability_low"):
        POPULATION.config("quick", ability_low=4.0)


def test_abilities_are_probabilities_ordered_by_latent_ability():
    cfg = PopulationConfig(noise_sd=0.0)
    s = abilities(cfg, np.random.default_rng(0))
    assert s.shape == (cfg.n_models, cfg.n_skills) and np.all((s > 0) & (s < 1))
    order = np.argsort(s[:, 0])
    assert np.all(np.diff(s[order].mean(1)) > 0)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("skills")
    return POPULATION.cached(POPULATION.config("quick"), root=root)


def test_the_exponent_tracks_the_skills_per_question(quick):
    tests = quick.summary.tests
    for k in (1, 2, 3):
        assert abs(tests[k].exponent - k) < 0.3
    assert tests[1].exponent < tests[2].exponent < tests[3].exponent
    assert tests[2].r2_square > 0.95 and tests[2].r2_shuffled < 0.5


def test_distinct_skill_pairs_sit_slightly_below_x_squared(quick):
    gap = quick.summary.tests[2].expected_gap
    assert -0.25 / 99 <= gap < 0


def test_a_composition_penalty_scales_y_down(tmp_path):
    s = POPULATION.cached(POPULATION.config("quick", penalty=0.5, ks=(2,)), root=tmp_path).summary
    assert s.tests[2].scale == pytest.approx(0.5, abs=0.05)
    assert s.tests[2].exponent > 2.2


def test_two_skill_math_questions_bend_the_exponent_below_two(tmp_path, quick):
    s = POPULATION.cached(POPULATION.config("quick", math_mix=0.6, ks=(2,)), root=tmp_path).summary
    assert s.tests[2].exponent < quick.summary.tests[2].exponent - 0.2


def test_the_summary_read_back_from_the_cache_is_typed_and_equal(tmp_path):
    cfg = POPULATION.config("quick", ks=(2,))
    first = POPULATION.cached(cfg, root=tmp_path)
    again = POPULATION.cached(cfg, root=tmp_path)
    assert type(again.summary.tests[2]).__name__ == "HardTest"
    assert again.summary.tests[2].exponent == first.summary.tests[2].exponent
