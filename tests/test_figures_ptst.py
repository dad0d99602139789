"""The PTST figures: drawn from real results of the test presets, with the plotted grids equal to the summaries."""
from __future__ import annotations

import numpy as np
import pytest

from figures import ptst as F
from sims.engine.errors import ConfigError
from sims.ptst import BY_NAME
from sims.ptst.grid import CELL_GROUPS, group_means


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("ptst-figures")
    return {name: BY_NAME[name].cached(BY_NAME[name].config("test"), root=root) for name in ("feature", "grid")}


def _image_values(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


@pytest.mark.parametrize("name", ["feature", "grid"])
def test_each_figure_is_written(results, name, tmp_path):
    paths = F.draw_result(name, results[name], tmp_path)
    assert len(paths) == 1 and paths[0].stat().st_size > 10_000


def test_heat_maps_show_the_summaries(results):
    s = results["grid"].summary
    fig = F.fig_grid(results["grid"])
    rows, cols = list(s.asr), list(next(iter(s.asr.values())))
    assert np.array_equal(_image_values(fig.axes[0]), [[s.asr[r][c] for c in cols] for r in rows])
    f = results["feature"].summary
    fig = F.fig_feature(results["feature"])
    assert np.allclose(_image_values(fig.axes[0]), [[f.asr[r][c] for c in f.templates] for r in f.templates])
    line = next(ax for ax in fig.axes if ax.lines).lines[0]
    assert np.allclose(line.get_xdata(), f.rhos) and np.allclose(line.get_ydata(), f.knob_asr)


@pytest.fixture(scope="module")
def danger(tmp_path_factory):
    import dataclasses
    root = tmp_path_factory.mktemp("ptst-danger")
    cfg = dataclasses.replace(BY_NAME["grid"].config("test"), models="test-danger")
    return [BY_NAME["grid"].cached(dataclasses.replace(cfg, seed=s), root=root) for s in (0, 1)]


def test_danger_figure_shows_the_mean_grid_and_each_seeds_cells(danger, results, tmp_path):
    fig = F.fig_danger(danger)
    rows = list(danger[0].summary.asr_marked)
    cols = list(danger[0].summary.asr_marked[rows[0]])
    mean = [[np.mean([r.summary.asr_marked[a][b] for r in danger]) for b in cols] for a in rows]
    assert np.allclose(_image_values(fig.axes[0]), mean)
    ptst_line = fig.axes[1].lines[1]          # the colour bars come after the panels
    assert np.allclose(ptst_line.get_ydata(), [r.summary.asr_marked["chat:vanilla"]["chat:llama"] for r in danger])
    grid = F.fig_grid(danger[0])
    assert np.array_equal(_image_values(grid.axes[2]), [[danger[0].summary.asr_marked[a][b] for b in cols]
                                                        for a in rows])
    bars = [p.get_height() for p in fig.axes[2].patches]          # ASR groups, then accuracy groups
    expected = [np.mean([group_means(getattr(r.summary, key))[g] for r in danger])
                for key in ("asr_marked", "accuracy") for g in CELL_GROUPS]
    assert np.allclose(bars, expected, equal_nan=True)      # the test grid has no same-length pair: NaN
    with pytest.raises(ConfigError, match="results"):
        F.fig_danger([results["grid"]])


def test_unknown_experiment_is_refused(results, tmp_path):
    with pytest.raises(ConfigError, match="experiment"):
        F.draw_result("table", results["grid"], tmp_path)


def test_ptst_is_listed_among_the_papers_with_figures():
    from figures import available
    assert "ptst" in available()


def _real_result():
    """A real-model grid result with distinct made-up values (the real run needs SmolLM2 and minutes: its
    figure is checked on what it must show, the summary's cells)."""
    from sims.engine import Result
    from sims.ptst.real import RealSummary

    t = ("chat:vanilla", "chat:safety")
    cells = {a: {b: 0.1 + 0.2 * i + 0.05 * j for j, b in enumerate(t)} for i, a in enumerate(t)}
    acc = {a: {b: 0.5 + 0.1 * i + 0.02 * j for j, b in enumerate(t)} for i, a in enumerate(t)}
    summary = RealSummary(asr=cells, accuracy=acc, initial_asr={"chat:vanilla": 0.03, "chat:safety": 0.0},
                          initial_accuracy={"chat:vanilla": 0.2, "chat:safety": 0.25},
                          shipped_asr={"chat:vanilla": 1.0, "chat:safety": 0.9},
                          examples={a: {b: "text" for b in t} for a in t}, align_seconds=1.0)
    return Result("ptst.real", {"seed": 4}, summary, {})


def test_real_figure_shows_the_aligned_row_then_the_grid(tmp_path):
    res = _real_result()
    s = res.summary
    fig = F.fig_real(res)
    cols = list(s.initial_asr)
    assert np.allclose(_image_values(fig.axes[0]), [[s.initial_asr[c] for c in cols]]
                       + [[s.asr[r][c] for c in cols] for r in s.asr])
    assert np.allclose(_image_values(fig.axes[1]), [[s.initial_accuracy[c] for c in cols]]
                       + [[s.accuracy[r][c] for c in cols] for r in s.accuracy])
    assert "seed 4" in fig._suptitle.get_text()
    paths = F.draw_result("real", res, tmp_path)
    assert paths[0].name == "ptst_real.png" and paths[0].stat().st_size > 10_000


def test_make_all_draws_the_real_grid_only_from_the_cache(tmp_path, monkeypatch):
    import figures.ptst as module

    drawn = []
    monkeypatch.setattr(module, "draw_experiments", lambda exps, draw, preset, cache, out, seed, names: drawn.append(
        list(names)) or [])
    F.make_all("quick", tmp_path / "cache", tmp_path, seed=0)
    assert drawn[-1] == ["feature", "grid", "overlap"]
    from sims.engine.cache import path_for
    from sims.ptst import REAL
    path_for(REAL.id, REAL.config("quick", seed=0), tmp_path / "cache").mkdir(parents=True)
    F.make_all("quick", tmp_path / "cache", tmp_path, seed=0)
    assert drawn[-1] == ["feature", "grid", "overlap", "real"]
    from sims.ptst import SAFETY_DATA
    path_for(SAFETY_DATA.id, SAFETY_DATA.config("quick", seed=0), tmp_path / "cache").mkdir(parents=True)
    F.make_all("quick", tmp_path / "cache", tmp_path, seed=0)
    assert drawn[-1] == ["feature", "grid", "overlap", "safety_data", "real"]


def test_safety_data_figure_plots_each_kinds_mean_over_seeds(tmp_path_factory, tmp_path):
    import dataclasses
    root = tmp_path_factory.mktemp("ptst-safety-data")
    cfg = BY_NAME["safety_data"].config("test")
    runs = [BY_NAME["safety_data"].cached(dataclasses.replace(cfg, seed=s), root=root) for s in (0, 1)]
    fig = F.fig_safety_data(runs)
    for ax, (key, test, _) in zip(fig.axes, F._SAFETY_PANELS, strict=True):
        means = [line for line in ax.lines if line.get_marker() == "o"]
        assert len(means) == 3
        for line, kind in zip(means, ("harmful", "other_harmful", "task_format"), strict=True):
            assert np.allclose(line.get_ydata(), np.mean([getattr(r.summary, key)[kind][test] for r in runs], axis=0))
    paths = F.draw_result("safety_data", runs[0], tmp_path)
    assert paths[0].name == "ptst_safety_data.png" and paths[0].stat().st_size > 10_000
    with pytest.raises(ConfigError, match="results"):
        F.fig_safety_data([])


@pytest.fixture(scope="module")
def overlap(tmp_path_factory):
    import dataclasses
    root = tmp_path_factory.mktemp("ptst-overlap")
    cfg = BY_NAME["overlap"].config("test")
    return [BY_NAME["overlap"].cached(dataclasses.replace(cfg, seed=s), root=root) for s in (0, 1)]


def test_overlap_figure_plots_each_curves_mean_over_seeds(overlap, tmp_path):
    from sims.ptst.overlap import CURVES
    fig = F.fig_overlap(overlap)
    rho = overlap[0].summary.overlaps
    for ax, (key, _) in zip(fig.axes, F._OVERLAP_PANELS, strict=True):
        means = [line for line in ax.lines if line.get_marker() == "o"]
        assert len(means) == len(CURVES)
        for line, curve in zip(means, CURVES, strict=True):
            assert np.allclose(line.get_xdata(), rho)
            assert np.allclose(line.get_ydata(), np.mean([getattr(r.summary, key)[curve] for r in overlap], axis=0))
    paths = F.draw_result("overlap", overlap[0], tmp_path)
    assert paths[0].name == "ptst_overlap.png" and paths[0].stat().st_size > 10_000
    with pytest.raises(ConfigError, match="results"):
        F.fig_overlap([])


def _dashed_cells(ax) -> set[tuple[int, int]]:
    """(row, column) of the cells a heat map outlines in dashes."""
    return {(round(p.get_y() + 0.42), round(p.get_x() + 0.42)) for p in ax.patches if p.get_linestyle() == "--"}


def test_heat_maps_outline_the_cells_that_keep_the_task(results, danger):
    from paper_checks.ptst import accurate_cells
    for res in (results["grid"], danger[0]):
        s = res.summary
        fig = F.fig_grid(res)
        rows, cols = list(s.asr), list(next(iter(s.asr.values())))
        keep = {(rows.index(a), cols.index(b)) for a, b in accurate_cells(s.accuracy)}
        assert keep and all(_dashed_cells(ax) == keep for ax in fig.axes[:len(fig.axes) // 2])
    fig = F.fig_danger(danger)
    rows, cols = list(danger[0].summary.asr_marked), list(next(iter(danger[0].summary.asr_marked.values())))
    kept = [accurate_cells(r.summary.accuracy) for r in danger]
    both = {(rows.index(a), cols.index(b)) for a, b in kept[0] | kept[1]}   # half of two seeds: either seed
    assert _dashed_cells(fig.axes[0]) == both
