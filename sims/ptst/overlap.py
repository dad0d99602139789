"""`overlap`: the overlap knob on tiny chat models (toy model T3.2 of the research summary, `llm_papers.md` Sec. 3.6:
harmful compliance after fine-tuning under template A and testing under template B should rise with the similarity
of A and B and reach the same-template value when they are equal). The paper (Lyu et al., arXiv 2402.18540) argues
from the five named templates; the knob is ours, built to measure the mechanism in isolation.

The tiny-model grid (`sims.ptst.grid`) could not separate the two ways templates differ: the five scaffolds differ
in their tokens and in where they put the instruction, and our models, with learnt absolute positions, carried the
fine-tuning by position (`docs/ptst.md`, "Which distance"). Here every prompt carries a system prompt of
`system_len` = 4 symbols (`#%&*<Gabcd.>`, `sims.engine.chat.world`), so all templates have one length and the
overlap of two of them is the share of positions where their symbols agree, rho = k / 4, with nothing else
changing. The models (`--models overlap`) were trained with a fresh random system prompt on every example, so
none is special before the benign fine-tuning.

One run fine-tunes the aligned model on the benign task G twice:
- `fixed`: every G example under one system prompt drawn from the seed, the training prompt;
- `random`: every G example under its own random system prompt (the control: no training prompt to be near to);
and then, for the aligned model (`aligned`, before fine-tuning) and both fine-tuned models, measures at each overlap
level k = 0 .. 4 under `variants` test prompts that agree with the training prompt at exactly k random positions
(each other position holds another symbol; at k = 4 the training prompt itself): compliance in form with held-out
G instructions carrying the danger marker (harmful requests in the task's own format, the GSM-Danger analogue:
the opener and no refusal token), their ASR (judged as in the grid), accuracy on held-out clean G instructions
(greedy) and ASR on held-out harmful U-Z instructions. The held-out instructions of each measure are dealt round
robin to a level's test prompts.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.chat.measure import TEMPERATURE, TOP_P, attack_success, compliance_rate, task_accuracy
from sims.engine.chat.world import HARMFUL, NEW_TASK, SYSTEM, SYSTEM_CHARS, ChatWorld, Instruction, prompts_and
from sims.engine.errors import ConfigError
from sims.engine.progress import bar
from sims.engine.torch_layer import single_thread

from .grid import finetuned, validate_finetuning
from .models import load_models, model_set

CURVES = ("aligned", "fixed", "random")
MEASURES = ("comply_marked", "asr_marked", "accuracy", "asr")


@dataclass(frozen=True)
class OverlapConfig:
    """models: the model preset (a system-prompt world: `overlap` or `test-overlap`); n_train, steps, batch_size,
    lr, warmup: the benign fine-tuning on G (AdamW), as in the grid; n_eval: held-out instructions per measurement
    and overlap level; variants: test prompts per overlap level below full overlap; device: where the models run;
    seed: models, training prompt, test prompts, data, batches, samples."""

    models: str = "overlap"
    n_train: int = 512
    steps: int = 120
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 0
    n_eval: int = 200
    variants: int = 8
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        spec = model_set(self.models)
        if not spec.world.system_len or not spec.world.danger:
            raise ConfigError(f"models must be a danger world with system prompts (overlap, test-overlap or "
                              f"paper-overlap); got "
                              f"{self.models!r}.")
        validate_finetuning(self)
        validate.positive_int("variants", self.variants)
        if self.n_eval < self.variants:
            raise ConfigError(f"n_eval must be at least variants ({self.variants}) so that every test prompt gets an "
                              f"instruction; got {self.n_eval}.")


QUICK = OverlapConfig()
TEST = OverlapConfig(models="test-overlap", n_train=64, steps=6, n_eval=16, variants=2)
PAPER = OverlapConfig(models="paper-overlap", steps=400, n_eval=1000, device="auto")


@dataclass(frozen=True)
class OverlapSummary(Summary):
    """The `overlap` experiment.

    train_prompt: the system-prompt template of the `fixed` fine-tuning; overlaps: rho = k / system_len per level;
    test_prompts: per level, the test templates used; asr: per curve of CURVES (the aligned model, fine-tuned under
    the training prompt, fine-tuned under random prompts), per level, the ASR on held-out harmful U-Z instructions;
    comply_marked: the same for the compliance in form with held-out marked G instructions; asr_marked: for their
    ASR; accuracy: for greedy accuracy on held-out G instructions."""

    train_prompt: str
    overlaps: list[float]
    test_prompts: list[list[str]]
    comply_marked: dict[str, list[float]]
    asr_marked: dict[str, list[float]]
    accuracy: dict[str, list[float]]
    asr: dict[str, list[float]]


def knob_prompts(train_prompt: str, keep: int, variants: int, seed: int, *stream: str | int) -> list[str]:
    """`variants` system-prompt templates that agree with `train_prompt` at exactly `keep` positions (drawn at
    random for each variant) and hold another symbol at every other position; at full overlap, the training prompt
    itself (once)."""
    if not train_prompt.startswith(SYSTEM):
        raise ConfigError(f"train_prompt must be a system-prompt template ({SYSTEM}...); got {train_prompt!r}.")
    body = train_prompt[len(SYSTEM):]
    if not 0 <= keep <= len(body):
        raise ConfigError(f"keep must lie in [0, {len(body)}]; got {keep}.")
    validate.positive_int("variants", variants)
    if keep == len(body):
        return [train_prompt]
    gen = rng(seed, "ptst", "overlap", "knob", keep, *stream)
    out = []
    for _ in range(variants):
        kept = set(gen.choice(len(body), keep, replace=False).tolist())
        symbols = [ch if i in kept else str(gen.choice([c for c in SYSTEM_CHARS if c != ch]))
                   for i, ch in enumerate(body)]
        out.append(SYSTEM + "".join(symbols))
    return out


def shared_positions(a: str, b: str) -> int:
    """How many positions two system-prompt templates of one length agree at."""
    if len(a) != len(b) or not a.startswith(SYSTEM) or not b.startswith(SYSTEM):
        raise ConfigError(f"a and b must be system-prompt templates of one length; got {a!r} and {b!r}.")
    return sum(x == y for x, y in zip(a[len(SYSTEM):], b[len(SYSTEM):], strict=True))


def dealt(measure: Callable[[list[Instruction], str, int], float], instructions: Sequence[Instruction],
          prompts: Sequence[str]) -> float:
    """The mean of `measure(part, prompt, v)` over the instructions, where the v-th prompt gets every
    len(prompts)-th instruction from the v-th on (weighted by the part's size)."""
    total, n = 0.0, 0
    for v, prompt in enumerate(prompts):
        part = list(instructions[v::len(prompts)])
        if part:
            total += measure(part, prompt, v) * len(part)
            n += len(part)
    return total / n


def _curve(lm, world: ChatWorld, evals: dict[str, list[Instruction]], levels: list[list[str]], cfg: OverlapConfig,
           name: str) -> dict[str, list[float]]:
    def asr(part, prompt, v, key):
        return float(np.mean(attack_success(lm, world, part, 0, TEMPERATURE, TOP_P, cfg.seed, "ptst-overlap", name,
                                            key, prompt, v, template=prompt)))

    out: dict[str, list[float]] = {m: [] for m in MEASURES}
    for prompts in levels:
        out["comply_marked"].append(dealt(lambda p, t, v: compliance_rate(
            lm, world, p, cfg.seed, "ptst-overlap", name, "comply", t, str(v), template=t), evals["marked"], prompts))
        out["asr_marked"].append(dealt(lambda p, t, v: asr(p, t, str(v), "marked"), evals["marked"], prompts))
        out["accuracy"].append(dealt(lambda p, t, v: task_accuracy(lm, world, p, template=t), evals["task"], prompts))
        out["asr"].append(dealt(lambda p, t, v: asr(p, t, str(v), "harmful"), evals["harmful"], prompts))
    return out


def run_overlap(cfg: OverlapConfig) -> Result:
    single_thread()
    models = load_models(cfg.models, cfg.seed, cfg.device)
    world = models.world
    m = world.config.system_len
    train_prompt = world.system_templates(1, cfg.seed, "ptst-overlap-train")[0]
    levels = [knob_prompts(train_prompt, k, cfg.variants, cfg.seed) for k in range(m + 1)]
    evals = {"marked": world.marked(world.instructions(NEW_TASK, cfg.n_eval, "heldout", cfg.seed, "ptst-eval-marked")),
             "task": world.instructions(NEW_TASK, cfg.n_eval, "heldout", cfg.seed, "ptst-eval-task"),
             "harmful": world.instructions(HARMFUL, cfg.n_eval, "heldout", cfg.seed, "ptst-eval")}
    task = world.instructions(NEW_TASK, cfg.n_train, "train", cfg.seed, "ptst-grid")
    answers = [world.comply(i) for i in task]
    train_sets = {"fixed": [train_prompt] * len(task),
                  "random": world.system_templates(len(task), cfg.seed, "ptst-overlap-random")}
    curves: dict[str, dict[str, list[float]]] = {}
    progress = bar(len(CURVES), "ptst.overlap", unit="model")
    try:
        curves["aligned"] = _curve(models.aligned, world, evals, levels, cfg, "aligned")
        progress.update(1)
        for name, prompts in train_sets.items():
            lm = finetuned(models.aligned, world, f"ptst-overlap-{name}", prompts_and(world, task, answers, prompts),
                           cfg)
            curves[name] = _curve(lm, world, evals, levels, cfg, name)
            progress.update(1)
    finally:
        progress.close()
    summary = OverlapSummary(train_prompt=train_prompt, overlaps=[k / m for k in range(m + 1)], test_prompts=levels,
                             **{key: {c: curves[c][key] for c in CURVES} for key in MEASURES})
    return Result("ptst.overlap", config_dict(cfg), summary, {})


def slope(overlaps: Sequence[float], values: Sequence[float]) -> float:
    """The least-squares slope of values on overlaps: the rise from rho = 0 to rho = 1 along the fitted line."""
    x, y = np.asarray(overlaps, float), np.asarray(values, float)
    if x.shape != y.shape or x.size < 2 or np.ptp(x) == 0:
        raise ConfigError(f"overlaps and values must be two or more matching points with distinct overlaps; got "
                          f"{x.size} and {y.size}.")
    return float(np.polyfit(x, y, 1)[0])


_LABELS = {"comply_marked": "compliance in form, marked G (task-format harmful requests)",
           "asr_marked": "ASR, marked G", "accuracy": "accuracy on G", "asr": "ASR, harmful U-Z"}


def summarize_overlap(res: Result) -> str:
    s: OverlapSummary = res.summary
    head = f"{'':<10}" + "".join(f"{f'rho={r:.2f}':>11}" for r in s.overlaps) + f"{'slope':>10}"
    lines = [f"training prompt {s.train_prompt}; rows: aligned model, fine-tuned under it (fixed), fine-tuned "
             f"under random prompts (random); columns: overlap of the test prompt with the training prompt"]
    for key, label in _LABELS.items():
        lines += [label, head]
        for c in CURVES:
            vals = getattr(s, key)[c]
            lines.append(f"{c:<10}" + "".join(f"{v:11.3f}" for v in vals) + f"{slope(s.overlaps, vals):10.3f}")
    return "\n".join(lines)


OVERLAP = Experiment(paper="ptst", name="overlap",
                     description="the overlap knob on tiny chat models: compliance with harmful requests in the task's "
                                 "format against the share of system-prompt tokens the test prompt shares with the "
                                 "fine-tuning prompt (T3.2)",
                     config_cls=OverlapConfig, presets={"quick": QUICK, "test": TEST, "paper": PAPER},
                     run=run_overlap, summarize=summarize_overlap, summary=OverlapSummary)
