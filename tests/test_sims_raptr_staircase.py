"""The raptr `staircase` experiment: the target's Fourier coefficients against exact enumeration of the cube, the
control-variate estimator, equal FLOPs of the subnetwork schedules, determinism, bad configs, the test preset,
and (slow) increasing beats decreasing on the degree-3 coefficient at the quick preset."""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from sims.engine import ConfigError
from sims.engine.summary import undocumented_fields
from sims.raptr import staircase as st
from sims.raptr.staircase import STAIRCASE

torch.set_num_threads(1)


def _cube(d: int) -> torch.Tensor:
    """Every point of {-1, +1}^d, [2^d, d]."""
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=d)))


# ---- Fourier coefficients ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["staircase", "linear"])
def test_the_exact_target_has_coefficient_one_on_its_monomials_and_zero_elsewhere(target):
    x = _cube(5)
    mono = st.TARGETS[target]
    # the target written out by hand, not through target_values
    x1, x2, x3 = x[:, 0], x[:, 1], x[:, 2]
    y = x1 + x1 * x2 + x1 * x2 * x3 if target == "staircase" else x1 + x2 + x3
    assert torch.equal(st.target_values(x, mono), y)
    # exact Fourier coefficients: the mean over the whole cube, computed by a plain loop
    for s in mono:
        assert float(sum(float(y[i]) * math.prod(float(x[i, j]) for j in s) for i in range(len(x))) / len(x)) == 1.0
    assert torch.equal(st.fourier_coefficients(y, x, mono), torch.ones(3))
    others = [s for r in range(4) for s in itertools.combinations(range(5), r) if s not in mono]
    assert torch.equal(st.fourier_coefficients(y, x, tuple(others)), torch.zeros(len(others)))


def test_the_control_variate_estimate_is_exact_on_the_cube_and_close_on_a_sample():
    mono = st.TARGETS["staircase"]
    x = _cube(6)
    y = st.target_values(x, mono)
    f = 0.5 * x[:, 0] + 0.8 * x[:, 0] * x[:, 1] + 0.2 * x[:, 0] * x[:, 1] * x[:, 2] + 0.3 * x[:, 4]
    assert torch.allclose(st.learned_coefficients(f, y, x, mono), torch.tensor([0.5, 0.8, 0.2]), atol=1e-6)
    xs = st.sample_inputs(4096, 20, torch.Generator().manual_seed(1))
    fs = 0.5 * xs[:, 0] + 0.8 * xs[:, 0] * xs[:, 1] + 0.2 * xs[:, 0] * xs[:, 1] * xs[:, 2] + 0.3 * xs[:, 4]
    est = st.learned_coefficients(fs, st.target_values(xs, mono), xs, mono)
    # standard error sqrt(E[(f - y)^2] / n) = sqrt((0.25 + 0.04 + 0.64 + 0.09) / 4096) ~ 0.016; 5 of them
    assert torch.allclose(est, torch.tensor([0.5, 0.8, 0.2]), atol=0.08)


def test_sample_inputs_are_signs():
    x = st.sample_inputs(1000, 7, torch.Generator().manual_seed(0))
    assert x.shape == (1000, 7) and set(x.unique().tolist()) == {-1.0, 1.0}


# ---- schedules and FLOPs -------------------------------------------------------------------------------------------
def test_raptr_pld_and_constant_subset_run_exactly_the_same_number_of_blocks():
    cfg = dataclasses.replace(STAIRCASE.config("test"), constant_mode="subset",
                              schedules=("raptr", "pld", "constant", "full"), targets=("linear",))
    res = st.run(cfg)
    runs = res.summary.targets["linear"].schedules
    # sizes (2, 3, 4) over three equal stages of 10 steps: 10 * 9 = 90 blocks; full runs 4 * 30 = 120
    assert runs["raptr"].executed == runs["pld"].executed == runs["constant"].executed == 90
    assert runs["full"].executed == 120
    assert runs["raptr"].flops_ratio == 0.75 and runs["constant"].expected_active == 3.0
    assert [st.schedule(cfg, n).stages for n in ("raptr", "pld")] == [((10, 2), (10, 3), (10, 4)),
                                                                       ((10, 4), (10, 3), (10, 2))]


def test_constant_bernoulli_runs_the_same_blocks_in_expectation():
    cfg = STAIRCASE.config("quick")
    sched = st.schedule(cfg, "constant")
    assert sched.mode == "bernoulli" and sched.expected_active() == st.schedule(cfg, "raptr").expected_active() == 6
    gen = torch.Generator().manual_seed(0)
    n = 4000
    total = sum(int(sched.sample(i, gen).sum()) for i in range(n))
    # 2 fixed blocks + Binomial(6, 2/3) per step: mean 6, variance 6 * 2/3 * 1/3 = 4/3 per step
    assert abs(total / n - 6.0) < 5 * math.sqrt(4 / 3 / n)


# ---- the experiment ------------------------------------------------------------------------------------------------
def test_the_test_preset_runs_with_finite_numbers_and_documents_its_fields():
    res = st.run(STAIRCASE.config("test"))
    s = res.summary
    assert list(s.targets) == ["staircase", "linear"]
    for t in s.targets.values():
        assert list(t.schedules) == list(st.SCHEDULES)
        for r in t.schedules.values():
            assert math.isfinite(r.test_mse) and all(math.isfinite(c) for c in r.coefficients.values())
        assert math.isfinite(t.top_raptr_minus_pld) and math.isfinite(t.mse_pld_minus_raptr)
        assert t.top_raptr_minus_pld == t.schedules["raptr"].coefficients[t.top_monomial] - \
            t.schedules["pld"].coefficients[t.top_monomial]
    assert s.targets["staircase"].top_monomial == "x1x2x3" and s.targets["linear"].top_monomial == "x3"
    assert res.arrays["staircase.raptr.coefficients"].shape == (2, 3)
    assert np.array_equal(res.arrays["linear.pld.step"], [15, 30])
    for cls in (st.StaircaseSummary, st.TargetSummary, st.ScheduleSummary):
        assert undocumented_fields(cls) == []
    assert "x1x2x3" in st.summarize(res)


def test_the_same_config_gives_the_same_numbers_and_another_seed_others():
    cfg = dataclasses.replace(STAIRCASE.config("test"), targets=("staircase",), schedules=("raptr", "constant"))
    a, b = st.run(cfg), st.run(cfg)
    c = st.run(dataclasses.replace(cfg, seed=1))
    for k in a.arrays:
        assert np.array_equal(a.arrays[k], b.arrays[k]), k
    assert not np.array_equal(a.arrays["staircase.raptr.test_mse"], c.arrays["staircase.raptr.test_mse"])


def test_a_cached_result_reads_back_as_the_same_typed_summary(cache_dir):
    cfg = dataclasses.replace(STAIRCASE.config("test"), targets=("linear",), schedules=("full", "pld"))
    fresh = STAIRCASE.cached(cfg, root=cache_dir)
    again = STAIRCASE.cached(cfg, root=cache_dir)
    assert again.meta["from_cache"] and again.summary.targets["linear"].schedules["pld"] == \
        fresh.summary.targets["linear"].schedules["pld"]
    assert math.isnan(again.summary.targets["linear"].top_raptr_minus_pld)


def test_the_schedules_of_one_target_share_the_initialisation():
    cfg = STAIRCASE.config("test")
    with st.seeded(cfg.seed, "init", "staircase"):
        a = st.ResidualMLP(cfg.dim, cfg.width, cfg.hidden, cfg.n_layers)
    with st.seeded(cfg.seed, "init", "staircase"):
        b = st.ResidualMLP(cfg.dim, cfg.width, cfg.hidden, cfg.n_layers)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("field, value", [
    ("dim", 2), ("targets", ()), ("targets", ("cubic",)), ("schedules", ("full", "full")),
    ("schedules", ("dropout",)), ("sizes", (6, 4, 8)), ("sizes", (4, 6)), ("sizes", (1, 4, 8)),
    ("scale", "half"), ("constant_mode", "random"), ("steps", 1501), ("lr", -1e-3), ("evals", 0),
    ("evals", 10**6), ("batch", 0), ("n_test", 1), ("device", "tpu"), ("width", 0)])
def test_bad_values_are_refused_naming_the_parameter(field, value):
    with pytest.raises(ConfigError, match=field):
        STAIRCASE.config("quick", **{field: value})


def test_a_subset_constant_needs_a_whole_mean_size():
    with pytest.raises(ConfigError, match="constant_mode"):
        STAIRCASE.config("quick", sizes=(3, 8), steps=1500, constant_mode="subset")
    assert STAIRCASE.config("quick", sizes=(3, 8), steps=1500).constant_mode == "bernoulli"


# ---- the phenomenon (slow) -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick_staircase():
    """raptr and pld on the staircase at the quick preset, seed 0 (the same numbers as in the full run: every
    schedule has its own layer draws, and the initialisation and data are shared)."""
    cfg = STAIRCASE.config("quick", targets=("staircase",), schedules=("raptr", "pld"))
    return st.run(cfg).summary.targets["staircase"]


@pytest.mark.slow
def test_at_quick_pld_ends_farther_from_the_degree_three_coefficient_and_with_a_higher_test_mse(quick_staircase):
    t = quick_staircase
    assert abs(t.schedules["raptr"].coefficients["x1x2x3"] - 1.0) < 0.02
    assert t.top_error_pld_minus_raptr > 0
    assert t.mse_pld_minus_raptr > 0


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the notes expect pld's degree-3 coefficient below raptr's (under-fitted); at "
                                       "the quick preset pld overshoots it instead (1.06-1.09 against raptr's 1.00, "
                                       "seeds 0-2)")
def test_at_quick_raptr_ends_with_a_larger_degree_three_coefficient_than_pld(quick_staircase):
    assert quick_staircase.top_raptr_minus_pld > 0
