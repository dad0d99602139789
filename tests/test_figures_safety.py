"""Figures of the shallow-safety-alignment module (`figures.safety`): each figure draws from a real result of its
experiment's test preset, what it plots is the summary's data, and the module is found the same way as the other
papers' figures (python -m figures, the sims CLI, the paper-check report)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import figures
from figures import safety as fs
from paper_checks import Context
from paper_checks.__main__ import _figures
from sims.engine.cli import draw_figure
from sims.safety import BY_NAME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module: the test-preset models train once and the four experiments share them."""
    return tmp_path_factory.mktemp("safety-figures-cache")


@pytest.fixture(scope="module")
def results(cache):
    """The test-preset result of every safety experiment (seed 0)."""
    return {name: exp.cached(exp.config("test"), root=cache) for name, exp in BY_NAME.items()}


def line(ax, label: str):
    """The line of an axes with this legend label."""
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, f"expected one line labelled {label!r}, found {len(found)}"
    return found[0]


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000


def test_depth_plots_the_kl_profiles(results):
    res = results["depth"]
    s = res.summary
    fig = fs.fig_depth(res)
    kl_ax, prob_ax = fig.axes
    np.testing.assert_array_equal(line(kl_ax, "KL(aligned || base), harmful").get_ydata(),
                                  np.maximum(s.kl_aligned, fs.KL_FLOOR))
    np.testing.assert_array_equal(line(kl_ax, "KL(augmented || base), harmful").get_ydata(),
                                  np.maximum(s.kl_augmented, fs.KL_FLOOR))
    assert kl_ax.get_yscale() == "log"
    for model, probs in s.continue_prob.items():
        np.testing.assert_array_equal(line(prob_ax, model).get_ydata(), probs)
    fs.plt.close(fig)


def test_prefill_plots_asr_against_prefill(results):
    res = results["prefill"]
    s = res.summary
    fig = fs.fig_prefill(res)
    ax = fig.axes[0]
    for model, curve in s.asr.items():
        ln = line(ax, model)
        assert list(ln.get_xdata()) == sorted(int(m) for m in curve)
        np.testing.assert_array_equal(ln.get_ydata(), [curve[str(m)] for m in ln.get_xdata()])
    bars = [p.get_height() for p in fig.axes[2].patches]
    assert bars == [pt.mean_asr for pt in s.ablation.values()]
    fs.plt.close(fig)


def test_finetune_attack_plots_each_objective(results):
    res = results["finetune_attack"]
    s = res.summary
    fig = fs.fig_finetune_attack(res)
    steps_ax, _, pos_ax = fig.axes
    for name, run in s.runs["harmful"].items():
        ln = line(steps_ax, name)
        assert list(ln.get_xdata()) == run.steps and list(ln.get_ydata()) == run.asr
        np.testing.assert_array_equal(line(pos_ax, name).get_ydata(), run.harmful_token_prob)
    assert steps_ax.get_xscale() == "symlog"
    fs.plt.close(fig)


def test_tabular_plots_exact_curves(results):
    res = results["tabular"]
    s = res.summary
    fig = fs.fig_tabular(res)
    asr_ax, kl_ax, attack_ax = fig.axes
    for model, curve in s.asr.items():
        np.testing.assert_array_equal(line(asr_ax, fs.TABULAR_LABELS[model]).get_ydata(), curve)
    for model, profile in s.kl.items():
        np.testing.assert_array_equal(line(kl_ax, fs.TABULAR_LABELS[model]).get_ydata(), profile)
    for name, probs in s.attack.items():
        np.testing.assert_array_equal(line(attack_ax, f"{name} (benign task {s.benign[name]:.2f})").get_ydata(),
                                      probs)
    fs.plt.close(fig)


def test_missing_parts_draw_an_empty_panel(results, tmp_path):
    """A prefill run without the ablation and a fine-tuning run on the benign set alone still draw, with the
    missing panels marked."""
    pre = results["prefill"]
    pre = dataclasses.replace(pre, summary=dataclasses.replace(pre.summary, ablation={}))
    ft = results["finetune_attack"]
    ft = dataclasses.replace(ft, summary=dataclasses.replace(ft.summary, runs={"benign": ft.summary.runs["benign"]}))
    for name, res in (("prefill", pre), ("finetune_attack", ft)):
        fig = fs._DRAW[name][1](res)
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any(t.startswith("no ") for t in texts), texts
        fs.plt.close(fig)
        assert_png(fs.draw_result(name, res, tmp_path / name)[0])


def test_unknown_experiment_is_a_value_error(results, tmp_path):
    with pytest.raises(ValueError, match="unknown safety experiment 'nope'"):
        fs.draw_result("nope", results["depth"], tmp_path)


def test_report_draws_every_figure_with_its_caption(results, cache, tmp_path):
    """The paper-check report's path (paper_checks.__main__._figures -> report_figures -> make_all) draws the four
    figures from the cached test-preset results, each with its caption."""
    pairs = _figures("safety", Context(preset="test", seeds=(0,), cache=cache), tmp_path)
    assert [p.name for _, p in pairs] == [fs._DRAW[name][0] for name in BY_NAME]
    for caption, p in pairs:
        assert_png(p)
        assert caption == fs._CAPTIONS[p.name]


def test_found_by_figures_cli_and_report(results, tmp_path):
    """Found like the other papers' figures: `python -m figures` (figures.available) and the sims CLI
    (draw_figure)."""
    assert "safety" in figures.available() and figures.module("safety") is fs
    drawn = draw_figure(BY_NAME["tabular"], results["tabular"], tmp_path)
    assert [p.name for p in drawn] == ["safety_tabular.png"]
    assert_png(drawn[0])
