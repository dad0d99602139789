"""Tests of sims.ptst.feature: the template-feature model (toy models T3.1-T3.3 of the research notes, Sec. 3.6)."""
import dataclasses
import itertools

import numpy as np
import pytest
from scipy import special

from sims.engine import rng
from sims.engine.errors import ConfigError
from sims.engine.summary import undocumented_fields
from sims.ptst import feature as ft

SAFE = ft.SAFETY_TEMPLATE
NO_SAFETY = [t for t in ft.TEMPLATES if t != SAFE]


@pytest.fixture(scope="module")
def cfg():
    return ft.FEATURE.config("test")


@pytest.fixture(scope="module")
def summary(cfg):
    return ft.run_feature(cfg).summary


# ---------------------------------------------------------------------------------------------------------------
# Model pieces.
def test_gradient_matches_finite_differences(cfg):
    q = ft.draw_all(cfg)
    phi, y = ft.training_set(ft.template_vectors(cfg)[SAFE], q, cfg, safety=True)
    theta = ft.aligned_init(cfg) + rng(3, "test-theta").normal(0.0, 0.3, size=phi.shape[1])
    grad = ft.gradient(theta, phi, y)
    idx = rng(4, "test-idx").choice(theta.size, size=40, replace=False)
    h = 1e-6
    for i in idx:
        d = np.zeros_like(theta)
        d[i] = h
        fd = (ft.loss(theta + d, phi, y) - ft.loss(theta - d, phi, y)) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_feature_kernel_identity(cfg):
    """phi(A, x) . phi(B, x') = s_t^2 rho + s_q^2 x.x' + s_i^2 rho x.x' (module docstring)."""
    e = ft.template_vectors(cfg)
    x = ft.draw_queries("harmful", 5, cfg, rng(0, "k1"))
    z = ft.draw_queries("benign", 5, cfg, rng(0, "k2"))
    for a, b in [("chat:vanilla", SAFE), ("text:alpaca", "chat:mpt"), (SAFE, SAFE)]:
        gram = ft.features(e[a], x, cfg) @ ft.features(e[b], z, cfg).T
        rho, xz = e[a] @ e[b], x @ z.T
        expect = cfg.scale_template ** 2 * rho + cfg.scale_query ** 2 * xz + cfg.scale_interaction ** 2 * rho * xz
        np.testing.assert_allclose(gram, expect, rtol=1e-12, atol=1e-12)


def test_templates_unit_and_cosines_follow_components(cfg):
    e = ft.template_vectors(cfg)
    for v in e.values():
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-14)
        assert v @ ft.knob_direction() == 0.0
    cos = ft.template_cosines(cfg)
    # same family shares more than across families; the two system-prompt templates share the most
    assert cos["chat:vanilla"][SAFE] > cos["text:vanilla"][SAFE]
    assert cos["chat:mpt"][SAFE] > cos["chat:vanilla"][SAFE]
    # with no shared components at all the templates are orthogonal
    lone = dataclasses.replace(cfg, w_common=0.0, w_family=0.0, w_system=0.0, w_content=0.0)
    c0 = ft.template_cosines(lone)
    assert all(c0[a][b] == 0.0 for a in ft.TEMPLATES for b in ft.TEMPLATES if a != b)


def test_aligned_init_closed_form(cfg):
    """Initial logit = bias - margin h.x, minus (safety_margin h.x + caution) under the safety template."""
    e = ft.template_vectors(cfg)
    theta = ft.aligned_init(cfg)
    x = ft.draw_queries("danger", 50, cfg, rng(1, "init"))
    hx = x[:, ft.HARM]
    np.testing.assert_allclose(ft.comply_prob(theta, e["chat:vanilla"], x, cfg),
                               special.expit(cfg.bias - cfg.margin * hx), rtol=1e-12)
    np.testing.assert_allclose(ft.comply_prob(theta, e[SAFE], x, cfg),
                               special.expit(cfg.bias - cfg.caution - (cfg.margin + cfg.safety_margin) * hx),
                               rtol=1e-12)


def test_initial_policy_is_aligned(summary):
    for t in ft.TEMPLATES:
        assert summary.initial_asr[t] < 0.05
        assert summary.initial_benign[t] > 0.5
        assert summary.initial_asr[SAFE] <= summary.initial_asr[t]


# ---------------------------------------------------------------------------------------------------------------
# T3.1: the grid.
def test_finetuning_raises_benign_accuracy_and_diagonal_asr(summary):
    for t in ft.TEMPLATES:
        assert summary.benign[t][t] > summary.initial_benign[t] + 0.2
        assert summary.asr[t][t] > summary.initial_asr[t]


def test_diagonal_beats_off_diagonal_for_safety_test_template(summary):
    col = {a: summary.asr[a][SAFE] for a in ft.TEMPLATES}
    assert all(col[SAFE] > col[a] for a in NO_SAFETY)


def test_ptst_cell_lowest_among_helpful_cells(summary):
    cells = ft.helpful_cells(summary, 0.9)
    ptst = (summary.ptst_train, summary.ptst_test)
    assert ptst in cells
    others = [summary.asr[a][b] for a, b in cells if (a, b) != ptst]
    assert len(others) >= 5
    assert summary.asr[ptst[0]][ptst[1]] < min(others)


def test_non_safety_training_templates_rank_by_cosine(summary):
    """Templates without the safety component train identically (same kernel, same initial logits), so in each
    test column ASR is increasing in the cosine to the test template [ours]."""
    for b in ft.TEMPLATES:
        pairs = sorted((summary.cosine[a][b], summary.asr[a][b]) for a in NO_SAFETY)
        for (r0, a0), (r1, a1) in itertools.pairwise(pairs):
            if r1 > r0 + 1e-12:
                assert a1 > a0


# ---------------------------------------------------------------------------------------------------------------
# T3.2: the overlap knob.
def test_knob_monotone_and_reaches_diagonal(summary):
    assert summary.rhos[-1] == 1.0
    assert np.all(np.diff(summary.knob_asr) > 0)
    assert summary.knob_asr[-1] == pytest.approx(summary.knob_diagonal, rel=1e-12)
    assert summary.knob_diagonal == summary.asr[summary.knob_train][summary.knob_train]


def test_knob_logit_change_linear_in_rho(cfg):
    """The fine-tuning change of the logit under B(rho) is exactly linear in rho (module docstring) [ours]."""
    q = ft.draw_all(cfg)
    e_a = ft.template_vectors(cfg)[cfg.knob_train]
    theta0, theta = ft.aligned_init(cfg), ft.train(cfg.knob_train, q, cfg)
    rhos = np.linspace(0.0, 1.0, 5)
    delta = np.array([ft.features(ft.knob_template(e_a, r), q.harmful_test, cfg) @ (theta - theta0) for r in rhos])
    np.testing.assert_allclose(np.diff(delta, 2, axis=0), 0.0, atol=1e-10)
    assert np.all(delta[-1] > delta[0])


def test_more_template_overlap_more_transfer(cfg):
    """Raising the shared-component weight raises the cosine and the PTST cell's ASR (same seed, same data)."""
    lo = ft.run_feature(dataclasses.replace(cfg, w_common=0.2)).summary
    hi = ft.run_feature(dataclasses.replace(cfg, w_common=1.5)).summary
    a, b = cfg.ptst_train, cfg.ptst_test
    assert hi.cosine[a][b] > lo.cosine[a][b]
    assert hi.asr[a][b] > lo.asr[a][b]


# ---------------------------------------------------------------------------------------------------------------
# T3.3: safety-data mixing.
def test_safety_mixing_directions(summary):
    ptst = summary.mixing[f"{summary.ptst_train}->{summary.ptst_test}"]
    same = [summary.mixing[f"{t}->{t}"] for t in ("chat:vanilla", SAFE)]
    for m in [ptst, *same]:
        assert m.in_cluster < m.in_cluster_plain          # safety data repairs its own cluster
        assert m.in_cluster < 0.05
        assert m.held_out < m.held_out_plain              # and helps the other cluster only partly
    for m in same:
        assert m.held_out > m.held_out_init + 0.3         # held-out cluster stays elevated without PTST
        assert m.held_out > 10 * m.in_cluster
        assert ptst.held_out < m.held_out                 # PTST lowers it


# ---------------------------------------------------------------------------------------------------------------
# Experiment plumbing.
def test_deterministic_and_seed_dependent(cfg, summary):
    again = ft.run_feature(cfg).summary
    assert again.to_json() == summary.to_json()
    other = ft.run_feature(dataclasses.replace(cfg, seed=1)).summary
    assert other.asr[SAFE][SAFE] != summary.asr[SAFE][SAFE]


def test_summary_documented_and_round_trips(summary):
    assert undocumented_fields(ft.FeatureSummary) == []
    assert ft.FeatureSummary.from_json(summary.to_json()) == summary


def test_cached_run_matches_direct(cfg, summary, tmp_path):
    res = ft.FEATURE.cached(cfg, root=tmp_path)
    assert res.summary == summary
    assert ft.FEATURE.cached(cfg, root=tmp_path).meta.get("from_cache") is True


def test_cell_estimate_over_seeds(cfg):
    runs = [ft.run_feature(dataclasses.replace(cfg, seed=s)).summary for s in range(3)]
    est = ft.cell_estimate(runs, cfg.ptst_train, cfg.ptst_test)
    vals = [r.asr[cfg.ptst_train][cfg.ptst_test] for r in runs]
    assert est.mean == pytest.approx(np.mean(vals), rel=1e-12)
    assert est.low < est.mean < est.high
    assert est.n == 3


@pytest.mark.parametrize("field,value", [
    ("w_unique", 0.0), ("w_common", -1.0), ("query_dims", 3), ("noise", -0.1), ("lr", 0.0), ("steps", -1),
    ("n_train", 0), ("rhos", (0.5, 1.2)), ("knob_train", "chat:alpaca"), ("ptst_test", "x"),
    ("same_templates", ()), ("bias", float("nan")), ("scale_query", 0.0), ("seed", -1),
])
def test_bad_config_names_field(field, value):
    with pytest.raises(ConfigError, match=field):
        ft.FEATURE.config("quick", **{field: value})
