"""The skills `trained` experiment: the skill world (tables, question text, splits, which facts training shows),
the family's fits on points whose answer is known, and the experiment at its test preset (deterministic, cached
model by model, resumable). The verdicts at the quick preset are in test_paper_checks_skills.py (slow)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sims.engine import ConfigError
from sims.skills import TRAINED
from sims.skills import trained as tr
from sims.skills.world import SkillWorld, WorldSpec

torch.set_num_threads(1)


# ---- the world --------------------------------------------------------------------------------------------------
def test_every_skill_is_a_permutation_and_the_text_follows_the_steps():
    w = SkillWorld(WorldSpec(n_values=8, n_skills=5, n_triples=10))
    assert all(sorted(row) == list(range(8)) for row in w.table)
    q = ((1, 3), 2)
    a, b = int(w.table[1, 2]), int(w.table[3, w.table[1, 2]])
    assert w.steps(q) == [a, b]
    assert w.prompt(q) == "BDc="
    assert w.answer(q) == f"{w.values[a]},D{w.values[a]}={w.values[b]}"
    three = ((0, 1, 2), 5)
    assert w.answer(three).count(",") == 2 and w.answer(three).endswith(w.values[w.steps(three)[-1]])
    direct = SkillWorld(WorldSpec(n_values=8, n_skills=5, n_triples=10, cot=False))
    assert direct.answer(q) == direct.values[b]
    prompt, answer = w.example(three)
    assert len(prompt) + len(answer) <= w.max_len()
    assert w.tokenizer.decode(answer) == w.answer(three) + "."


def test_the_pair_split_is_disjoint_and_complete_and_the_triples_are_distinct():
    w = SkillWorld(WorldSpec(n_values=6, n_skills=6, train_pairs=0.5, n_triples=40))
    pairs = set(w.train_pairs) | set(w.test_pairs)
    assert not set(w.train_pairs) & set(w.test_pairs)
    assert pairs == {(i, j) for i in range(6) for j in range(6) if i != j}
    assert len(w.train_pairs) == 15
    triples = w.train_triples + w.test_triples
    assert len(set(triples)) == 40 and all(len(set(t)) == 3 for t in triples)


def test_coverage_hides_facts_from_every_training_example():
    w = SkillWorld(WorldSpec(n_values=10, n_skills=6, n_practice=3, coverage=0.4, n_triples=30))
    assert np.all(w.shown[:6].sum(1) == 4) and np.all(w.shown[6:])
    shown = {(w.prompt(((i,), x)), w.values[w.table[i, x]]) for i in range(9) for x in range(10) if w.shown[i, x]}
    for prompt_ids, answer_ids in w.training_set():
        prompt, answer = w.tokenizer.decode(prompt_ids), w.tokenizer.decode(answer_ids)[:-1]
        # every step of every training answer is a shown fact: the first step from the prompt, the later ones
        # restated as one-skill questions
        assert (prompt[0] + prompt[-2] + "=", answer[0]) in shown, (prompt, answer)
        for part in answer.split(",")[1:]:
            assert (part[:3], part[3]) in shown, (prompt, answer)
    # the tables and the pair split do not depend on coverage, nor the tested world on the practice skills
    full = SkillWorld(WorldSpec(n_values=10, n_skills=6, n_practice=3, coverage=1.0, n_triples=30))
    assert np.array_equal(full.table, w.table) and full.test_pairs == w.test_pairs
    more = SkillWorld(WorldSpec(n_values=10, n_skills=6, n_practice=3, coverage=0.7, n_triples=30))
    assert np.all(more.shown[w.shown])  # a larger coverage shows every fact a smaller one shows
    bare = SkillWorld(WorldSpec(n_values=10, n_skills=6, n_practice=0, coverage=0.4, n_triples=30))
    assert np.array_equal(bare.table, w.table[:6]) and bare.test_pairs == w.test_pairs
    assert np.array_equal(bare.shown, w.shown[:6])


def test_practice_skills_are_trained_composed_and_never_tested():
    w = SkillWorld(WorldSpec(n_values=6, n_skills=5, n_practice=3, coverage=0.2, n_triples=20))
    assert len(w.practice_chains) == 6 + 6
    tested = set(range(5))
    for chain in w.test_pairs + w.test_triples + w.train_pairs + w.train_triples:
        assert set(chain) <= tested
    assert all(q[0][0] in tested for q in w.singles()) and len(w.singles()) == 30
    prompts = {w.tokenizer.decode(p) for p, _ in w.training_set()}
    assert {w.prompt((c, x)) for c in w.practice_chains for x in range(6)} <= prompts


def test_full_coverage_trains_on_every_fact_at_least_as_often_as_on_composed_questions():
    w = SkillWorld(WorldSpec(n_values=6, n_skills=5, n_triples=20))
    data = w.training_set()
    singles = [d for d in data if len(d[0]) == 3]
    assert len(singles) >= len(data) - len(singles)
    practice = [((i,), x) for i in range(5, 5 + w.spec.n_practice) for x in range(6)]
    assert {tuple(p) for p, _ in singles} == {tuple(w.example(q)[0]) for q in w.singles() + practice}


@pytest.mark.parametrize("field, value, says", [
    ("n_values", 27, "n_values"), ("n_skills", 37, "n_skills"), ("n_practice", 13, "n_practice"),
    ("coverage", 0.0, "coverage"),
    ("train_pairs", 1.0, "train_pairs"), ("n_triples", 10**6, "n_triples")])
def test_bad_world_values_are_named(field, value, says):
    with pytest.raises(ConfigError, match=says):
        WorldSpec(**{field: value}).validate()


@pytest.mark.parametrize("field, value, says", [
    ("sizes", (12,), "head_dim"), ("coverages", (0.5, 0.5), "coverages"), ("coverages", (1.5,), "coverages"),
    ("evals", 10**6, "evals"), ("x_low", 0.99, "x_low"), ("x_low", 0.05, "chance"), ("sizes", (), "sizes"),
    ("device", "gpu", "device")])
def test_bad_family_values_are_named(field, value, says):
    with pytest.raises(ConfigError, match=says):
        TRAINED.config("quick", **{field: value})


# ---- the fits ---------------------------------------------------------------------------------------------------
def _points(x, **columns):
    a = {"x": np.asarray(x, float)}
    for name in tr.FIELDS[1:]:
        a[name] = np.asarray(columns.get(name, x), float)
    return a


def test_a_family_on_the_square_law_fits_exponent_two_and_composes_for_free():
    x = np.linspace(0.2, 0.9, 8)
    f = tr.family_fit(_points(x, y2=x ** 2, y3=x ** 3, pred2=x ** 2, pred3=x ** 3, both2=x ** 2, both3=x ** 3,
                              y2_train=x ** 2), 0.1, 0.98)
    assert f.n_window == 8
    assert f.exponent2 == pytest.approx(2.0, abs=1e-5) and f.exponent3 == pytest.approx(3.0, abs=1e-5)
    assert f.exponent_first == pytest.approx(1.0, abs=1e-5) and f.own_ratio2 == pytest.approx(1.0)
    assert f.r2_square == pytest.approx(1.0) and f.scale2 == pytest.approx(1.0)


def test_a_composition_penalty_shows_in_the_ratio_and_the_scale():
    x = np.linspace(0.2, 0.9, 8)
    f = tr.family_fit(_points(x, y2=0.6 * x ** 2, pred2=x ** 2, both2=0.6 * x ** 2, y3=x ** 3, pred3=x ** 3,
                              both3=x ** 3), 0.1, 0.98)
    assert f.own_ratio2 == pytest.approx(0.6) and f.scale2 == pytest.approx(0.6)
    assert f.exponent2 > 2.2


def test_the_window_drops_saturated_and_chance_points_and_too_few_give_nan():
    x = np.array([0.05, 0.3, 0.5, 0.99, 1.0])
    f = tr.family_fit(_points(x, y2=x ** 2), 0.1, 0.98)
    assert f.n_window == 2 and np.isnan(f.exponent2) and np.isnan(f.own_ratio2)


def test_the_own_skill_product_follows_the_steps_of_each_question():
    w = SkillWorld(WorldSpec(n_values=4, n_skills=3, n_triples=4))
    know = np.zeros((3, 4))
    q = ((0, 2), 1)
    mid = w.steps(q)[0]
    know[0, 1] = 1.0
    assert tr._own_product(w, know, [q]).tolist() == [0.0]
    know[2, mid] = 1.0
    assert tr._own_product(w, know, [q]).tolist() == [1.0]
    assert tr._own_product(w, know, [q, ((1, 2), 1)]).tolist() == [1.0, 0.0]


# ---- the experiment at its test preset -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("skills-trained")
    return root, TRAINED.cached(TRAINED.config("test"), root=root)


def test_the_family_has_one_point_per_model_and_budget_with_rates_in_range(family):
    _, res = family
    cfg = TRAINED.config("test")
    n_models = len(cfg.sizes) * len(cfg.coverages)
    assert res.summary.n_points == n_models * cfg.evals == res.arrays["x"].size
    assert set(res.summary.models) == {f"d{d}-c{c:g}" for d in cfg.sizes for c in cfg.coverages}
    assert int(res.arrays["final"].sum()) == n_models and set(res.summary.by_width) == set(cfg.sizes)
    for name in tr.FIELDS:
        v = res.arrays[name]
        assert np.all((v >= 0) & (v <= 1)), name
    assert sorted(set(res.arrays["step"].astype(int))) == [cfg.steps // cfg.evals, cfg.steps]
    assert "fits over the points" in TRAINED.summarize(res)


def test_the_family_is_deterministic_and_each_model_is_cached_alone(family, tmp_path):
    root, res = family
    again = tr.run_trained(TRAINED.config("test"))
    for name in tr.FIELDS + ("loss",):
        assert np.array_equal(again.arrays[name], res.arrays[name]), name
    # a family with one more coverage reuses the stored models and trains only the new one
    more = TRAINED.config("test", coverages=(0.5, 1.0, 0.75))
    cached = tr.cache.sweep(tr.MODEL, [tr._model_config(more, d, c) for d, c in tr._members(more)], tr._run_model,
                            root, summary=tr.ModelSummary)
    fresh = [not r.meta.get("from_cache", False) for r in cached]
    assert fresh == [c == 0.75 for _, c in tr._members(more)]


def test_the_figure_draws_from_the_test_family(family, tmp_path):
    from figures.skills import draw_result
    _, res = family
    paths = draw_result("trained", res, tmp_path)
    assert [p.name for p in paths] == ["skills_trained.png"] and paths[0].stat().st_size > 10_000
