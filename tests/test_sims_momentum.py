"""Momentum simulations: paired SGD / SGDM runs with common noise, the SDE through the engine, the weak-error
sweep, the slow drift on the toy manifold and the batched torch run: exactness checks, determinism, errors."""
from __future__ import annotations

import numpy as np
import pytest

from sims.engine import ConfigError, DivergenceError, rng
from sims.engine.cli import main as cli_main
from sims.engine.summary import undocumented_fields
from sims.momentum import BY_NAME, DEFAULT, EXPERIMENTS, QUADRATIC, SLOW, TORCH, WEAK_ERROR
from sims.momentum.discrete import CoupledBrownian, first_two_moments, mean_square, paired_runs, quadratic_grad
from sims.momentum.weak_error import WeakErrorSummary
from theory import momentum as mt

SMALL_QUAD = dict(n_paths=4000, t_max=2.0, eff_lr=1 / 32, n_records=10)
SMALL_WEAK = dict(eff_lrs=(1 / 8, 1 / 16, 1 / 32), n_paths=4000)
SMALL_SLOW = dict(n_paths=200, eff_lr=0.05, t_max=0.5, t_measure=0.25)
SMALL_TORCH = dict(width=16, steps=60, n_seeds=3, n_evals=4)   # on the real 8x8 digits


def test_package_exports():
    assert DEFAULT in BY_NAME and len(EXPERIMENTS) == len(BY_NAME) == 4
    assert all(e.paper == "momentum" for e in EXPERIMENTS)


def test_beta_zero_sgdm_is_sgd_path_by_path():
    lam = np.array([0.5, 2.0])
    x0 = np.ones((50, 2))
    run = paired_runs(quadratic_grad(lam, 3.0), 2, x0, 0.05, 0.0, 40, rng(0, "t"), 10, first_two_moments)
    assert np.array_equal(run.x_sgd, run.x_sgdm)
    assert np.all(run.diff_mean == 0)


def test_paired_runs_match_the_exact_moments():
    """Each marginal law is an ordinary SGD / SGDM run: its Monte-Carlo moments match the exact recursion."""
    lam, eta, beta, s2 = np.array([1.0, 3.0]), 0.05, 0.8, 4.0
    n, k = 20_000, 60
    run = paired_runs(quadratic_grad(lam, np.sqrt(s2)), 2, np.full((n, 2), 1.0), eta, beta, k, rng(1, "t"), k,
                      first_two_moments)
    ex_sgd = mt.sgd_moments(lam, eta, s2, 1.0, k, record_every=k)
    ex_sgdm = mt.sgdm_moments(lam, eta * (1 - beta), beta, s2, 1.0, k, record_every=k)
    for got, ex, x in ((run.sgd[-1], ex_sgd, run.x_sgd), (run.sgdm[-1], ex_sgdm, run.x_sgdm)):
        se_mean = np.sqrt(ex.var[-1] / n)
        assert np.all(np.abs(got[:2] - ex.mean[-1]) < 5 * se_mean)
        se_sq = (x * x).std(axis=0) / np.sqrt(n)
        assert np.all(np.abs(got[2:] - ex.second[-1]) < 5 * se_sq)


def test_common_noise_shrinks_the_variance_of_the_difference():
    lam = np.array([1.0])
    n, eta, beta, k = 5000, 1 / 64, 0.5, 128
    run = paired_runs(quadratic_grad(lam, np.sqrt(1 / eta)), 1, np.zeros((n, 1)), eta, beta, k, rng(2, "t"), k,
                      first_two_moments)
    independent_se = np.sqrt(((run.x_sgd[:, 0] ** 2).var() + (run.x_sgdm[:, 0] ** 2).var()) / n)
    assert run.diff_se[-1, 1] < 0.3 * independent_se


def test_quadratic_is_deterministic_and_agrees_with_theory():
    cfg = QUADRATIC.config("quick", **SMALL_QUAD)
    a, b = QUADRATIC.run(cfg), QUADRATIC.run(cfg)
    assert np.array_equal(a.arrays["sgdm_var"], b.arrays["sgdm_var"])
    assert np.array_equal(a.arrays["sde_var"], b.arrays["sde_var"])
    s = a.summary
    assert not s.diverged and s.sgd_stable and s.sgdm_stable
    # the engine's SDE variance against the OU closed form at T (4000 paths: a few percent)
    np.testing.assert_allclose(a.arrays["sde_var"][-1], a.arrays["ou_var"][-1], rtol=0.08)
    assert abs(s.ratio_sgdm_sgd - s.exact_ratio_sgdm_sgd) < 0.03
    assert s.sgdm.mean_square == pytest.approx(s.sgdm.exact_mean_square, rel=0.05)
    assert len(a.arrays["time"]) == len(a.arrays["sde_time"])
    np.testing.assert_allclose(a.arrays["time"], a.arrays["sde_time"])


def test_quadratic_beyond_both_stability_edges_reports_divergence():
    res = QUADRATIC.run(QUADRATIC.config("quick", **{**SMALL_QUAD, "n_paths": 200, "eff_lr": 5.0, "beta": 0.5, "t_max": 2000.0}))
    assert res.summary.diverged and not res.summary.sgdm_stable
    assert np.isnan(res.summary.ratio_sgdm_sgd) and np.isnan(res.summary.sgdm.exact_mean_square)


def test_weak_error_matches_the_exact_error():
    res = WEAK_ERROR.run(WEAK_ERROR.config("quick", **SMALL_WEAK))
    s = res.summary
    err, se, ex = (np.array([getattr(p, name) for p in s.points]) for name in ("error", "error_se", "exact_error"))
    assert np.all(np.abs(err - ex) < 5 * se)
    assert np.all(np.abs(err) > 3 * se)  # resolved by the common random numbers
    assert s.exact_fit.slope == pytest.approx(1.0, abs=0.15)
    assert s.paper_order == 0.5 and s.quadratic_order == 1.0
    assert [p.eff_lr for p in s.points] == list(SMALL_WEAK["eff_lrs"]) and np.array_equal(res.arrays["errors"], err)


def test_weak_error_sweep_raises_on_divergence():
    with pytest.raises(DivergenceError, match="diverged"):
        WEAK_ERROR.run(WEAK_ERROR.config("quick", **{**SMALL_WEAK, "sharpness": (100.0,), "t_max": 100.0}))


def test_slow_drift_is_deterministic_and_flattens():
    cfg = SLOW.config("quick", **SMALL_SLOW)
    a, b = SLOW.run(cfg), SLOW.run(cfg)
    assert np.array_equal(a.arrays["sharpness_sgdm"], b.arrays["sharpness_sgdm"])
    s = a.summary
    assert s.sgd.drop > 0.5 and s.sgdm.drop > 0.5  # both drift towards flatter minima
    assert s.sgd.final_sharpness < 6.0 and s.sgd.final_loss < 0.1


def test_torch_pairs_share_init_and_batches():
    """With beta = 0 the 'SGDM' half is SGD with the same init and batches: identical curves."""
    res = TORCH.run(TORCH.config("quick", **{**SMALL_TORCH, "beta": 0.0}))
    acc = res.arrays["test_acc"]
    S = SMALL_TORCH["n_seeds"]
    np.testing.assert_allclose(acc[:, :S], acc[:, S:])
    assert res.summary.acc_diff_mean == 0.0


def test_torch_is_deterministic_and_learns():
    cfg = TORCH.config("quick", **{**SMALL_TORCH, "steps": 150})
    a, b = TORCH.run(cfg), TORCH.run(cfg)
    assert np.array_equal(a.arrays["test_acc"], b.arrays["test_acc"])
    assert a.summary.sgd.mean_test_acc > 0.4 and a.summary.sgdm.mean_test_acc > 0.4  # chance is 0.1
    assert a.summary.sgd.diverged == 0


def test_torch_large_lr_kills_sgd_not_sgdm():
    res = TORCH.run(TORCH.config("quick", **{**SMALL_TORCH, "steps": 150, "eff_lr": 2.0}))
    assert res.summary.sgd.diverged == SMALL_TORCH["n_seeds"] and res.summary.sgdm.diverged == 0
    assert res.summary.acc_diff_mean > 0.15


@pytest.mark.parametrize("exp,field,value", [
    (QUADRATIC, "beta", 1.0), (QUADRATIC, "eff_lr", -0.1), (QUADRATIC, "sharpness", ()),
    (WEAK_ERROR, "eff_lrs", (0.1, 0.05)), (WEAK_ERROR, "c", 5.0), (SLOW, "sharpness0", 1.5),
    (SLOW, "t_measure", 5.0), (TORCH, "batch_size", 10_000), (TORCH, "loss", "hinge"), (TORCH, "device", "tpu"),
    (TORCH, "data", "cifar"),
])
def test_bad_parameters_name_the_parameter(exp, field, value):
    with pytest.raises(ConfigError, match=field):
        exp.config("quick", **{field: value})


def test_cli_runs_and_rejects_bad_values(tmp_path, capsys):
    rc = cli_main("momentum", EXPERIMENTS, DEFAULT, "doc",
                  ["quadratic", "--n-paths", "500", "--t-max", "0.5", "--out", str(tmp_path / "out"),
                   "--cache", str(tmp_path / "cache"), "--no-figure"])
    assert rc == 0 and "SGDM/SGD" in capsys.readouterr().out
    rc = cli_main("momentum", EXPERIMENTS, DEFAULT, "doc", ["weak_error", "--alpha", "-1"])
    assert rc == 2 and "alpha" in capsys.readouterr().err


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.name)
def test_every_summary_field_is_documented(exp):
    assert exp.summary is not None and undocumented_fields(exp.summary) == []


def test_a_stored_weak_error_result_reads_back_as_the_summary_the_run_returned(tmp_path):
    """Nested points and fits survive the cache's JSON (including a NaN: paper_order at alpha = 1)."""
    cfg = WEAK_ERROR.config("quick", **{**SMALL_WEAK, "n_paths": 400, "alpha": 1.0, "c": 4.0})
    fresh = WEAK_ERROR.cached(cfg, tmp_path)
    stored = WEAK_ERROR.cached(cfg, tmp_path)
    assert stored.meta["from_cache"] and isinstance(stored.summary, WeakErrorSummary)
    assert np.isnan(stored.summary.paper_order) and stored.summary.to_json() == fresh.summary.to_json()
    assert stored.summary.points == fresh.summary.points and stored.summary.error_fit == fresh.summary.error_fit


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.name)
def test_paper_presets_are_valid_and_larger(exp):
    quick, paper = exp.config("quick"), exp.config("paper")
    size = {"quadratic": "n_paths", "weak_error": "n_paths", "slow": "n_paths", "torch": "steps"}[exp.name]
    assert getattr(paper, size) > getattr(quick, size)


def test_coupled_brownian_drives_sde_and_sgd_with_one_path():
    """The SDE integrated by the engine on the shared Brownian path has the OU law, SGD's noise is standard
    normal, and the paired SGD - SDE difference is resolved far below the independent-sample error."""
    lam, eta, s, n, k = np.array([1.0, 2.0]), 1 / 32, 1.0, 8000, 64
    x0 = np.full((n, 2), 1.0)
    cb = CoupledBrownian(x0, eta, k, 4, 16, rng(3, "t"), lambda x: -lam * x, np.full(2, np.sqrt(s)), mean_square)
    z1 = cb(1)
    assert z1.shape == (n, 2) and abs(z1.mean()) < 0.05 and abs(z1.var() - 1) < 0.05
    run = paired_runs(quadratic_grad(lam, np.sqrt(s / eta)), 2, x0, eta, 0.5, k, rng(3, "unused"), 16,
                      mean_square, noise=cb)
    assert cb.sde_t[-1] == pytest.approx(k * eta) and len(cb.sde_t) == run.steps.size
    mean, var = mt.ou_moments(lam, 1.0, s, k * eta)
    np.testing.assert_allclose(cb.x.var(axis=0), var, rtol=0.06)
    diff = mean_square(run.x_sgd)[:, 0] - mean_square(cb.x)[:, 0]
    indep = np.sqrt(2 * mean_square(cb.x)[:, 0].var() / n)
    assert diff.std() / np.sqrt(n) < 0.05 * indep


def test_antithetic_noise_mirrors_paths_and_counts_pairs():
    lam, eta, n, k = np.array([1.0]), 1 / 16, 1000, 8
    x0 = np.zeros((n, 1))
    cb = CoupledBrownian(x0, eta, k, 2, 8, rng(4, "t"), lambda x: -lam * x, np.ones(1), mean_square,
                         antithetic=True)
    run = paired_runs(quadratic_grad(lam, 4.0), 1, x0, eta, 0.5, k, rng(4, "u"), k, first_two_moments, noise=cb,
                      antithetic=True)
    np.testing.assert_allclose(run.x_sgd[: n // 2], -run.x_sgd[n // 2:])  # x0 = 0 and the map is linear
    assert abs(run.diff_mean[-1, 0]) < 1e-12  # E x differences cancel exactly in mirrored pairs


def test_standard_sgdm_equals_the_normalised_form_path_by_path():
    """Eq. 1 with lr = eta (1 - beta) and the normalised form (m <- beta m + (1 - beta) g, x <- x - eta m) give the
    same iterates: the effective learning rate map is an identity of the algorithms, not an approximation."""
    lam, eta, beta, n, k = np.array([0.7, 1.9]), 0.08, 0.9, 64, 50
    x0 = np.full((n, 2), 1.5)
    run = paired_runs(quadratic_grad(lam, 2.0), 2, x0, eta, beta, k, rng(5, "t"), k, first_two_moments)
    gen = rng(5, "t")
    x, m = x0.copy(), np.zeros_like(x0)
    for _ in range(k):
        g = lam * x + 2.0 * gen.standard_normal((n, 2))
        m = beta * m + (1 - beta) * g
        x = x - eta * m
    np.testing.assert_allclose(run.x_sgdm, x, rtol=1e-10, atol=1e-12)
