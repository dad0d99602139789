"""Figures of PTST (Lyu et al., arXiv 2402.18540): the train-template x test-template grids as heat maps (harmful
compliance and task accuracy), for the template-feature model and for the tiny chat models, the feature
model's compliance against the overlap of training and test templates, in the danger world (harmful requests in
the fine-tuning task's format) the grid of ASR on those requests averaged over seeds with each seed's key cells,
the tiny models' compliance against the overlap of the test system prompt with the fine-tuning one, and against
the number of safety examples mixed into the fine-tuning.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_checks.ptst import ACCURATE, accurate_cells
from sims.engine import Result
from sims.engine.cache import path_for
from sims.engine.errors import ConfigError
from sims.engine.stats import mean_ci
from sims.ptst import BY_NAME, DEFAULT, GRID, OVERLAP, REAL, SAFETY_DATA
from sims.ptst.overlap import CURVES, slope
from sims.ptst.safety_data import KINDS
from sims.ptst.real_world import PTST as REAL_PTST
from sims.ptst.grid import CELL_GROUPS, group_means

from .runner import captioned, draw_experiments
from .style import plt, save


def heat_map(ax, cells: dict[str, dict[str, float]], title: str, ptst: tuple[str, str] | None = None,
             accurate: set[tuple[str, str]] | None = None, accurate_label: str = "") -> None:
    """One grid (rows: training template; columns: test template) with its values printed, the PTST cell boxed,
    and the cells of `accurate` (those that keep the task) outlined in dashes."""
    rows = list(cells)
    cols = list(next(iter(cells.values())))
    values = np.array([[cells[r][c] for c in cols] for r in rows])
    image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(values.max())))
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=7,
                    color="white" if values[i, j] < 0.6 * values.max() else "black")
    for a, b in sorted(accurate or ()):
        if a in rows and b in cols:
            ax.add_patch(plt.Rectangle((cols.index(b) - 0.42, rows.index(a) - 0.42), 0.84, 0.84, fill=False,
                                       edgecolor="orange", lw=1.2, ls="--"))
    if ptst is not None and ptst[0] in rows and ptst[1] in cols:
        i, j = rows.index(ptst[0]), cols.index(ptst[1])
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
        title += " (red box: PTST)"
    if accurate is not None:
        title += f"\n(dashed: {accurate_label or f'task accuracy within {ACCURATE:g} of the best cell'})"
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


PTST = ("chat:vanilla", "chat:llama")


def fig_grid(res: Result) -> plt.Figure:
    """The tiny chat models: ASR and task accuracy grids after benign fine-tuning (in the danger world also the ASR
    on harmful requests in the task's format)."""
    s = res.summary
    panels = 3 if s.asr_marked else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.75 * panels, 4.6))
    keep = accurate_cells(s.accuracy)
    heat_map(axes[0], s.asr, "harmful compliance (ASR), held-out harmful", PTST, keep)
    heat_map(axes[1], s.accuracy, "accuracy on the new task G", PTST, keep)
    if s.asr_marked:
        heat_map(axes[2], s.asr_marked, "ASR, marked G requests (task format)", PTST, keep)
    fig.suptitle(f"tiny chat models, benign fine-tuning on task G, seed {res.config.get('seed', 0)}")
    fig.tight_layout()
    return fig


def fig_real(res: Result) -> plt.Figure:
    """SmolLM2 aligned, then fine-tuned on word problems: compliance with held-out harmful requests and accuracy on
    held-out word problems for every (fine-tuning, test) template pair, the aligned model's row first."""
    s = res.summary
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6))
    keep = accurate_cells(s.accuracy)   # among the fine-tuned cells, as the claim reads them
    heat_map(axes[0], {"(aligned)": s.initial_asr, **s.asr}, "harmful requests complied with (keyword judge)",
             REAL_PTST, keep)
    heat_map(axes[1], {"(aligned)": s.initial_accuracy, **s.accuracy}, "word problems answered right", REAL_PTST,
             keep)
    fig.suptitle(f"SmolLM2-135M-Instruct aligned by LoRA SFT, benign fine-tuning, seed {res.config.get('seed', 0)}")
    fig.tight_layout()
    return fig


def mean_cells(tables: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """The cell-wise mean of grids with the same rows and columns."""
    return {r: {c: float(np.mean([t[r][c] for t in tables])) for c in tables[0][r]} for r in tables[0]}


DANGER_CELLS = (("chat:vanilla", "chat:vanilla", "same template, no safety prompt"), (*PTST, "PTST"),
                ("chat:llama", "chat:llama", "same template, safety prompt"))


def fig_danger(results: list[Result]) -> plt.Figure:
    """Danger world over seeds: the mean ASR grid on marked G requests (PTST boxed); per seed, the ASR of three
    cells (same template without and with the safety prompt, PTST) next to the aligned model's compliance; and per
    seed the mean ASR and task accuracy over the cells of each CELL_GROUPS group (how the erosion and the skill
    carry over to other templates)."""
    if not results or not all(r.summary.asr_marked for r in results):
        raise ConfigError("results must be grid runs of the danger world (--models danger); got none or others.")
    seeds = [r.config.get("seed", 0) for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(17.5, 4.6))
    kept = [accurate_cells(r.summary.accuracy) for r in results]
    majority = {cell for cell in set().union(*kept) if 2 * sum(cell in k for k in kept) >= len(kept)}
    heat_map(axes[0], mean_cells([r.summary.asr_marked for r in results]),
             f"mean ASR, marked G requests, seeds {', '.join(map(str, seeds))}", PTST, majority,
             f"task accuracy within {ACCURATE:g} of the best cell at half the seeds or more")
    for k, (train, test, label) in enumerate(DANGER_CELLS):
        ys = [r.summary.asr_marked[train][test] for r in results]
        axes[1].plot(np.full(len(ys), k) + np.linspace(-0.15, 0.15, len(ys)), ys, "o", label=f"{train} -> {test}")
    before = [r.summary.initial_comply_marked[PTST[1]] for r in results]
    axes[1].plot(np.full(len(before), len(DANGER_CELLS)) + np.linspace(-0.15, 0.15, len(before)), before, "kx",
                 label="aligned model (compliance, chat:llama)")
    axes[1].set_xticks(range(len(DANGER_CELLS) + 1), [c[2] for c in DANGER_CELLS] + ["before fine-tuning"],
                       rotation=15, fontsize=7)
    axes[1].set(ylabel="ASR on marked G requests", ylim=(-0.05, 1.05), title="per seed (one point each)")
    axes[1].legend(fontsize=7)
    for k, (key, label) in enumerate((("asr_marked", "ASR, marked G"), ("accuracy", "task accuracy on G"))):
        per_seed = np.array([[group_means(getattr(r.summary, key))[g] for g in CELL_GROUPS] for r in results])
        x = np.arange(len(CELL_GROUPS)) + (k - 0.5) * 0.3
        axes[2].bar(x, per_seed.mean(axis=0), width=0.3, alpha=0.5, label=f"{label} (mean over seeds)")
        for row in per_seed:
            axes[2].plot(x, row, ".", color="black", ms=3)
    axes[2].set_xticks(range(len(CELL_GROUPS)), CELL_GROUPS, fontsize=8)
    axes[2].set(ylim=(0, 1.05), title="by (training, test) template pair; dots: seeds")
    axes[2].legend(fontsize=7)
    fig.suptitle("danger world: harmful requests in the fine-tuning task's format after benign fine-tuning on G")
    fig.tight_layout()
    return fig


def _seeds(seeds: list[int]) -> str:
    """ "seed 3" or "seeds 0, 1, 2"."""
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"


_CURVE_LABELS = {"aligned": "aligned model (before fine-tuning)", "fixed": "fine-tuned under the training prompt",
                 "random": "control: fine-tuned under random prompts"}
_OVERLAP_PANELS = (("comply_marked", "compliance in form, marked G requests"), ("asr_marked", "ASR, marked G requests"),
                   ("accuracy", "accuracy on the task G"))


def fig_overlap(results: list[Result]) -> plt.Figure:
    """The overlap knob on tiny models: per measure, each curve against the overlap rho of the test system prompt
    with the fine-tuning one, the mean over seeds with a 95 % t-interval (one seed: its curve alone) and each
    seed's curve in thin lines; the legend gives the mean least-squares slope."""
    if not results:
        raise ConfigError("results must hold at least one overlap run; got none.")
    seeds = [r.config.get("seed", 0) for r in results]
    rho = np.array(results[0].summary.overlaps)
    fig, axes = plt.subplots(1, len(_OVERLAP_PANELS), figsize=(5.6 * len(_OVERLAP_PANELS), 4.4))
    for ax, (key, title) in zip(axes, _OVERLAP_PANELS, strict=True):
        for k, curve in enumerate(CURVES):
            ys = np.array([getattr(r.summary, key)[curve] for r in results])
            color = f"C{k}"
            for row in ys if len(ys) > 1 else ():
                ax.plot(rho, row, color=color, lw=0.5, alpha=0.35)
            bands = [mean_ci(col) for col in ys.T]
            mean = np.array([b.mean for b in bands])
            if len(ys) > 1:
                ax.fill_between(rho, [b.low for b in bands], [b.high for b in bands], color=color, alpha=0.08)
            slopes = [slope(rho, row) for row in ys]
            ax.plot(rho, mean, "o-", color=color, label=f"{_CURVE_LABELS[curve]}; slope {np.mean(slopes):+.3f}")
        ax.set(xlabel="rho: share of the system prompt the test prompt keeps", ylim=(-0.05, 1.05), title=title)
        ax.legend(fontsize=7)
    fig.suptitle(f"overlap knob (T3.2), tiny chat models with four-symbol system prompts; {_seeds(seeds)}")
    fig.tight_layout()
    return fig


_KIND_LABELS = {"harmful": "refusals to U (a harmful family)", "other_harmful": "refusals to V (another one)",
                "task_format": "refusals to marked A (task format)"}
_SAFETY_PANELS = (("comply_marked", "chat:vanilla", "compliance in form, marked G; test chat:vanilla"),
                  ("comply_marked", "chat:llama", "compliance in form, marked G; test chat:llama (PTST)"),
                  ("accuracy", "chat:llama", "accuracy on G; test chat:llama (PTST)"))


def fig_safety_data(results: list[Result]) -> plt.Figure:
    """Safety examples mixed into the fine-tuning: per panel, a measure against the number of refusals mixed in,
    one line per kind of safety example (mean over seeds, each seed in thin lines), the aligned model dotted."""
    if not results:
        raise ConfigError("results must hold at least one safety_data run; got none.")
    seeds = [r.config.get("seed", 0) for r in results]
    doses = results[0].summary.doses
    x = np.arange(len(doses))
    fig, axes = plt.subplots(1, len(_SAFETY_PANELS), figsize=(5.6 * len(_SAFETY_PANELS), 4.4))
    for ax, (key, test, title) in zip(axes, _SAFETY_PANELS, strict=True):
        for k, kind in enumerate(KINDS):
            ys = np.array([getattr(r.summary, key)[kind][test] for r in results])
            for row in ys if len(ys) > 1 else ():
                ax.plot(x, row, color=f"C{k}", lw=0.5, alpha=0.35)
            ax.plot(x, ys.mean(axis=0), "o-", color=f"C{k}", label=_KIND_LABELS[kind])
        ax.axhline(np.mean([r.summary.initial[key][test] for r in results]), color="black", ls=":", lw=1,
                   label="aligned model, before fine-tuning")
        ax.set_xticks(x, [str(d) for d in doses])
        ax.set(xlabel="safety examples mixed into 512 G examples", ylim=(-0.05, 1.05), title=title)
        ax.legend(fontsize=7)
    fig.suptitle(f"danger world: benign fine-tuning with chat:vanilla plus refusals; {_seeds(seeds)}")
    fig.tight_layout()
    return fig


_DRAW = {"feature": ("ptst_feature.png", fig_feature), "grid": ("ptst_grid.png", fig_grid),
         "real": ("ptst_real.png", fig_real), "overlap": ("ptst_overlap.png", lambda res: fig_overlap([res])),
         "safety_data": ("ptst_safety_data.png", lambda res: fig_safety_data([res]))}


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
                     "template pair after benign fine-tuning (PTST boxed; dashed: the cells whose task accuracy is "
                     "within 0.05 of the best, among which the paper expects PTST to be the safest).",
    "ptst_real.png": "SmolLM2-135M-Instruct, aligned by LoRA SFT on refusals, then fine-tuned on benign word problems: "
                     "share of held-out harmful requests complied with (keyword judge) and of held-out word problems "
                     "answered right, for every (fine-tuning, test) template pair, the aligned model first (PTST "
                     "boxed; dashed: the fine-tuned cells within 0.05 of the best word-problem accuracy).",
    "ptst_danger.png": "Danger world (tiny chat models): ASR on held-out G requests carrying the danger marker after "
                       "benign fine-tuning on clean G, averaged over the seeds of the danger claims (PTST boxed; "
                       "dashed: cells within 0.05 of the best task accuracy at half the seeds or more); per seed "
                       "for the two same-template cells and the PTST cell; and the ASR and task accuracy "
                       "averaged over the cells of the same template, of templates that put the instruction at the "
                       "same positions, and of templates that shift it.",
    "ptst_overlap.png": "Overlap knob on tiny chat models (every prompt carries a four-symbol system prompt): after "
                        "benign fine-tuning on G under one system prompt (orange) or under random ones (green, the "
                        "control), compliance in form and ASR on marked G requests and accuracy on G against the "
                        "share of the fine-tuning prompt's symbols the test prompt keeps at the same positions; "
                        "blue: the aligned model before fine-tuning. Mean over seeds with a 95 % t-interval; thin "
                        "lines: seeds.",
    "ptst_safety_data.png": "Danger world: compliance in form with marked G requests (under chat:vanilla, and under "
                            "chat:llama: PTST) and accuracy on G under chat:llama after benign fine-tuning with "
                            "chat:vanilla on 512 G examples plus refusals to a harmful family (U, or V) or to "
                            "task-format requests (marked A), against the number of refusals mixed in; mean over "
                            "seeds, thin lines: seeds.",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) the default ptst experiments at `preset` and draw their figures; the safety-data
    sweep's and the real-model grid's figures too when their results for `seed` are in the cache (they are never
    run from here: `python -m sims.ptst safety_data` trains the danger models and 13 fine-tunings, `python -m sims.ptst
    real` takes a quarter of an hour on a CPU)."""
    names = list(DEFAULT)
    for extra in (SAFETY_DATA, REAL):
        if path_for(extra.id, extra.config(preset, seed=seed), cache).exists():
            names.append(extra.name)
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed, names=names)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report: every experiment from the first seed's cached results, and the danger
    world's grid over the seeds its claims are measured on (`Context.for_claim`)."""
    from paper_checks.ptst import DANGER_CLAIMS, OVERLAP_CLAIMS, SAFETY_DATA_CLAIMS

    paths = make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0])
    danger = ctx.for_claim(DANGER_CLAIMS[0]).results(GRID, models="danger")
    paths.append(save(fig_danger(danger), Path(out_dir) / "ptst_danger.png"))
    # the overlap and safety-data figures over their claims' seeds replace the first seed's alone, when drawn above
    paths = [p for p in paths if Path(p).name not in ("ptst_overlap.png", "ptst_safety_data.png")]
    knob = ctx.for_claim(OVERLAP_CLAIMS[0]).results(OVERLAP)
    paths.append(save(fig_overlap(knob), Path(out_dir) / "ptst_overlap.png"))
    doses = ctx.for_claim(SAFETY_DATA_CLAIMS[0]).results(SAFETY_DATA)
    paths.append(save(fig_safety_data(doses), Path(out_dir) / "ptst_safety_data.png"))
    return captioned(paths, _CAPTIONS)
