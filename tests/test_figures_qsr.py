"""The QSR figures (`figures.qsr`): each draws, without a warning, from a real run of its experiment at a small config
(the experiments' `.config(...)` overrides, through the session cache), what it plots is the result's data (found
by the gid every drawn series carries), and the module is found like the other papers' figures (python -m figures,
the sims CLI, the paper-check report)."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import figures
from figures import qsr as F
from paper_checks import Context
from sims.engine.cli import draw_figure
from sims.qsr import BY_NAME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# small configs: seconds each on 2 cores (the torch run spawns K = 2 processes for 4 x 200 steps)
SMALL = {
    "schedule": dict(total=12_000, warmup=1_000, alphas=(0.0175, 0.025)),
    "toy": dict(steps=1_500, n_paths=16, n_record=30),
    "drift": dict(etas=(0.04, 0.02), slow_time=0.05, n_paths=64),
    "torch": dict(steps=200, warmup=20, width=16, n_eval=3, calib_steps=10, calib_repeats=2, power_iters=5,
                  sharpness_points=128),
}


def small_config(name: str, **extra):
    return BY_NAME[name].config("quick", **{**SMALL[name], **extra})


@pytest.fixture(scope="module")
def results(cache_dir):
    """Each experiment's result at its small config (seed 0), through the session cache."""
    return {name: BY_NAME[name].cached(small_config(name), root=cache_dir) for name in SMALL}


def drawn(fig, gid: str):
    """The one line of the figure with this gid."""
    found = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(found) == 1, f"expected one line {gid!r}, found {len(found)}"
    return found[0]


def bars(fig, gid: str):
    found = [p for ax in fig.axes for p in ax.patches if p.get_gid() == gid]
    assert len(found) == 1, f"expected one bar {gid!r}, found {len(found)}"
    return found[0]


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000


@pytest.mark.parametrize("name", list(SMALL))
def test_each_figure_is_written_without_warnings(results, name, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = F.draw_result(name, results[name], tmp_path)
    assert [p.name for p in paths] == [F._DRAW[name][0]]
    assert_png(paths[0])


def test_schedule_draws_every_round(results):
    res = results["schedule"]
    s, a = res.summary, res.arrays
    fig = F.fig_schedule(res)
    np.testing.assert_array_equal(drawn(fig, "lr").get_ydata(), a["lr"])
    assert set(s.rules) == {"constant", "inverse_lr", "qsr_a0.0175", "qsr_a0.025"}
    for name, r in s.rules.items():
        ln = drawn(fig, f"h/{name}")
        # a step function over the rounds: each round's first step and H, closed at the last step
        np.testing.assert_array_equal(ln.get_xdata(), np.append(a[f"starts_{name}"], s.steps))
        np.testing.assert_array_equal(ln.get_ydata()[:-1], a[f"h_{name}"])
        assert f"{r.rounds:,} rounds" in ln.get_label()
    assert fig.axes[1].get_yscale() == "log"
    # the rules are told apart on the plot: QSR's largest H exceeds the constant rule's
    assert s.rules["qsr_a0.0175"].h_max > s.rules["constant"].h_max == res.config["init_h"]
    F.plt.close(fig)


def test_toy_draws_measured_flow_and_rounds(results):
    res = results["toy"]
    s, a = res.summary, res.arrays
    fig = F.fig_toy(res)
    for name, r in s.rules.items():
        np.testing.assert_array_equal(drawn(fig, f"mean/{name}").get_ydata(), a[f"sharp_mean_{name}"])
        np.testing.assert_array_equal(drawn(fig, f"flow/{name}").get_ydata(), a[f"flow_{name}"])
        assert drawn(fig, f"flow/{name}").get_linestyle() == "--"
        keep = a[f"rounds_{name}"] > 0  # the start, at 0 rounds, has no place on the log axis
        ln = drawn(fig, f"rounds/{name}")
        np.testing.assert_array_equal(ln.get_xdata(), a[f"rounds_{name}"][keep])
        np.testing.assert_array_equal(ln.get_ydata(), a[f"sharp_mean_{name}"][keep])
        end = drawn(fig, f"rounds_final/{name}")
        assert list(end.get_xdata()) == [r.rounds] and list(end.get_ydata()) == [r.final_sharpness.mean]
        np.testing.assert_array_equal(drawn(fig, f"h/{name}").get_ydata(), a[f"h_{name}"])
    rounds_ax = drawn(fig, "rounds/qsr").axes
    assert rounds_ax.get_xscale() == "log"
    # QSR's last point lies left of constant H's: fewer rounds (research notes 1.7 Q3), as the summary says
    assert s.rules["qsr"].rounds < s.rules["constant"].rounds < s.rules["sgd"].rounds
    F.plt.close(fig)


def test_drift_draws_measured_and_predicted_factors(results):
    res = results["drift"]
    s = res.summary
    fig = F.fig_drift(res)
    etas = [e.eta for e in s.by_eta]
    for name in ("inverse_lr", "qsr"):
        rules = [e.rules[name] for e in s.by_eta]
        ln = drawn(fig, f"factor/{name}")
        np.testing.assert_array_equal(ln.get_xdata(), etas)
        np.testing.assert_array_equal(ln.get_ydata(), [r.factor_measured for r in rules])
        np.testing.assert_array_equal(drawn(fig, f"factor_flow/{name}").get_ydata(),
                                      [r.factor_predicted for r in rules])
    levels = {g: drawn(fig, f"level/{g}").get_ydata()[0] for g in ("sgd", "inverse_lr", "qsr")}
    assert levels == {"sgd": 1.0, "inverse_lr": s.factor_limit_inverse_lr, "qsr": res.config["K"]}
    for name in ("sgd", "inverse_lr", "qsr"):
        ratio = drawn(fig, f"ratio/{name}").get_ydata()
        np.testing.assert_allclose(ratio, [e.rules[name].ratio for e in s.by_eta], rtol=1e-12)
    # eta decreases to the right on both panels
    assert all(ax.get_xlim()[0] > ax.get_xlim()[1] for ax in fig.axes)
    F.plt.close(fig)


def test_drift_control_without_noise_draws_its_empty_panels(cache_dir, tmp_path):
    """sigma = 0 (no label noise, no drift): no factor can be measured and no drop is predicted; the figure says so
    instead of failing or warning."""
    res = BY_NAME["drift"].cached(small_config("drift", sigma=0.0, n_paths=8), root=cache_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = F.fig_drift(res)
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any(t.startswith("no measured factor") for t in texts)
        assert any(t.startswith("no predicted drop") for t in texts)
        F.plt.close(fig)
        assert_png(F.draw_result("drift", res, tmp_path)[0])


def test_torch_draws_accuracy_and_wall_time_split(results):
    res = results["torch"]
    s, a, c = res.summary, res.arrays, res.config
    fig = F.fig_torch(res)
    for name, r in s.rules.items():
        np.testing.assert_array_equal(drawn(fig, f"acc/{name}").get_ydata(), a[f"test_acc_{name}"])
        final = drawn(fig, f"final/{name}")
        assert list(final.get_xdata()) == [r.rounds] and list(final.get_ydata()) == [r.test_acc]
        legend = [t.get_text() for t in final.axes.get_legend().get_texts()]
        assert f"{F.RULE_TITLES[name]}: {r.wall_s:.2f} s (pred. {r.predicted_s:.2f} s)" in legend
        # the measured bar stacks compute and communication up to the measured wall time
        assert bars(fig, f"measured_compute/{name}").get_height() == pytest.approx(r.compute_s)
        assert bars(fig, f"measured_comm/{name}").get_height() == pytest.approx(r.comm_s)
        assert r.compute_s + r.comm_s == pytest.approx(r.wall_s, rel=1e-9)
        # the predicted bar is theory.qsr.wall_time split in its two terms: the same total as the summary's
        comp, comm = bars(fig, f"predicted_compute/{name}"), bars(fig, f"predicted_comm/{name}")
        assert comp.get_height() == pytest.approx(c["steps"] * s.t_compute, rel=1e-9)
        assert comm.get_height() == pytest.approx(r.rounds * s.t_comm, rel=1e-9)
        assert comp.get_height() + comm.get_height() == pytest.approx(r.predicted_s, rel=1e-9)
    assert drawn(fig, "final/qsr").axes.get_xscale() == "log"
    F.plt.close(fig)


def test_unknown_experiment_is_a_value_error(results, tmp_path):
    with pytest.raises(ValueError, match="unknown qsr experiment 'nope'"):
        F.draw_result("nope", results["toy"], tmp_path)


def test_an_experiment_without_a_figure_draws_nothing(results, tmp_path, monkeypatch):
    """A qsr experiment added later without a figure here: the sims CLI's draw_figure gets no file, not an error."""
    monkeypatch.setitem(BY_NAME, "later", dataclasses.replace(BY_NAME["toy"], name="later"))
    assert F.draw_result("later", results["toy"], tmp_path) == []
    assert not list(tmp_path.iterdir())


def test_report_draws_every_figure_with_its_caption(results, cache_dir, tmp_path, monkeypatch):
    """The paper-check report's path (report_figures -> make_all -> draw_experiments) draws the four figures with
    their captions; the quick presets are swapped for the small configs, so the cached results are reused."""
    for name in SMALL:
        exp = BY_NAME[name]
        monkeypatch.setitem(BY_NAME, name, dataclasses.replace(exp, presets={**exp.presets,
                                                                             "quick": small_config(name)}))
    pairs = F.report_figures(Context(preset="quick", seeds=(0,), cache=cache_dir), tmp_path)
    assert sorted(p.name for _, p in pairs) == sorted(f for f, _ in F._DRAW.values())
    assert set(F._CAPTIONS) == {f for f, _ in F._DRAW.values()}
    for caption, p in pairs:
        assert_png(p)
        assert caption == F._CAPTIONS[p.name]


def test_found_by_figures_cli_and_sims_cli(results, tmp_path):
    assert "qsr" in figures.available() and figures.module("qsr") is F
    out = draw_figure(BY_NAME["schedule"], results["schedule"], tmp_path)
    assert [p.name for p in out] == ["qsr_schedule.png"]
    assert_png(out[0])
