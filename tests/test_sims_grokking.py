"""Grokking simulations (numpy/torch diagonal nets and matrix completion): batching, determinism, errors,
and that the small runs show the phenomenon."""
from __future__ import annotations

import numpy as np
import pytest

from sims.engine import ConfigError, DivergenceError
from sims.engine.curves import first_crossing
from sims.engine.summary import undocumented_fields
from sims.grokking import EXPERIMENTS, MATRIX, MISGROK, MODULAR, SPARSE
from sims.grokking.data import misgrokking_slab, multiplication_table, observed_split, sparse_hypercube
from sims.engine import rng

SMALL_SPARSE = dict(d=400, n=64, n_test=1000, init_norms=(16.0, 128.0), lams=(0.02,), lr=0.05, t_max=300.0)


def test_sparse_data_labels_follow_the_sparse_rule():
    X, y, w = sparse_hypercube(200, 50, 3, rng(0, "t"))
    assert set(np.unique(X)) == {-1.0, 1.0} and np.count_nonzero(w) == 3
    assert np.array_equal(y, np.sign(X[:, :3] @ w[:3]))


def test_slab_data_has_the_margin_along_w_star():
    X, y, w = misgrokking_slab(300, 40, 6.0, rng(0, "t"))
    assert np.linalg.norm(w) == pytest.approx(1.0)
    assert np.all(y * (X @ w) >= 3.0 - 1e-12)  # |<z,w>| + gamma/2 >= gamma/2


def test_observed_split_partitions_all_entries():
    obs, test = observed_split(9, 20, rng(0, "s"))
    assert obs.size == 20 and np.array_equal(np.sort(np.concatenate([obs, test])), np.arange(81))
    assert np.linalg.matrix_rank(multiplication_table(9)) == 1


def test_sparse_batched_sweep_equals_points_run_alone():
    batched = SPARSE.run(SPARSE.config("quick", **SMALL_SPARSE))
    for i, norm in enumerate(SMALL_SPARSE["init_norms"]):
        alone = SPARSE.run(SPARSE.config("quick", **{**SMALL_SPARSE, "init_norms": (norm,)}))
        np.testing.assert_allclose(batched.arrays["test_acc"][:, i], alone.arrays["test_acc"][:, 0], atol=1e-12)
        np.testing.assert_allclose(batched.arrays["w_final"][i], alone.arrays["w_final"][0], rtol=1e-10,
                                   atol=1e-14)


def test_sparse_is_deterministic_and_groks():
    cfg = SPARSE.config("quick", **SMALL_SPARSE)
    a, b = SPARSE.run(cfg), SPARSE.run(cfg)
    assert np.array_equal(a.arrays["test_acc"], b.arrays["test_acc"])
    s = a.summary
    big = 1  # init norm 128
    p = s.points[big]
    assert p.train_acc_final == 1.0
    assert s.max_l1_margin.test_acc - s.max_l2_margin.test_acc > 0.2  # the two predictors differ: something to grok
    assert p.t_grok > 50 * p.t_fit
    # the large-init net sits at the kernel predictor's test accuracy well after fitting
    t = a.arrays["time"]
    mid = first_crossing(t, t, p.t_grok / 3)
    idx = np.searchsorted(t, mid)
    assert abs(a.arrays["test_acc"][idx, big] - s.max_l2_margin.test_acc) < 0.05
    assert p.test_acc_final >= 0.95


def test_sparse_without_weight_decay_does_not_grok():
    res = SPARSE.run(SPARSE.config("quick", **{**SMALL_SPARSE, "lams": (0.0,), "init_norms": (128.0,)}))
    point = res.summary.points[0]
    assert np.isnan(point.t_grok) and point.test_acc_final < 0.9


def test_divergence_is_reported_not_plotted():
    with pytest.raises(DivergenceError, match="diverged"):
        MATRIX.run(MATRIX.config("quick", d=12, alphas=(30.0,), lr=5.0, t_max=50.0))


@pytest.mark.parametrize("exp,field,value", [
    (SPARSE, "lr", -0.1), (SPARSE, "k", 0), (SPARSE, "init_norms", ()), (MISGROK, "drop_level", 1.5),
    (MATRIX, "observed_fraction", 1.0), (MATRIX, "lams", (-1.0,)), (SPARSE, "device", "tpu"),
])
def test_bad_parameters_name_the_parameter(exp, field, value):
    with pytest.raises(ConfigError, match=field):
        exp.config("quick", **{field: value})


def test_sparse_k_larger_than_d_is_rejected():
    with pytest.raises(ConfigError, match="k must not exceed d"):
        SPARSE.config("quick", d=3, k=5)


def test_matrix_small_run_starts_at_zero_fill_and_improves():
    res = MATRIX.run(MATRIX.config("quick", d=30, observed_fraction=0.3, alphas=(4.0,), lams=(0.01,),
                                   lr=0.2, t_max=600.0))
    s, a = res.summary, res.arrays
    t = a["time"]
    early = np.searchsorted(t, 0.3 * np.log(4.0) / 0.01)
    assert a["test_mse"][early, 0] == pytest.approx(s.kernel_test_mse, rel=0.03)
    assert s.points[0].test_mse_final < 0.5 * s.kernel_test_mse
    assert np.isfinite(s.points[0].t_half)


# A few steps of each experiment, for the shape of what it stores (not for the phenomenon).
TINY_RUNS = [
    (SPARSE, dict(d=60, n=16, n_test=100, init_norms=(4.0, 16.0), lams=(0.02, 0.0), t_max=5.0)),
    (MISGROK, dict(d=60, n=8, n_test=100, init_norms=(16.0,), t_max=5.0)),
    (MATRIX, dict(d=12, alphas=(1.0, 2.0), lams=(0.01, 0.0), lr=0.05, t_max=1.0)),
    (MODULAR, dict(p=7, train_fraction=0.5, width=8, alphas=(1.0, 4.0), lams=(1e-2,), lr=0.5, t_max=5.0,
                   n_eval_log=5, n_eval_linear=5, device="cpu")),
]


@pytest.mark.parametrize("exp,overrides", TINY_RUNS, ids=[e.name for e, _ in TINY_RUNS])
def test_summary_is_typed_documented_and_read_back_from_the_cache(exp, overrides, tmp_path):
    cfg = exp.config("quick", **overrides)
    fresh = exp.cached(cfg, root=tmp_path)
    stored = exp.cached(cfg, root=tmp_path)
    assert stored.meta["from_cache"] and isinstance(stored.summary, exp.summary)
    assert stored.summary.to_json() == fresh.summary.to_json()   # NaN as None on both sides
    assert exp.summarize(stored) == exp.summarize(fresh)
    assert len(fresh.summary.points) == fresh.arrays["lam"].size


def test_every_summary_field_is_documented():
    for exp in EXPERIMENTS:
        assert exp.summary is not None and undocumented_fields(exp.summary) == [], exp.name
