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
    return {name: exp.cached(exp.config("test"), root=root) for name, exp in BY_NAME.items()}


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
