"""Simulations of the data-mixing paper (arXiv 2505.18091): synthetic data, the solver experiment, and a tiny
training run (determinism, shapes, that mixing ratio changes what is memorised)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from sims.engine import ConfigError, rng
from sims.engine.cache import key as cache_key
from sims.engine.cli import main
from sims.engine.summary import undocumented_fields
from sims.knapsack import BY_NAME, DEFAULT, PHASE, TRAIN
from sims.knapsack.data import (BIO, WEB, bio_sequences, eval_web, make_world, mixed_batch, sample_keys,
                                web_sequences, zipf_probs)
from sims.knapsack.fits import PowerLawFit, power_law_fit
from sims.knapsack.solver import PhaseSummary
from sims.knapsack.train import (chance_corrected, critical_ratio_from_curve, f2_estimate,
                                 knapsack_ratio_from_web_loss, linear_web, lr_at,
                                 BITS_PER_PARAM, QUICK, TrainPointSummary, TrainSummary, non_embedding_params)
from theory import knapsack as K

NAN = float("nan")


def _world(seed=0, zipf=1.5):
    return make_world(rng(seed, "w"), n_people=12, n_attrs=3, n_templates=2, n_values=4, n_keys=60, n_alphabet=10,
                      zipf=zipf, facts_per_web=3)


def test_biographies_render_every_attribute_with_its_template_and_value():
    w = _world()
    toks, mask = bio_sequences(w, np.arange(w.n_people), rng(0, "b"))
    assert np.all(toks[:, 0] == BIO) and mask.sum() == w.n_people * w.n_attrs
    for i in range(w.n_people):
        tmpl = toks[i, 3:w.bio_len:2] - w.o_tmpl
        attr = tmpl // w.n_templates
        assert sorted(attr) == list(range(w.n_attrs))  # every attribute once, in some order
        vals = toks[i, 4:w.bio_len:2] - w.o_value
        assert np.array_equal(vals, w.attrs[i, attr])
    # names are alphabet tokens, distinct from each other and from every web key (no private name tokens)
    assert np.all((toks[:, 1:3] >= w.o_alpha) & (toks[:, 1:3] < w.o_value))
    pairs = {tuple(n) for n in w.names}
    assert len(pairs) == w.n_people and not pairs & {tuple(k) for k in w.keys}
    # every value held by the same number of people: the person-blind guess is right with probability 1/n_values
    for a in range(w.n_attrs):
        assert np.all(np.bincount(w.attrs[:, a], minlength=w.n_values) == w.n_people // w.n_values)
    assert w.chance == pytest.approx(1 / w.n_values)
    assert toks.max() < w.vocab_size


def test_multi_token_values_spell_the_attribute_in_base_n_values():
    w = make_world(rng(3, "w"), n_people=10, n_attrs=2, n_templates=3, n_values=4, n_keys=40, n_alphabet=8,
                   zipf=1.5, facts_per_web=2, value_tokens=3)
    assert w.bio_len == 3 + 4 * 2 and w.bits_per_person == 2 * 3 * 2 and w.n_attr_values == 64
    assert w.chance == pytest.approx(1 / 10)      # distinct values per attribute: the best blind guess is 1 in 10
    toks, mask = bio_sequences(w, np.arange(w.n_people), rng(0, "b"))
    assert mask.sum() == w.n_people * w.n_attrs * 3
    for i in range(w.n_people):
        attr = (toks[i, 3:w.bio_len:4] - w.o_tmpl) // w.n_templates
        digits = np.stack([toks[i, 4 + j:w.bio_len:4] - w.o_value for j in range(3)], axis=1)
        assert np.array_equal(digits @ np.array([16, 4, 1]), w.attrs[i, attr])
        # the mask marks the template and the first two value tokens: the positions predicting a value token
        assert np.array_equal(np.nonzero(mask[i])[0], [3, 4, 5, 7, 8, 9])


def test_biographies_and_the_web_share_value_tokens_and_unbalanced_chance_is_exact():
    w = _world()
    web, m = eval_web(w, rng(0, "e"))[:2]
    bio, bm = bio_sequences(w, np.arange(w.n_people), rng(0, "b"))
    web_vals = web[:, 3:w.web_len:3]
    bio_vals = bio[:, 4:w.bio_len:2]
    for v in (web_vals, bio_vals):
        assert v.min() >= w.o_value and v.max() < w.o_value + w.n_values
    # fewer people than values: the best person-blind guess is right 1 time in n_people, not 1 in n_values
    few = make_world(rng(1, "w"), n_people=3, n_attrs=2, n_templates=1, n_values=8, n_keys=10, n_alphabet=4,
                     zipf=1.0, facts_per_web=2)
    assert few.chance == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="n_people \\+ n_keys"):
        make_world(rng(1, "w"), n_people=7, n_attrs=1, n_templates=1, n_values=2, n_keys=10, n_alphabet=4,
                   zipf=1.0, facts_per_web=2)


def test_random_web_redraws_values_at_training_but_not_at_evaluation():
    w = make_world(rng(0, "w"), n_people=12, n_attrs=3, n_templates=2, n_values=4, n_keys=60, n_alphabet=10,
                   zipf=1.5, facts_per_web=3, random_web=True)
    keys = np.zeros((400, 3), dtype=np.int64)                    # the most frequent key, 1200 times
    toks, _ = web_sequences(w, keys, rng(1, "train"))
    seen = np.unique(toks[:, 3::3])
    assert seen.size == w.n_values                               # every value turns up for one key
    fixed, _ = web_sequences(w, keys)                            # evaluation: the world's fixed value
    assert np.unique(fixed[:, 3::3]).size == 1
    plain, _ = web_sequences(_world(), keys, rng(1, "train"))    # without the control the rng draws nothing
    assert np.unique(plain[:, 3::3]).size == 1


def test_mixture_and_web_frequencies():
    w = _world()
    toks, _ = mixed_batch(w, 0.3, 20000, rng(1, "m"))
    assert abs(np.mean(toks[:, 0] == BIO) - 0.3) < 0.015 and np.all(np.isin(toks[:, 0], [BIO, WEB]))
    keys = sample_keys(w, (200000,), rng(2, "k"))
    emp = np.bincount(keys, minlength=w.n_keys) / keys.size
    assert np.allclose(emp, w.key_probs, atol=3e-3)
    assert np.allclose(zipf_probs(5, 0.0), 0.2)
    t, m, k = eval_web(w, rng(0, "e"))
    held = k.reshape(-1)
    assert sorted(held[held >= 0]) == list(range(w.n_keys))  # every key exactly once
    assert m.sum() == k.size


def test_phase_experiment_agrees_with_theory():
    res = PHASE.run(PHASE.config("quick", n_m=40, n_r=20, n_check=8, n_rho=400))
    s, a = res.summary, res.arrays
    assert s.max_closed_vs_numeric < 1e-6
    assert s.power_web.slope_logit_rthres_vs_M.slope == pytest.approx(-(0.283 + 1), abs=1e-9)
    assert s.linear_web.slope_logit_rthres_vs_M.slope == pytest.approx(0.0, abs=1e-9)
    assert s.predicted_slope == pytest.approx(-(0.283 + 1)) and s.M_f == pytest.approx(1e5 / 3)
    # the typed summary is what the result file holds: strict JSON that reads back as the same summary
    stored = json.loads(json.dumps(s.to_json(), allow_nan=False))
    assert PhaseSummary.from_json(stored).to_json() == s.to_json()
    assert np.allclose(a["r_thres"], K.critical_ratio(a["M"], 1e-3, K.PowerLawLoss(1.0, 0.283)))
    assert a["phi"].shape == (40, 20) and a["phi"].min() >= 0 and a["phi"].max() <= 1
    assert DEFAULT == ("phase", "train") and all(name in BY_NAME for name in DEFAULT)


def test_helpers_of_the_training_sweep():
    assert chance_corrected(0.25, 0.25) == pytest.approx(0.0) and chance_corrected(1.0, 0.25) == pytest.approx(1.0)
    assert critical_ratio_from_curve([0.01, 0.1], [0.0, 1.0], 0.5) == pytest.approx(np.sqrt(0.001))
    assert np.isnan(critical_ratio_from_curve([0.01, 0.1], [0.0, 0.2], 0.5))
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1) and lr_at(50, 100, 1.0, 10) == 1.0
    assert lr_at(99, 100, 1.0, 10) == pytest.approx(0.1)


def test_f2_is_the_median_of_the_web_heavy_runs():
    rows = np.array([[0.9, 0.5, 0.6, 3.0], [0.2, 0.3, 0.1, 3.0]])
    ratios = [0.001, 0.01, 0.02, 0.5]
    assert np.allclose(f2_estimate(ratios, rows, web_ratio_max=0.02), [0.6, 0.2])
    assert np.allclose(f2_estimate(ratios, rows, web_ratio_max=0.0), [0.9, 0.2])       # lowest ratio only
    assert np.allclose(f2_estimate(ratios, rows, [0.4, 0.0], web_ratio_max=0.0), [0.65, 0.1])


def test_knapsack_ratio_inverts_the_all_or_nothing_web_loss():
    q = zipf_probs(100, 1.5)
    V, P, F = 16, 16, 3
    for n in (1, 10, 60):
        f2 = np.log(V) * q[n:].sum()              # the n most frequent keys stored, the rest unknown
        r = knapsack_ratio_from_web_loss(f2, q, V, P, F)[0]
        # at r the n-th and (n+1)-th keys bracket a biography fact's frequency
        assert (1 - r) * F * q[n] <= r / P + 1e-15 <= (1 - r) * F * q[n - 1] + 1e-12
    # a better web model stores rarer keys, so facts must be rarer to be dropped: the predicted ratio falls
    rs = knapsack_ratio_from_web_loss([1.0, 0.5, 0.2], q, V, P, F)
    assert rs[0] > rs[1] > rs[2]


TINY = dict(sizes=(16,), ratios=(0.002, 0.5), steps=250, batch=32, lr=1e-2, warmup=10, n_people=4, n_attrs=2,
            n_values=4, n_keys=56, n_alphabet=8, workers=1)


@pytest.fixture(scope="module")
def tiny(cache_dir):
    return TRAIN.cached(TRAIN.config("quick", **TINY), root=cache_dir)


def test_training_is_deterministic_for_a_config_and_seed_in_one_process_or_a_pool():
    cfg = TRAIN.config("quick", **{**TINY, "steps": 20, "ratios": (0.1, 0.5), "workers": 1})
    a, b = TRAIN.run(cfg), TRAIN.run(cfg)
    pooled = TRAIN.run(TRAIN.config("quick", **{**TINY, "steps": 20, "ratios": (0.1, 0.5), "workers": 2}))
    for other in (b, pooled):
        assert np.array_equal(a.arrays["memorized_raw"], other.arrays["memorized_raw"])
        assert np.array_equal(a.arrays["web_loss"], other.arrays["web_loss"])
        assert np.array_equal(a.arrays["web_key_loss_r0"], other.arrays["web_key_loss_r0"])
    # the worker count is how a sweep runs, not what it computes: one cache entry for both
    assert cache_key("knapsack.train", cfg) == cache_key("knapsack.train", TRAIN.config(
        "quick", **{**TINY, "steps": 20, "ratios": (0.1, 0.5), "workers": 2}))


def test_seeds_over_shared_workers_equal_seeds_one_after_another(tmp_path):
    """Experiment.seeds runs a workers > 1 config's seeds at once on one pool (executor.map_concurrent): the same
    numbers, every seed stored in the cache, in seed order."""
    one = TRAIN.config("quick", **{**TINY, "steps": 20, "sizes": (8, 12), "ratios": (0.1, 0.3, 0.5), "workers": 1})
    two = TRAIN.config("quick", **{**TINY, "steps": 20, "sizes": (8, 12), "ratios": (0.1, 0.3, 0.5), "workers": 2})
    apart = TRAIN.seeds(one, [3, 1, 2], tmp_path / "apart")
    shared = TRAIN.seeds(two, [3, 1, 2], tmp_path / "shared")
    assert [r.config["seed"] for r in shared] == [3, 1, 2]
    for a, b in zip(apart, shared):
        for name in ("memorized_raw", "web_loss", "web_key_loss_r0", "r_thres"):
            assert np.array_equal(a.arrays[name], b.arrays[name], equal_nan=True), name
    again = TRAIN.seeds(two, [3, 1, 2], tmp_path / "shared")
    assert all(r.meta["from_cache"] for r in again)


def test_a_silent_web_gives_no_web_gradient_and_leaves_the_facts_their_own():
    import torch

    from sims.knapsack.train import batch_loss

    logits = torch.randn(6, 5, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 3, 4, 0])
    bio = torch.tensor([True, True, False, False, False, False])
    full = batch_loss(logits, targets, None, False)
    assert torch.allclose(full, torch.nn.functional.cross_entropy(logits, targets))
    silent = batch_loss(logits, targets, bio, True)
    silent.backward()
    assert torch.count_nonzero(logits.grad[~bio]) == 0           # web positions: no gradient
    fact_grad = torch.autograd.grad(batch_loss(logits, targets, None, False), logits)[0][bio]
    assert torch.allclose(logits.grad[bio], fact_grad)            # facts: the gradient of the mixed batch


def test_an_interrupted_training_sweep_keeps_its_finished_runs(tmp_path, monkeypatch):
    import sims.knapsack.train as train

    cfg = TRAIN.config("quick", **{**TINY, "steps": 10, "ratios": (0.1, 0.3, 0.5), "design": "grid"})
    trained = []
    real = train._run_point

    def flaky(point):
        if len(trained) == 2:
            raise KeyboardInterrupt
        trained.append(point.ratios[0])
        return real(point)

    monkeypatch.setattr(train, "_run_point", flaky)
    with pytest.raises(KeyboardInterrupt):
        TRAIN.cached(cfg, root=tmp_path)
    assert trained == [0.1, 0.3]
    trained.clear()
    monkeypatch.setattr(train, "_run_point", lambda point: (trained.append(point.ratios[0]), real(point))[1])
    resumed = TRAIN.cached(cfg, root=tmp_path)
    assert trained == [0.5]                        # the two finished runs came from the cache
    assert np.array_equal(resumed.arrays["memorized_raw"], TRAIN.run(cfg).arrays["memorized_raw"])


def test_tiny_training_mixing_ratio_matters(tiny):
    mem = tiny.arrays["memorized"]
    assert mem.shape == (1, 2)
    assert mem[0, 1] > 0.5          # half the data are biographies: mostly memorised
    assert mem[0, 0] < 0.3          # a handful of exposures: not memorised
    assert mem[0, 1] - mem[0, 0] > 0.4
    assert np.isfinite(tiny.arrays["web_loss_r0"]).all() and tiny.summary.sizes[0].n_params > 0


def test_every_knapsack_summary_documents_its_fields():
    for cls in (PhaseSummary, TrainSummary, TrainPointSummary):
        assert undocumented_fields(cls) == [], cls.__name__


def test_a_cached_sweep_reads_back_as_typed_summaries_with_the_numbers_it_stored(tmp_path):
    cfg = TRAIN.config("quick", **{**TINY, "steps": 10})
    fresh = TRAIN.cached(cfg, root=tmp_path)
    again = TRAIN.cached(cfg, root=tmp_path)
    assert again.meta["from_cache"] and isinstance(again.summary, TrainSummary)
    assert again.summary.to_json() == fresh.summary.to_json()
    size = again.summary.sizes[0]
    assert size.d_model == 16 and size.n_nonembedding == non_embedding_params(16, cfg.n_layers)
    assert size.web_loss_f2 == again.arrays["web_loss_f2"][0]
    # its points are cached as typed point summaries too: the raw memorised fraction of each run
    points = sorted((tmp_path / "knapsack" / "train_point").iterdir())
    assert len(points) == len(cfg.ratios)
    raw = sorted(json.loads((d / "result.json").read_text())["summary"]["memorized"] for d in points)
    assert raw == sorted(again.arrays["memorized_raw"][0])
    assert set(TrainPointSummary.from_json(json.loads((points[0] / "result.json").read_text())["summary"])
               .to_json()) == {"memorized", "web_loss", "n_params"}


def test_training_figures_draw_the_sweep_and_the_linear_web_control(tiny, cache_dir, tmp_path):
    from figures.knapsack import draw_result, fig_linear_web
    from figures.style import save

    lin = TRAIN.cached(linear_web(TRAIN.config("quick", **TINY)), root=cache_dir)
    assert np.allclose(lin.arrays["key_probs"], 1 / lin.config["n_keys"])          # uniform keys
    paths = draw_result("train", tiny, tmp_path) + [save(fig_linear_web(tiny, lin), tmp_path / "linear.png")]
    assert all(p.is_file() and p.stat().st_size > 10_000 for p in paths)


def _fit(slope: float) -> PowerLawFit:
    return PowerLawFit(slope=slope, low=NAN, high=NAN, intercept=NAN, r2=NAN, points=0)


def _sweep_summary(slope: float = NAN, alpha: float = NAN) -> TrainSummary:
    """A training sweep's summary that holds only the two size laws' numbers (the rest NaN or empty)."""
    return TrainSummary(sizes=(), web_fit=_fit(-alpha), alpha_web=alpha, slope_odds=_fit(slope),
                        predicted_slope=-(alpha + 1), bits_per_person=NAN, sequences=0, exposures_per_person=[], runs=0,
                        train_wall_s=NAN)


def test_size_law_figure_draws_every_seed(tmp_path):
    from figures.knapsack import fig_size_law_seeds
    from figures.style import save
    from sims.engine import Result

    N = np.array([500.0, 900.0, 1900.0])

    def fake(slope, alpha, level):
        odds = level * (N / N[0]) ** slope
        return Result("knapsack.train", {}, _sweep_summary(slope, alpha),
                      {"n_nonembedding": N, "r_thres": odds / (1 + odds), "r_thres_knapsack": 0.9 * odds / (1 + odds)})

    runs = [fake(-1.6, 0.95, 0.05), fake(-1.9, 1.0, 0.06), fake(-1.4, 0.9, 0.04)]
    lin = [fake(-0.7, 0.0, 0.08), fake(-0.6, 0.0, 0.09)]
    path = save(fig_size_law_seeds(runs, lin), tmp_path / "laws.png")
    assert path.is_file() and path.stat().st_size > 10_000
    gap = fake(NAN, 0.9, 0.05)                                   # a seed with no fitted slope comes first
    path = save(fig_size_law_seeds([gap] + runs, lin), tmp_path / "laws_nan.png")
    assert path.is_file() and path.stat().st_size > 10_000


def test_size_law_figure_reads_only_cached_seeds(tmp_path):
    from figures.knapsack import _cached_seeds

    cfg = TRAIN.config("quick", **TINY)
    assert _cached_seeds(TRAIN, cfg, (0, 1), tmp_path) == []     # nothing cached: nothing trained
    TRAIN.cached(cfg, root=tmp_path)
    got = _cached_seeds(TRAIN, cfg, (0, 1), tmp_path)
    assert [r.config["seed"] for r in got] == [cfg.seed]


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_linear_web_changes_only_the_web_and_no_size_can_store_it(preset):
    base = TRAIN.presets[preset]
    lin = linear_web(base)
    lin.validate()                                   # the alphabet holds the added keys
    assert lin.zipf == 0.0 and lin.n_keys >= 2 * base.n_keys and lin.facts_per_web == 2 * base.facts_per_web
    web = ("zipf", "n_keys", "facts_per_web", "n_alphabet")
    assert replace(lin, **{f: getattr(base, f) for f in web}) == base   # nothing else differs
    # the web's entropy is at least twice the largest model's capacity at BITS_PER_PARAM bits per parameter
    capacity = BITS_PER_PARAM * non_embedding_params(max(base.sizes), base.n_layers)
    assert lin.n_keys * np.log2(lin.n_values) >= 2 * capacity
    # uniform keys: the knapsack threshold is P F / K whatever the web loss (short of the whole web): one
    # threshold for every size, inside the preset's ratio grid
    q = zipf_probs(lin.n_keys, lin.zipf)
    rk = knapsack_ratio_from_web_loss([2.0, 1.0, 0.1], q, lin.n_values, lin.n_people, lin.facts_per_web)
    odds = lin.n_people * lin.facts_per_web / lin.n_keys
    assert np.allclose(rk, odds / (1 + odds)) and base.ratios[0] < rk[0] < base.ratios[-1]


def test_quick_linear_web_keeps_each_key_as_often_seen_as_in_the_quick_web():
    lin = linear_web(QUICK)            # the control measured in docs/knapsack.md: 2000 keys, 6 facts, alphabet 45
    assert (lin.n_keys, lin.facts_per_web, lin.n_alphabet) == (2000, 6, 45)
    assert lin.facts_per_web / lin.n_keys == QUICK.facts_per_web / QUICK.n_keys


def test_bad_parameters_are_one_sentence_errors(capsys):
    with pytest.raises(ConfigError, match="ratios"):
        TRAIN.config("quick", ratios=(0.1, 1.5))
    with pytest.raises(ConfigError, match="n_heads"):
        TRAIN.config("quick", sizes=(9,), n_heads=2)
    with pytest.raises(ConfigError, match="n_people"):
        TRAIN.config("quick", n_people=1000)
    with pytest.raises(ConfigError, match="weight_decay"):
        TRAIN.config("quick", weight_decay=-0.1)
    with pytest.raises(ConfigError, match="value_tokens"):
        TRAIN.config("quick", value_tokens=0)
    with pytest.raises(ConfigError, match="web_ratio_max"):
        TRAIN.config("quick", web_ratio_max=1.5)
    with pytest.raises(ConfigError, match="workers"):
        TRAIN.config("quick", workers=0)
    with pytest.raises(ConfigError, match="log10_r"):
        PHASE.config("quick", log10_r=(-1.0, 0.5))
    assert main("knapsack", list(BY_NAME.values()), DEFAULT, "", ["phase", "--alpha", "-1", "--no-figure"]) == 2
    assert "alpha" in capsys.readouterr().err


def _designed_sweep(onset, octaves, N, ratios):
    """A fake sweep whose memorised fraction rises linearly in log2 r from 0 at `onset` (per size) to 1 over
    `octaves` (per size)."""
    from sims.engine import Result

    x = np.log2(ratios)[None, :]
    mem = np.clip((x - np.log2(onset)[:, None]) / np.asarray(octaves, float)[:, None], 0.0, 1.0)
    return Result("knapsack.train", {"ratios": list(ratios), "threshold": 0.5}, _sweep_summary(alpha=1.0),
                  {"memorized": mem, "n_nonembedding": np.asarray(N, float)})


def test_the_critical_ratio_read_at_any_level_of_the_rise():
    from paper_checks.knapsack import censored_at_level, odds_slope_at_level, ratios_at_level, transition_octaves

    N = np.array([500.0, 1000.0, 2000.0])
    onset = 2.0 ** -8 * (N / N[0]) ** -2.0
    octaves = np.array([1.0, 1.5, 2.0])                          # the rise widens with size
    grid = [2.0 ** k for k in np.arange(-14, -1.99, 0.25)]      # the kinks of the rise lie on the grid
    res = _designed_sweep(onset, octaves, N, grid)
    for level in (0.2, 0.5, 0.8):
        want = onset * 2.0 ** (level * octaves)
        assert np.allclose(ratios_at_level(res, level), want, rtol=1e-9)
        slope = np.polyfit(np.log(N), np.log(want / (1 - want)), 1)[0]
        assert odds_slope_at_level(res, level) == pytest.approx(slope, rel=1e-9)
    # read higher on a rise that widens with size, the fall with size is shallower
    assert odds_slope_at_level(res, 0.8) > odds_slope_at_level(res, 0.2) + 0.25    # 0.6 octave per 2 octaves of N
    assert np.allclose(transition_octaves(res), 0.6 * octaves, rtol=1e-9)
    never = _designed_sweep(onset * 2.0 ** 20, octaves, N, grid)      # no size reaches any level on the grid
    assert np.isnan(odds_slope_at_level(never, 0.5)) and np.isnan(transition_octaves(never)).all()
    assert censored_at_level(never, 0.5).all() and not censored_at_level(res, 0.5).any()


def test_slope_at_the_sweeps_threshold_is_the_slope_the_size_laws_use():
    """odds_slope_at_level keeps the sizes run_train's slope_odds keeps: none that never reaches the level, none
    at r = 1 (infinite odds), and a size already past the level at the lowest ratio at that (censored) ratio."""
    from paper_checks.knapsack import censored_at_level, odds_slope_at_level, ratios_at_level

    N = np.array([500.0, 800.0, 1200.0, 2000.0, 3000.0])
    grid = [2.0 ** k for k in np.arange(-12, 0.01, 0.5)]
    onset = np.array([2.0 ** -3, 2.0 ** -5, 2.0 ** -7, 2.0 ** -13, 2.0 ** 3])   # the 4th starts below the grid,
    res = _designed_sweep(onset, [4.0, 1.0, 1.5, 2.0, 1.0], N, grid)              # the 5th above it
    mem = res.arrays["memorized"]
    mem[0] = np.minimum(mem[0], 0.3)                           # the 1st reaches the threshold only at r = 1
    mem[0, -1] = 0.5
    r = ratios_at_level(res, 0.5)
    assert r[0] == 1.0 and r[3] == grid[0] and np.isnan(r[4])
    assert censored_at_level(res, 0.5).tolist() == [False, False, False, True, True]
    with np.errstate(divide="ignore"):
        want = power_law_fit(N, r / (1 - r))
    assert want.points == 3
    assert odds_slope_at_level(res, 0.5) == pytest.approx(want.slope, rel=1e-12)


def test_exponent_by_level_figure_draws_both_webs(tmp_path):
    from figures.knapsack import fig_exponent_by_level
    from figures.style import save

    N = np.array([500.0, 1000.0, 2000.0])
    grid = [2.0 ** k for k in np.arange(-14, -1.99, 0.25)]
    runs = [_designed_sweep(0.004 * (N / N[0]) ** s, [1.0, 1.5, 2.0], N, grid) for s in (-2.0, -1.8, -2.2)]
    lin = [_designed_sweep(0.03 * (N / N[0]) ** s, [1.0, 1.0, 1.2], N, grid) for s in (-0.6, -0.8)]
    path = save(fig_exponent_by_level(runs, lin), tmp_path / "levels.png")
    assert path.is_file() and path.stat().st_size > 10_000
    path = save(fig_exponent_by_level(runs, []), tmp_path / "levels_no_control.png")
    assert path.is_file() and path.stat().st_size > 10_000
