"""Figures of PTST (Lyu et al., arXiv 2402.18540): the train-template x test-template grids as heat maps (harmful
compliance and task accuracy), for the template-feature model and for the tiny chat models, and the feature
model's compliance against the overlap of training and test templates.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.engine.errors import ConfigError
from sims.ptst import BY_NAME

from .runner import captioned, draw_experiments
from .style import plt, save


def heat_map(ax, cells: dict[str, dict[str, float]], title: str, ptst: tuple[str, str] | None = None) -> None:
    """One grid (rows: training template; columns: test template) with its values printed, the PTST cell boxed."""
    rows = list(cells)
    cols = list(next(iter(cells.values())))
    values = np.array([[cells[r][c] for c in cols] for r in rows])
    image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(values.max())))
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=7,
                    color="white" if values[i, j] < 0.6 * values.max() else "black")
    if ptst is not None and ptst[0] in rows and ptst[1] in cols:
        i, j = rows.index(ptst[0]), cols.index(ptst[1])
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
        title += " (red box: PTST)"
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set(xlabel="test template", ylabel="fine-tuning template", title=title)
    plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def fig_feature(res: Result) -> plt.Figure:
    """The feature model: ASR and benign accuracy grids, and ASR against the overlap rho."""
    s = res.summary
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.4))
    ptst = (s.ptst_train, s.ptst_test)
    heat_map(axes[0], s.asr, "harmful compliance (ASR)", ptst)
    heat_map(axes[1], s.benign, "benign accuracy", ptst)
    axes[2].plot(s.rhos, s.knob_asr, "o-", label=f"trained with {s.knob_train}, tested at cosine rho")
    axes[2].axhline(s.knob_diagonal, color="black", ls="--", lw=1, label="same template (rho = 1)")
    axes[2].set(xlabel="rho: cosine between training and test template", ylabel="ASR", title="overlap knob (T3.2)")
    axes[2].legend(fontsize=7)
    fig.suptitle(f"template-feature model (numpy), benign fine-tuning, seed {res.config.get('seed', 0)}")
    fig.tight_layout()
    return fig


def fig_grid(res: Result) -> plt.Figure:
    """The tiny chat models: ASR and task accuracy grids after benign fine-tuning."""
    s = res.summary
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6))
    ptst = ("chat:vanilla", "chat:llama")
    heat_map(axes[0], s.asr, "harmful compliance (ASR), held-out harmful", ptst)
    heat_map(axes[1], s.accuracy, "accuracy on the new task G", ptst)
    fig.suptitle(f"tiny chat models, benign fine-tuning on task G, seed {res.config.get('seed', 0)}")
    fig.tight_layout()
    return fig


_DRAW = {"feature": ("ptst_feature.png", fig_feature), "grid": ("ptst_grid.png", fig_grid)}


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure of one experiment's result, written under out_dir."""
    if experiment not in _DRAW:
        raise ConfigError(f"experiment must be one of {', '.join(_DRAW)}; got {experiment!r}.")
    name, fn = _DRAW[experiment]
    return [save(fn(res), Path(out_dir) / name)]


_CAPTIONS = {
    "ptst_feature.png": "Template-feature model: harmful compliance and benign accuracy for every (fine-tuning, test) "
                        "template pair (PTST boxed), and compliance against the cosine between the two templates.",
    "ptst_grid.png": "Tiny chat models: harmful compliance and new-task accuracy for every (fine-tuning, test) "
                     "template pair after benign fine-tuning (PTST boxed).",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every ptst experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
