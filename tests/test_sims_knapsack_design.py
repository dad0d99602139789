"""The knapsack sweep's run designs (sims/knapsack/design.py, issue 17): the bisection finds the grid's bracket of
the critical ratio with fewer runs, and a bisection sweep reuses the grid's own runs and reads the same critical
ratios from them."""
from __future__ import annotations

import numpy as np
import pytest

from sims.engine import ConfigError
from sims.knapsack import TRAIN
from sims.knapsack.design import bracket, choose_runs, runs_per_size
from sims.knapsack.train import critical_ratio_from_curve

RATIOS = np.array([0.001 * 2 ** k for k in range(9)])


def _oracle(curves, log):
    """measure() over fixed curves (sizes x ratios), logging each round's keys."""
    def measure(keys):
        log.append(list(keys))
        return [np.nan if j is None else curves[i][j] for i, j in keys]
    return measure


def _first_crossing(curve, threshold):
    hit = np.nonzero(np.asarray(curve) >= threshold)[0]
    return None if hit.size == 0 else int(hit[0])


def test_bisection_brackets_every_monotone_crossing_like_the_grid():
    rng = np.random.default_rng(0)
    for _ in range(200):
        R = int(rng.integers(1, 12))
        curves = np.sort(rng.uniform(0, 1, size=(3, R)), axis=1)
        log = []
        also = [1] if R > 2 and rng.random() < 0.5 else []
        seen = choose_runs("bisect", 3, R, 0.5, _oracle(curves, log), also=also)
        assert all(curves[i][j] == v for (i, j), v in seen.items())
        for i in range(3):
            mem = np.full(R, np.nan)
            for (k, j), v in seen.items():
                if k == i:
                    mem[j] = v
            ratios = RATIOS[:R] if R <= 9 else 0.001 * 2.0 ** np.arange(R)
            assert critical_ratio_from_curve(ratios, mem, 0.5) == pytest.approx(
                critical_ratio_from_curve(ratios, curves[i], 0.5), rel=1e-12, nan_ok=True)
            assert np.isfinite(mem).sum() <= runs_per_size("bisect", R, 2 + len(also))
            c = _first_crossing(curves[i], 0.5)
            if c is not None and c > 0:
                assert np.isfinite(mem[c]) and np.isfinite(mem[c - 1])     # the bracket itself was trained


def test_bisection_trains_five_of_nine_ratios_in_four_rounds_and_stops_at_censored_sizes():
    curves = np.array([np.linspace(0, 1, 9),          # crosses in the middle: 2 ends + 3 halvings
                       np.full(9, 0.9),               # already memorised at the lowest ratio: ends only
                       np.full(9, 0.1)])              # never: ends only
    log = []
    seen = choose_runs("bisect", 3, 9, 0.5, _oracle(curves, log), first=[(0, None), (1, None)])
    assert len(log) == 4 and log[0][:2] == [(0, None), (1, None)]
    assert sorted(j for i, j in seen if i == 0) == [0, 2, 3, 4, 8]
    assert sorted(j for i, j in seen if i > 0) == [0, 0, 8, 8]
    assert runs_per_size("bisect", 9) == 5 and runs_per_size("grid", 9) == 9 and runs_per_size("bisect", 2) == 2


def test_a_noisy_curve_may_give_a_later_crossing_than_the_grid_and_the_grid_is_one_round():
    curve = np.array([[0.0, 0.6, 0.1, 0.2, 0.3, 0.4, 0.45, 0.7, 0.9]])  # first crossing at 1; bisection at 7
    seen = choose_runs("bisect", 1, 9, 0.5, _oracle(curve, []))
    assert (0, 1) not in seen and {(0, 6), (0, 7)} <= set(seen)
    log = []
    grid = choose_runs("grid", 1, 9, 0.5, _oracle(curve, log))
    assert len(log) == 1 and len(grid) == 9
    with pytest.raises(ValueError, match="design must be one of"):
        choose_runs("random", 1, 9, 0.5, _oracle(curve, []))
    with pytest.raises(ValueError, match="also must hold ratio indices"):
        choose_runs("bisect", 1, 9, 0.5, _oracle(curve, []), also=[9])


def test_the_bracket_starts_from_every_ratio_of_the_first_round():
    assert bracket({0: 0.1, 1: 0.2, 8: 0.9}, 0.5) == (1, 8)
    assert bracket({0: 0.1, 1: 0.7, 8: 0.9}, 0.5) == (0, 1)        # crossed already at the second ratio: done
    assert bracket({0: 0.6, 1: 0.7, 8: 0.9}, 0.5) is None          # censored below
    assert bracket({0: 0.1, 1: 0.2, 8: 0.3}, 0.5) is None          # never reached
    curve = np.array([np.linspace(0, 1, 9)])
    seen = choose_runs("bisect", 1, 9, 0.5, _oracle(curve, []), also=[1])
    assert sorted(j for _, j in seen) == [0, 1, 2, 3, 4, 8] and runs_per_size("bisect", 9, 3) == 6


TINY = dict(sizes=(8, 16), ratios=(0.002, 0.02, 0.1, 0.3, 0.5), steps=150, batch=32, lr=1e-2, warmup=10,
            n_people=4, n_attrs=2, n_values=4, n_keys=56, n_alphabet=8, workers=1)


def test_a_bisection_sweep_reuses_the_grids_runs_and_reads_the_same_thresholds(tmp_path, monkeypatch):
    import sims.knapsack.train as train

    grid = TRAIN.cached(TRAIN.config("quick", **TINY, design="grid"), root=tmp_path)
    trained = []
    real = train._run_point
    monkeypatch.setattr(train, "_run_point", lambda point: (trained.append(point), real(point))[1])
    bis = TRAIN.cached(TRAIN.config("quick", **TINY, design="bisect"), root=tmp_path)
    assert trained == []                                   # every run it needed was one of the grid's
    mem_g, mem_b = grid.arrays["memorized"], bis.arrays["memorized"]
    ok = np.isfinite(mem_b)
    assert np.array_equal(mem_b[ok], mem_g[ok]) and ok[:, [0, 1, -1]].all()   # 0.02 <= web_ratio_max: a web run
    assert bis.config["design"] == "bisect" == TRAIN.presets["quick"].design
    assert bis.summary.runs == ok.sum() < grid.summary.runs == mem_g.size
    crossed_once = [np.all(np.diff((m >= grid.config["threshold"]).astype(int)) >= 0) for m in mem_g]
    assert any(crossed_once)                               # (both sizes at this seed)
    for i in np.nonzero(crossed_once)[0]:                  # one crossing on the grid: the grid's critical ratio
        assert bis.arrays["r_thres"][i] == pytest.approx(grid.arrays["r_thres"][i], rel=1e-12)
    with pytest.raises(ConfigError, match="design"):
        TRAIN.config("quick", design="adaptive").validate()
