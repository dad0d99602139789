"""Figures of shallow safety alignment (Qi et al., "Safety Alignment Should Be Made More Than Just a Few Tokens
Deep", arXiv 2406.05946) on the tiny chat models of `sims.safety` and its exact tabular world: the per-token KL
from the base model along harmful answers (Fig. 1 / Fig. 4 analogue), attack success against the number of
prefilled tokens with the decoding attack and the recovery ablation (Fig. 2, Tables 3 and 6-7 analogues), ASR
along harmful fine-tuning per objective (Fig. 3 / Table 8 analogue), and the tabular world's curves (T2.1, T2.2,
T2.4 of the research notes).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sims.engine import Result
from sims.safety import BY_NAME
from sims.safety.models import STAGES

from .runner import captioned, draw_experiments
from .style import colors, plt, save

MODELS = "tiny chat models"
TABULAR_LABELS = {"base": "base", "shallow": "shallow-aligned (T2.1)", "recover": "hand-built recovery (rho)",
                  "deep": "recovery-trained (Eq. 2)"}
KL_FLOOR = 1e-4  # KL values below this are drawn at it on the log axis (an exact 0 has no log)


def palette(names) -> dict[str, tuple]:
    """One colour per name (model or objective) along the shared sequential map, in the order given; with
    STAGES, base, aligned and augmented keep the same colours in every figure."""
    names = list(names)
    return dict(zip(names, colors(len(names))))


def no_data(ax, text: str) -> None:
    """Mark a panel whose data the run did not produce (a preset without that part)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def mark_head(ax, head: int) -> None:
    """Shade the first `head` answer positions (the instruction-determined "first tokens")."""
    ax.axvspan(-0.5, head - 0.5, color="orange", alpha=0.12, label=f"first {head} positions")


def position_ticks(ax, n: int) -> None:
    """Answer positions 0 .. n-2 and the end token at n-1 on the x axis."""
    ticks = list(range(n))
    ax.set_xticks(ticks, [str(k) for k in ticks[:-1]] + ["end"], fontsize=7)


def fig_depth(res: Result) -> plt.Figure:
    """Left: per-position KL(aligned || base) and KL(augmented || base) along harmful answers (log scale, the
    first `head` positions shaded), with the benign-answer KL as a thin reference. Right: the probability of the
    next harmful token along the harmful answer for each model."""
    s = res.summary
    head = int(res.config["head"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.0, 4.2))
    c = palette(STAGES)
    x = np.arange(len(s.kl_aligned))
    mark_head(ax, head)
    ax.plot(x, np.maximum(s.kl_aligned, KL_FLOOR), "o-", color=c["aligned"], label="KL(aligned || base), harmful")
    ax.plot(x, np.maximum(s.kl_augmented, KL_FLOOR), "s-", color=c["augmented"],
            label="KL(augmented || base), harmful")
    ax.plot(x, np.maximum(s.kl_aligned_benign, KL_FLOOR), ":", color="gray", lw=1.0,
            label="KL(aligned || base), benign answers")
    ax.set_yscale("log")
    position_ticks(ax, len(x))
    ax.set(xlabel="answer position k (given the harmful answer's first k tokens)", ylabel="per-token KL (nats)",
           title=f"KL from the base model; share on first {head}: aligned {s.head_share_aligned:.2f}, "
                 f"augmented {s.head_share_augmented:.2f}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    mark_head(bx, head)
    for name, probs in s.continue_prob.items():
        bx.plot(np.arange(len(probs)), probs, "o-", ms=3, color=c.get(name, "black"), label=name)
    position_ticks(bx, len(next(iter(s.continue_prob.values()))))
    bx.set(xlabel="answer position k", ylabel="P(next harmful token | harmful answer so far)", ylim=(-0.02, 1.02),
           title="probability of continuing the harmful answer")
    bx.legend(fontsize=7)
    fig.suptitle(f"how deep the alignment goes: {MODELS}, held-out harmful instructions (seed {res.config['seed']})",
                 fontsize=9)
    fig.tight_layout()
    return fig


def fig_prefill(res: Result) -> plt.Figure:
    """Left: ASR against the number of prefilled harmful tokens per model. Middle: ASR of one sample at the
    default decoding against the decoding-parameter attack (any sample of the grid harmful). Right: the recovery
    ablation, mean ASR over prefills > 0 of each retrained augmented model."""
    s = res.summary
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(13.0, 4.0), gridspec_kw={"width_ratios": [1.3, 1.0, 1.0]})
    c = palette(STAGES)
    for name, curve in s.asr.items():
        m = sorted(curve, key=int)
        ax.plot([int(k) for k in m], [curve[k] for k in m], "o-", color=c.get(name, "black"), label=name)
    ax.set_xticks(sorted({int(m) for curve in s.asr.values() for m in curve}))
    ax.set(xlabel="prefilled harmful tokens m", ylabel="attack success rate (ASR)", ylim=(-0.02, 1.02),
           title=f"prefilling attack (T = {res.config['temperature']:g}, top-p {res.config['top_p']:g})")
    ax.legend(fontsize=7)
    names = list(s.decoding_attack)
    x = np.arange(len(names))
    bx.bar(x - 0.2, [s.default_asr[n] for n in names], 0.4, color="lightgray", edgecolor="black",
           label="default decoding")
    bx.bar(x + 0.2, [s.decoding_attack[n] for n in names], 0.4, color=[c.get(n, "black") for n in names],
           label="decoding attack (worst of grid)")
    bx.set_xticks(x, names)
    bx.set(ylabel="ASR (no prefill)", ylim=(0, 1.02), title="decoding-parameter attack")
    bx.legend(fontsize=7)
    if s.ablation:
        keys = list(s.ablation)
        x = np.arange(len(keys))
        heights = [s.ablation[k].mean_asr for k in keys]
        cx.bar(x, heights, 0.6, color=colors(len(keys)))
        for i, k in enumerate(keys):
            cx.annotate(f"benign acc {s.ablation[k].benign_accuracy:.2f}", (i, heights[i]), ha="center",
                        va="bottom", rotation=90, fontsize=6.5, xytext=(0, 3), textcoords="offset points")
        cx.set_xlim(-0.5 - 0.5 * (len(keys) < 3), len(keys) - 0.5 + 0.5 * (len(keys) < 3))
        if "augmented" in s.asr:
            later = [v for m, v in s.asr["augmented"].items() if int(m) > 0]
            if later:
                cx.axhline(float(np.mean(later)), color=c["augmented"], ls="--", lw=1,
                           label="augmented (preset p, C)")
                cx.legend(fontsize=7)
        cx.set_xticks(x, [k.replace(",", "\n") for k in keys], fontsize=7)
        cx.set(ylabel="mean ASR over prefills m > 0", ylim=(0, 1.02),
               title="recovery ablation: retrained with p, C")
    else:
        no_data(cx, "no recovery ablation in this preset")
        cx.set_title("recovery ablation")
    fig.suptitle(f"inference-time attacks on {MODELS}, held-out harmful instructions (seed {res.config['seed']})",
                 fontsize=9)
    fig.tight_layout()
    return fig


def fig_finetune_attack(res: Result) -> plt.Figure:
    """Left: ASR against fine-tuning step on the harmful set per objective (symlog steps). Middle: new-task
    accuracy against final ASR after fine-tuning on the benign set, per objective. Right: probability of the next
    harmful token by answer position after the harmful fine-tuning, per objective, with the starting model."""
    s = res.summary
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14.0, 4.2))
    objectives = list(dict.fromkeys(o for runs in s.runs.values() for o in runs))
    c = palette(objectives)
    start = res.config["start"]
    harmful = s.runs.get("harmful", {})
    for name, run in harmful.items():
        ax.plot(run.steps, run.asr, "o-", color=c[name], label=name)
    if harmful:
        ax.set_xscale("symlog", linthresh=1.0)
        ticks = sorted({int(k) for run in harmful.values() for k in run.steps})
        ax.set_xticks(ticks, [str(k) for k in ticks], fontsize=7)
        ax.set(xlabel="fine-tuning step (symlog)", ylabel="ASR (no prefill)", ylim=(-0.02, 1.02))
        ax.legend(fontsize=7)
    else:
        no_data(ax, "no harmful fine-tuning in this run")
    ax.set_title("harmful fine-tuning attack")
    benign = s.runs.get("benign", {})
    bx.scatter([s.initial_asr], [s.initial_new_task_accuracy], marker="*", s=120, color="black",
               label=f"{start} (before)", zorder=3)
    for name, run in benign.items():
        bx.scatter([run.final_asr], [run.new_task_accuracy], s=45, color=c[name], label=name, zorder=3)
    bx.set(xlabel="ASR after fine-tuning", ylabel="new-task accuracy (greedy)", xlim=(-0.05, 1.05),
           ylim=(-0.05, 1.05), title="benign fine-tuning: utility vs safety")
    bx.legend(fontsize=7)
    if harmful:
        n = len(s.initial_harmful_token_prob)
        cx.plot(np.arange(n), s.initial_harmful_token_prob, "k--", lw=1, label=f"{start} (before)")
        for name, run in harmful.items():
            cx.plot(np.arange(len(run.harmful_token_prob)), run.harmful_token_prob, "o-", ms=3, color=c[name],
                    label=name)
        position_ticks(cx, n)
        cx.set(xlabel="answer position k", ylabel="P(next harmful token | harmful answer so far)",
               ylim=(-0.02, 1.02))
        cx.legend(fontsize=7)
    else:
        no_data(cx, "no harmful fine-tuning in this run")
    cx.set_title("after harmful fine-tuning, by position")
    fig.suptitle(f"fine-tuning the {start} model ({MODELS}, {res.config['steps']} steps, seed "
                 f"{res.config['seed']}): SFT against the token-wise constrained objective", fontsize=9)
    fig.tight_layout()
    return fig


def fig_tabular(res: Result) -> plt.Figure:
    """Left: exact prefill ASR per tabular model with the Monte-Carlo check of the shallow one. Middle: KL(model
    || base) per position along the harmful answer. Right: harmful probability per position after the T2.4
    fine-tuning attack per objective (log scale), with the aligned start."""
    s = res.summary
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14.0, 4.2))
    c = palette(s.asr)
    for name, curve in s.asr.items():
        ax.plot(s.prefills, curve, "o-", color=c[name], label=TABULAR_LABELS.get(name, name))
    ax.errorbar(s.prefills, s.mc_asr, yerr=2 * np.asarray(s.mc_se), fmt="x", color="red", ms=5, capsize=2,
                label="shallow, Monte Carlo (+-2 s.e.)")
    ax.set(xlabel="prefilled harmful tokens m", ylabel="exact ASR", ylim=(-0.02, 1.02),
           title="prefilling attack (exact)")
    ax.legend(fontsize=7)
    for name, profile in s.kl.items():
        bx.plot(np.arange(1, len(profile) + 1), profile, "o-", ms=3, color=c.get(name, "black"),
                label=TABULAR_LABELS.get(name, name))
    bx.set(xlabel="answer position t", ylabel="KL(model || base) (nats)",
           title="KL along the harmful answer")
    bx.legend(fontsize=7)
    pos = np.arange(1, len(s.attack_pi0) + 1)
    cx.plot(pos, s.attack_pi0, "k--", lw=1, label="aligned start pi0")
    oc = palette(s.attack)
    for name, probs in s.attack.items():
        cx.plot(pos, probs, "o-", ms=3, color=oc[name],
                label=f"{name} (benign task {s.benign[name]:.2f})")
    cx.set_yscale("log")
    cx.set(xlabel="answer position t", ylabel="P(harmful token) after the attack",
           title=f"fine-tuning attack (T2.4), {res.config['attack_steps']} steps")
    cx.legend(fontsize=7)
    fig.suptitle(f"exact tabular chat world (length {res.config['length']}, p_harm "
                 f"{s.p_harm:.3f}, persist {s.persist:.3f}, seed {res.config['seed']})", fontsize=9)
    fig.tight_layout()
    return fig


_DRAW = {"depth": ("safety_depth.png", fig_depth), "prefill": ("safety_prefill.png", fig_prefill),
         "finetune_attack": ("safety_finetune_attack.png", fig_finetune_attack),
         "tabular": ("safety_tabular.png", fig_tabular)}


def draw_result(experiment: str, res: Result, out_dir: Path) -> list[Path]:
    """The figure of one experiment's result, written under out_dir."""
    if experiment not in _DRAW:
        raise ValueError(f"unknown safety experiment {experiment!r}.")
    name, fn = _DRAW[experiment]
    return [save(fn(res), Path(out_dir) / name)]


_CAPTIONS = {
    "safety_depth.png": "Per-token KL(aligned || base) and KL(augmented || base) along harmful answers (log scale; "
                        "the first positions shaded), and each model's probability of continuing the harmful "
                        "answer (tiny chat models; Qi et al. Fig. 1 and Fig. 4 analogues).",
    "safety_prefill.png": "Attack success against the number of prefilled harmful tokens for the base, aligned and "
                          "augmented models, the decoding-parameter attack, and the recovery ablation over p and C "
                          "(tiny chat models; Fig. 2, Table 3 and Tables 6-7 analogues).",
    "safety_finetune_attack.png": "ASR along harmful fine-tuning per objective, new-task accuracy against ASR after "
                                  "benign fine-tuning, and the harmful-token probability by position after the "
                                  "attack (tiny chat models; Fig. 3 and Table 8 analogues).",
    "safety_tabular.png": "The exact tabular world: prefill ASR per model with a Monte-Carlo check, KL from the "
                          "base along the harmful answer, and the harmful probability per position after the "
                          "fine-tuning attack per objective (toy models T2.1, T2.2, T2.4).",
}


def make_all(preset: str, cache: Path | None, out_dir: Path, seed: int = 0) -> list[Path]:
    """Run (or load from the cache) every safety experiment at `preset` and draw all figures."""
    return draw_experiments(BY_NAME, draw_result, preset, cache, out_dir, seed)


def report_figures(ctx, out_dir: Path) -> list[tuple[str, Path]]:
    """Figures for the paper-check report, from the first seed's cached results."""
    return captioned(make_all(ctx.preset, ctx.cache, out_dir, seed=ctx.seeds[0]), _CAPTIONS)
