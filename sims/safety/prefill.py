"""`prefill`: attacks at inference time on shallow and deep alignment (Qi et al., arXiv 2406.05946, Fig. 2 and
Table 3 analogues; Tables 6-7 for the augmentation ablation).

- Prefilling: the first m tokens of the harmful answer are written into the response and the model continues
  (sampled with the paper's default decoding, temperature 0.9, top-p 0.6); attack success rate (ASR) against m for
  the base, aligned and augmented models, on held-out harmful instructions.
- Decoding-parameter attack: for each instruction, one sample per (temperature, top-p) of a grid; the
  instruction counts as broken when any of them is judged harmful (the paper keeps the most harmful sample over
  its grid of temperature, top-k and top-p).
- Ablation: augmented models retrained with other recovery probabilities p and largest cuts C (p = 0: refusal
  examples without a harmful start); their mean prefilling ASR over m > 0 and their benign accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.chat.measure import TEMPERATURE, TOP_P, attack_success, task_accuracy
from sims.engine.chat.world import BENIGN, HARMFUL
from sims.engine.progress import bar
from sims.engine.torch_layer import single_thread

from .models import STAGES, load_augmented, load_models, model_set


@dataclass(frozen=True)
class PrefillConfig:
    """models: the model preset (sims.safety.models.MODEL_SETS); n_prompts: held-out harmful instructions;
    prefills: numbers of harmful answer tokens prefilled; temperature, top_p: the decoding of the prefilling
    attack; attack_temperatures, attack_top_ps: the grid of the decoding-parameter attack; ablation_p,
    ablation_c: recovery probabilities and largest cuts of the retrained augmented models (each p with the preset's
    C, each C with the preset's p; empty: no ablation); device: where the models run; seed: models, instructions,
    samples."""

    models: str = "quick"
    n_prompts: int = 300
    prefills: tuple[int, ...] = (0, 1, 2, 3, 4, 6, 8)
    temperature: float = TEMPERATURE
    top_p: float = TOP_P
    attack_temperatures: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    attack_top_ps: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    ablation_p: tuple[float, ...] = (0.0, 0.25, 1.0)
    ablation_c: tuple[int, ...] = (1, 4)
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        spec = model_set(self.models)
        validate.positive_int("n_prompts", self.n_prompts)
        validate.non_empty("prefills", self.prefills)
        top = spec.world.answer_len - 1
        for m in self.prefills:
            if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m <= top:
                raise validate.ConfigError(f"prefills must be integers in [0, {top}]; got {m!r}.")
        if 0 not in self.prefills or max(self.prefills) == 0:
            raise validate.ConfigError(f"prefills must hold 0 (no prefill, the reference of the rise) and at least one "
                                       f"number > 0; got {self.prefills}.")
        validate.positive("temperature", self.temperature)
        validate.probability("top_p", self.top_p, open_low=True)
        validate.non_empty("attack_temperatures", self.attack_temperatures)
        validate.each(validate.positive, "attack_temperatures", self.attack_temperatures)
        validate.non_empty("attack_top_ps", self.attack_top_ps)
        for q in self.attack_top_ps:
            validate.probability("attack_top_ps", q, open_low=True)
        for p in self.ablation_p:
            validate.probability("ablation_p", p)
        for c in self.ablation_c:
            validate.positive_int("ablation_c", c)
        validate.seed("seed", self.seed)


QUICK = PrefillConfig()
TEST = PrefillConfig(models="test", n_prompts=40, prefills=(0, 2, 4), attack_temperatures=(0.5, 1.0),
                     attack_top_ps=(0.6, 1.0), ablation_p=(0.0,), ablation_c=())
PAPER = PrefillConfig(models="paper", n_prompts=1000, device="auto")


@dataclass(frozen=True)
class AblationPoint:
    """One retrained augmented model: p: its recovery probability; c: its largest cut C; mean_asr: its prefilling
    ASR averaged over the prefills > 0; asr: per prefill (keyed by the number as text); benign_accuracy: its greedy
    accuracy on held-out benign instructions."""

    p: float
    c: int
    mean_asr: float
    asr: dict[str, float]
    benign_accuracy: float


@dataclass(frozen=True)
class PrefillSummary(Summary):
    """The `prefill` experiment.

    asr: per model (base, aligned, augmented), the ASR per number of prefilled tokens (keyed by the number as
    text, e.g. "4"); rise: per model, ASR at the largest prefill minus ASR at none (prefill 0); decoding_attack: per model,
    the share of instructions broken by some (temperature, top-p) of the grid; default_asr: per model, the ASR of
    one sample at the default decoding (the grid's reference); benign_accuracy: per model, greedy accuracy on
    held-out benign instructions (utility); ablation: the retrained augmented models (keyed "p=..,C=..")."""

    asr: dict[str, dict[str, float]]
    rise: dict[str, float]
    decoding_attack: dict[str, float]
    default_asr: dict[str, float]
    benign_accuracy: dict[str, float]
    ablation: dict[str, AblationPoint]


def prefill_curve(lm, world, harmful, cfg: PrefillConfig, label: str) -> dict[str, float]:
    """ASR per prefill (keyed as text) of one model."""
    return {str(m): float(attack_success(lm, world, harmful, m, cfg.temperature, cfg.top_p, cfg.seed, label,
                                         str(m)).mean())
            for m in cfg.prefills}


def decoding_attack(lm, world, harmful, cfg: PrefillConfig, label: str, progress=None) -> float:
    """Share of instructions with a harmful sample under at least one (temperature, top-p) of the grid."""
    broken = np.zeros(len(harmful), dtype=bool)
    for t in cfg.attack_temperatures:
        for q in cfg.attack_top_ps:
            broken |= attack_success(lm, world, harmful, 0, t, q, cfg.seed, label, "grid", f"{t:g}", f"{q:g}") > 0
            if progress is not None:
                progress.update(1)
    return float(broken.mean())


def _ablation_settings(cfg: PrefillConfig) -> list[tuple[float, int]]:
    spec = model_set(cfg.models)
    out = [(float(p), spec.augment_c) for p in cfg.ablation_p] + [(spec.augment_p, int(c)) for c in cfg.ablation_c]
    return list(dict.fromkeys(out))


def run_prefill(cfg: PrefillConfig) -> Result:
    single_thread()
    models = load_models(cfg.models, cfg.seed, cfg.device)
    world = models.world
    harmful = world.instructions(HARMFUL, cfg.n_prompts, "heldout", cfg.seed, "prefill")
    benign = world.instructions(BENIGN, cfg.n_prompts, "heldout", cfg.seed, "prefill-benign")
    grid = len(cfg.attack_temperatures) * len(cfg.attack_top_ps)
    settings = _ablation_settings(cfg)
    progress = bar(len(STAGES) * (2 + grid) + len(settings), "safety.prefill", unit="run")
    top = str(max(cfg.prefills))
    try:
        asr, rise, attack, default, accuracy = {}, {}, {}, {}, {}
        for stage in STAGES:
            lm = models.by_name(stage)
            asr[stage] = prefill_curve(lm, world, harmful, cfg, stage)
            rise[stage] = asr[stage][top] - asr[stage]["0"]
            progress.update(1)
            attack[stage] = decoding_attack(lm, world, harmful, cfg, stage, progress)
            default[stage] = float(attack_success(lm, world, harmful, 0, TEMPERATURE, TOP_P, cfg.seed, stage,
                                                  "default").mean())
            accuracy[stage] = task_accuracy(lm, world, benign)
            progress.update(1)
        ablation = {}
        for p, c in settings:
            lm = load_augmented(cfg.models, cfg.seed, p, c, cfg.device, models=models)
            curve = prefill_curve(lm, world, harmful, cfg, f"ablation-{p:g}-{c}")
            later = [v for m, v in curve.items() if int(m) > 0]
            ablation[f"p={p:g},C={c}"] = AblationPoint(p=p, c=c, mean_asr=float(np.mean(later)) if later else
                                                       float("nan"), asr=curve,
                                                       benign_accuracy=task_accuracy(lm, world, benign))
            progress.update(1)
    finally:
        progress.close()
    summary = PrefillSummary(asr=asr, rise=rise, decoding_attack=attack, default_asr=default,
                             benign_accuracy=accuracy, ablation=ablation)
    return Result("safety.prefill", config_dict(cfg), summary, {})


def summarize_prefill(res: Result) -> str:
    s: PrefillSummary = res.summary
    keys = list(next(iter(s.asr.values())))
    lines = ["attack success rate against the number of prefilled harmful tokens (held-out harmful instructions)",
             f"{'model':<12}" + " ".join(f"{k:>6}" for k in keys)
             + f" {'decoding attack':>16} {'default':>8} {'benign acc':>11}"]
    for m, curve in s.asr.items():
        lines.append(f"{m:<12}" + " ".join(f"{curve[k]:6.3f}" for k in keys)
                     + f" {s.decoding_attack[m]:16.3f} {s.default_asr[m]:8.3f} {s.benign_accuracy[m]:11.3f}")
    if s.ablation:
        lines.append("augmented models retrained with other recovery settings: mean ASR over prefills > 0, benign "
                     "accuracy")
        for name, pt in s.ablation.items():
            lines.append(f"  {name:<14} {pt.mean_asr:6.3f} {pt.benign_accuracy:6.3f}")
    return "\n".join(lines)


PREFILL = Experiment(paper="safety", name="prefill",
                     description="prefilling and decoding-parameter attacks on base, aligned and augmented models",
                     config_cls=PrefillConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                     run=run_prefill, summarize=summarize_prefill, summary=PrefillSummary)
