"""Simulations of Local SGD vs SGD: the toy (sims/engine/toys.py), the batched discrete algorithms, the slow
flow through the engine, the experiments' configs and the torch run."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sims.engine.errors import ConfigError
from sims.engine.toys import BilinearRegression
from sims.local_sgd import BY_NAME, DEFAULT, EXPERIMENTS, TOY
from sims.engine import local_steps as discrete
from sims.local_sgd.slow_sde import integrate_slow_flow
from theory import local_sgd as T

FAST = settings(max_examples=25, deadline=None)


# ---- the toy ----------------------------------------------------------------------------------------------
@FAST
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_toy_gradient_and_hessian_match_finite_differences(D, seed):
    toy = BilinearRegression(D, 0.5)
    th = np.random.default_rng(seed).normal(size=(3, 2 * D))
    eps = 1e-6
    E = np.eye(2 * D)
    num_g = np.stack([(toy.value(th + eps * E[k]) - toy.value(th - eps * E[k])) / (2 * eps) for k in range(2 * D)], -1)
    num_h = np.stack([(toy.grad(th + eps * E[k]) - toy.grad(th - eps * E[k])) / (2 * eps) for k in range(2 * D)], -1)
    assert np.allclose(toy.grad(th), num_g, atol=1e-6 * (1 + np.abs(num_g).max()))
    assert np.allclose(toy.hessian(th), num_h, atol=1e-5 * (1 + np.abs(num_h).max()))
    assert np.allclose(toy.trace_hessian(th), np.trace(toy.hessian(th), axis1=-2, axis2=-1))


@FAST
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_projection_lands_on_the_manifold_and_is_idempotent(D, seed):
    toy = BilinearRegression(D)
    th = np.random.default_rng(seed).normal(size=(4, 2 * D)) + 0.2
    p = toy.project(th)
    assert np.allclose(toy.residual(p), 0.0, atol=1e-10)
    assert np.allclose(toy.project(p), p, atol=1e-10)
    assert np.allclose(toy.sharpness(p), toy.trace_hessian(p), rtol=1e-8)  # rank-one Hessian on Gamma
    assert np.all(toy.trace_hessian(p) >= 2.0 - 1e-9)


def test_projection_is_the_gradient_flow_limit_and_works_in_torch():
    torch = pytest.importorskip("torch")
    toy = BilinearRegression(2)
    th = np.random.default_rng(3).normal(size=(2, 4))
    x = th.copy()
    for _ in range(40_000):  # gradient flow with a small step
        x -= 2e-4 * toy.grad(x)
    assert np.allclose(x, toy.project(th), atol=2e-4)
    assert np.allclose(toy.project(torch.tensor(th)).numpy(), toy.project(th))
    assert np.allclose(toy.grad(torch.tensor(th)).numpy(), toy.grad(th))


def test_label_noise_gradient_has_the_predicted_mean_and_covariance():
    toy = BilinearRegression(2, sigma=0.7)
    th = toy.manifold_point(5.0)
    z = np.random.default_rng(0).standard_normal((200_000, 1))
    g = toy.stochastic_grad(np.broadcast_to(th, (200_000, 4)), z, batch_size=4)
    assert np.allclose(g.mean(0), toy.grad(th), atol=5e-3)
    cov = np.cov(g.T)
    assert np.allclose(cov, toy.noise_cov(th) / 4, atol=0.02 * np.abs(toy.noise_cov(th)).max())
    assert np.allclose(toy.noise_cov(th), 0.49 * toy.hessian(th), atol=1e-12)  # Sigma = sigma^2 Hessian on Gamma


def test_manifold_points_have_the_requested_sharpness():
    toy = BilinearRegression(3)
    pts = toy.random_manifold_points(7.0, 10, np.random.default_rng(1))
    assert np.allclose(toy.residual(pts), 0.0, atol=1e-12) and np.allclose(toy.trace_hessian(pts), 7.0)
    assert toy.trace_hessian(toy.manifold_point(3.5)) == pytest.approx(3.5)
    with pytest.raises(ConfigError, match="sharpness"):
        toy.manifold_point(1.0)
    with pytest.raises(ConfigError, match="half_dim"):
        BilinearRegression(0)
    with pytest.raises(ConfigError, match="half_dim"):
        BilinearRegression(2.5)
    with pytest.raises(ConfigError, match="sigma"):
        BilinearRegression(2, float("nan"))


# ---- discrete algorithms ----------------------------------------------------------------------------------
def test_without_noise_local_sgd_equals_gradient_descent():
    toy = BilinearRegression(2, sigma=0.0)
    th0 = np.random.default_rng(0).normal(size=(3, 4))
    a = discrete.run(toy, th0, 0.05, 200, 1, 1, 1, np.random.default_rng(1), n_record=5)
    b = discrete.run(toy, th0, 0.05, 200, 4, 10, 2, np.random.default_rng(2), n_record=5)
    assert np.array_equal(a.steps, b.steps)
    assert np.allclose(a.sharpness, b.sharpness, atol=1e-12) and np.allclose(b.spread, 0.0)


def test_discrete_runs_are_deterministic_and_workers_spread_between_averagings():
    toy = BilinearRegression(2, sigma=1.0)
    th0 = toy.random_manifold_points(5.0, 4, np.random.default_rng(0))
    a = discrete.run(toy, th0, 0.02, 500, 4, 25, 2, np.random.default_rng(5), n_record=5)
    b = discrete.run(toy, th0, 0.02, 500, 4, 25, 2, np.random.default_rng(5), n_record=5)
    assert np.array_equal(a.sharpness, b.sharpness)
    assert np.all(a.spread[1:] > 0)


def test_slow_flow_through_the_engine_matches_the_closed_form():
    toy = BilinearRegression(2, 1.0)
    z0 = toy.random_manifold_points(6.0, 8, np.random.default_rng(0))
    for K, alpha in ((1, 0.0), (4, 0.5)):
        t, lam, dist = integrate_slow_flow(toy, z0, 4.0, 2000, 8, K, alpha, n_record=20)
        assert np.allclose(lam, T.bilinear_sharpness(t, 6.0, 1.0, 8, K, alpha)[:, None], atol=2e-3)
        assert dist.max() < 1e-5  # the Euler path stays on Gamma to O(dt)


# ---- experiments ------------------------------------------------------------------------------------------
def test_registry():
    assert DEFAULT in BY_NAME and set(BY_NAME) == {"toy", "torch"} and len(EXPERIMENTS) == 2


@pytest.mark.parametrize("field,value,word", [("eta", -0.1, "eta"), ("lam_threshold", 7.0, "lam_threshold"),
                                              ("steps", 10, "steps"), ("steps", 9610, "multiple of H"),
                                              ("K", 0, "K"), ("H", 0, "H"), ("lam0", 1.5, "lam0"),
                                              ("sigma", float("nan"), "sigma"), ("n_record", 1, "n_record")])
def test_bad_toy_parameters_are_one_sentence_errors(field, value, word):
    with pytest.raises(ConfigError, match=word) as err:
        TOY.config("quick", **{field: value})
    msg = str(err.value)
    assert msg.endswith(".") and msg.count(". ") == 0 and "\n" not in msg


def test_bad_torch_parameters_are_one_sentence_errors():
    with pytest.raises(ConfigError, match="local_batch"):
        BY_NAME["torch"].config("quick", K=16, local_batch=8)
    with pytest.raises(ConfigError, match="device"):
        BY_NAME["torch"].config("quick", device="tpu")
    with pytest.raises(ConfigError, match="multiple of H"):
        BY_NAME["torch"].config("quick", steps=4010)
    with pytest.raises(ConfigError, match="n_train must not exceed the 1347"):
        BY_NAME["torch"].config("quick", n_train=2000)
    with pytest.raises(ConfigError, match="data"):
        BY_NAME["torch"].config("quick", data="svhn")


def test_small_toy_run_follows_theory(cache_dir):
    cfg = TOY.config("quick", steps=5000, n_paths=16, sde_steps=500, n_record=40, lam_threshold=5.0)
    res = TOY.cached(cfg, cache_dir)
    s = res.summary
    assert s.sgd.flow_error < 5e-3 and s.local.flow_error < 5e-3  # engine's flow = scipy's closed form
    assert s.sgd.band < 0.04 and s.local.band < 0.04  # measured 0.023 and 0.014
    assert s.band_local_vs_sgd_sde > 0.2  # the (K-1) term matters
    assert s.local.final_sharpness < s.sgd.final_sharpness
    assert res.arrays["sharp_local"].shape == (len(res.arrays["t_local"]), 16)
    assert 0.93 < s.speedup_ratio < 1.07  # measured 0.97
    assert abs(s.final_gain / s.final_gain_theory - 1.0) < 0.1  # measured 0.420 vs 0.435


def test_toy_and_torch_summaries_are_documented_and_read_back_from_the_cache(cache_dir):
    """Every field of the typed summaries says what it is, and a stored toy result is read back as the same
    ToySummary the run returned."""
    from sims.engine.summary import undocumented_fields
    from sims.local_sgd.torch_run import TorchSummary
    from sims.local_sgd.toy import ToySummary

    assert undocumented_fields(ToySummary) == [] and undocumented_fields(TorchSummary) == []
    cfg = TOY.config("quick", steps=400, n_paths=4, sde_steps=100, n_record=5, lam_threshold=5.9)
    fresh = TOY.cached(cfg, cache_dir, refresh=True)
    stored = TOY.cached(cfg, cache_dir)
    assert stored.meta["from_cache"] and isinstance(stored.summary, ToySummary)
    assert stored.summary == fresh.summary  # every field finite here (both cross), so == compares them all


def test_cli_reports_a_bad_parameter(capsys, tmp_path):
    from sims.engine.cli import main

    code = main("local_sgd", EXPERIMENTS, DEFAULT, "", ["--eta", "-1", "--out", str(tmp_path), "--cache",
                                                        str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: eta") and err.count("\n") == 1


def test_cli_reports_a_diverging_run_in_one_line(capsys, tmp_path):
    from sims.engine.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would be printed by the CLI: make it fail here
        code = main("local_sgd", EXPERIMENTS, DEFAULT, "", ["--eta", "5", "--steps", "200", "--n-paths", "4",
                                                            "--out", str(tmp_path), "--cache", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3 and "diverged" in err and err.count("\n") == 1  # no RuntimeWarning lines


def test_torch_run_is_small_finite_and_gauss_newton_trace_is_exact(cache_dir):
    torch = pytest.importorskip("torch")
    from sims.local_sgd.torch_run import TORCH, forward, gauss_newton_trace, init_params, make_data

    cfg = TORCH.config("quick", steps=200, pre_steps=200, n_seeds=2, width=8, n_eval=3, H=10)
    X, y, Xte, yte = make_data(cfg, 0, 2, "cpu")
    # real digits: each inner seed its own 48 training images, the whole held-out split as test set, +-1 targets
    assert X.shape == (2, 48, 64) and Xte.shape == (2, 450, 64)
    assert not torch.equal(X[0], X[1]) and set(y.unique().tolist()) == {-1.0, 1.0}
    P = init_params(cfg, 0, 2, 64, "cpu")
    tot = torch.zeros(2)
    for i in range(6):
        gr = torch.autograd.grad(forward(P, X[:, i:i + 1]).sum(), P)
        tot += sum((g.reshape(2, -1) ** 2).sum(-1) for g in gr)
    assert torch.allclose(gauss_newton_trace(P, X[:, :6]), tot / 6, rtol=1e-5)
    res = TORCH.cached(cfg, cache_dir)
    for k in ("trace_sgd", "trace_local", "test_acc_local"):
        assert np.all(np.isfinite(res.arrays[k])) and res.arrays[k].shape == (3, 2)
    assert res.arrays["trace_sgd"][0].tolist() == res.arrays["trace_local"][0].tolist()  # common start
    again = TORCH.run(cfg)  # deterministic on CPU for a given config and seed
    for k in ("trace_sgd", "trace_local", "test_loss_local"):
        assert np.array_equal(again.arrays[k], res.arrays[k])


@pytest.mark.slow
def test_two_gloo_processes_reproduce_the_one_process_simulation():
    pytest.importorskip("torch.distributed")
    from sims.engine.seeding import rng
    from sims.local_sgd.distributed import run_distributed

    toy = BilinearRegression(2, 1.0)
    th0 = toy.random_manifold_points(6.0, 8, rng(0, "init"))
    steps, sharp, agree = run_distributed(2, 1.0, th0, 0.025, 400, 2, 20, 2, 0, n_record=10)
    ref = discrete.run(toy, th0, 0.025, 400, 2, 20, 2, rng(0, "local"), n_record=10)
    assert agree == 0.0  # every rank holds the same averaged iterate
    assert np.array_equal(steps, ref.steps)
    assert np.allclose(sharp, ref.sharpness, rtol=0, atol=1e-12)
    assert sharp[-1].mean() < sharp[0].mean()  # the run made progress


def test_distributed_entry_point_outside_torchrun_is_one_clear_error(monkeypatch, capsys):
    """Started without torchrun (no RANK, WORLD_SIZE, ...), the command says how to start it and exits 2."""
    from sims.local_sgd.distributed import main

    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "torchrun --nproc-per-node K -m sims.local_sgd.distributed" in err and "Traceback" not in err
