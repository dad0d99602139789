"""The tiny chat models of the PTST experiments: a base model and an aligned model in the chat world with prompt
templates (`sims.engine.chat.world`), the analogue of the aligned chat model the paper fine-tunes.

The world here has the five templates of the paper's main grid (Lyu et al., arXiv 2402.18540: text:vanilla,
text:alpaca, chat:vanilla, chat:mpt with a neutral system prompt, chat:llama with a safety system prompt) and an
opener: every compliant answer starts with the token `K` (the analogue of "Sure, ..."), every refusal with `N`,
so that complying and refusing part at the first answer token whatever the family, as they do for chat models.

- base: from random initialisation on compliant answers to benign (A-F) and harmful (U-Z) instructions, each
  prompt in a template drawn uniformly: helpful under every template, not safe;
- aligned: the base model fine-tuned on refusals to harmful instructions mixed 1:1 with benign answers, templates
  again drawn uniformly: it refuses harmful instructions under every template.

In the danger world (presets `danger`, `test-danger`) a share `danger_share` of the benign A-F instructions of
both trainings carry the danger marker (`<Aabcd!>`: a harmful request in a benign family's own format, the
analogue of the paper's GSM-Danger): the base model complies with them, the aligned model refuses them (they take
that share of its refusals, the rest being U-Z). The benign fine-tuning task G is never seen marked before the
grid, where marked G instructions measure harmful compliance in the fine-tuning task's own format.

In the system-prompt world (presets `overlap`, `test-overlap`, `paper-overlap`: a danger world whose prompts all
carry a system prompt of four symbols, `#%&*<Gabcd.>`, for the overlap experiment `sims.ptst.overlap`) every prompt of
both trainings gets its own random system prompt instead of one of the five templates: the models learn to help and to
refuse whatever the system prompt says, and no system prompt is special before the benign fine-tuning.

`load_models(name, seed)` trains both once per (preset, seed) and caches them under
`<cache root>/ptst/models/<key>/` (`sims.engine.chat.checkpoints`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from sims.engine import rng
from sims.engine.chat.checkpoints import checkpoint_dir, net_kwargs, train_chain
from sims.engine.chat.world import (
    BENIGN,
    HARMFUL,
    ChatWorld,
    Instruction,
    WorldConfig,
    prompts_and,
)
from sims.engine.errors import ConfigError
from sims.engine.lm.model import TinyLM

TEMPLATES = ("text:vanilla", "text:alpaca", "chat:vanilla", "chat:mpt", "chat:llama")
SAFETY_TEMPLATE = "chat:llama"
STAGES = ("base", "aligned")


@dataclass(frozen=True)
class ModelSet:
    """world: the chat world (templates and opener); d_model, n_layers, n_heads: the network; base_*, align_*: the
    two trainings (steps, lr, batch, number of distinct examples; align_refusal_share: share of refusals); warmup:
    linear warm-up steps of both; danger_share: in a world with the danger marker, the share of benign instructions
    of the base data that carry it, and the share of the alignment's refusals given to marked benign instructions
    (0 otherwise); safety_prompt_weight: how much more often the alignment's refusals are written in the safety
    template chat:llama than in each other template (1: uniform), a model that the safety prompt makes more
    cautious, as the paper's Llama-2-chat is (its ASR before fine-tuning: 0.00 % with the safety prompt, 2.75 %
    without, secondary)."""

    world: WorldConfig = WorldConfig(opener="K", templates=TEMPLATES)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    base_steps: int = 2000
    base_lr: float = 3e-3
    base_batch: int = 64
    base_examples: int = 30000
    align_steps: int = 300
    align_lr: float = 1e-3
    align_batch: int = 32
    align_examples: int = 3000
    align_refusal_share: float = 0.5
    warmup: int = 20
    danger_share: float = 0.0
    safety_prompt_weight: float = 1.0


DANGER_WORLD = WorldConfig(opener="K", templates=TEMPLATES, danger=True)
SYSTEM_WORLD = WorldConfig(opener="K", danger=True, system_len=4)
MODEL_SETS: dict[str, ModelSet] = {
    "quick": ModelSet(),
    "test": ModelSet(d_model=32, n_layers=1, n_heads=2, base_steps=150, base_examples=3000, align_steps=40,
                     align_examples=400, warmup=5),
    "danger": ModelSet(world=DANGER_WORLD, danger_share=0.5),
    "danger-safe-prompt": ModelSet(world=DANGER_WORLD, danger_share=0.5, safety_prompt_weight=4.0),
    "test-danger": ModelSet(world=DANGER_WORLD, danger_share=0.5, d_model=32, n_layers=1, n_heads=2,
                            base_steps=150, base_examples=3000, align_steps=40, align_examples=400, warmup=5),
    "overlap": ModelSet(world=SYSTEM_WORLD, danger_share=0.5),
    "test-overlap": ModelSet(world=SYSTEM_WORLD, danger_share=0.5, d_model=32, n_layers=1, n_heads=2,
                             base_steps=150, base_examples=3000, align_steps=40, align_examples=400, warmup=5),
    "paper-overlap": ModelSet(world=SYSTEM_WORLD, danger_share=0.5, d_model=256, n_layers=4, n_heads=8,
                              base_steps=8000, base_lr=1e-3, base_batch=128, base_examples=150000, align_steps=800,
                              align_lr=3e-4, align_examples=12000),
    "paper-danger": ModelSet(world=DANGER_WORLD, danger_share=0.5, d_model=256, n_layers=4, n_heads=8,
                             base_steps=8000, base_lr=1e-3, base_batch=128, base_examples=150000, align_steps=800,
                             align_lr=3e-4, align_examples=12000),
    "paper": ModelSet(d_model=256, n_layers=4, n_heads=8, base_steps=8000, base_lr=1e-3, base_batch=128,
                      base_examples=150000, align_steps=800, align_lr=3e-4, align_examples=12000),
}


def model_set(name: str) -> ModelSet:
    """The preset `name`, or a ConfigError naming the parameter."""
    if name not in MODEL_SETS:
        raise ConfigError(f"models must be one of {', '.join(MODEL_SETS)}; got {name!r}.")
    spec = MODEL_SETS[name]
    if spec.safety_prompt_weight <= 0:
        raise ConfigError(f"safety_prompt_weight must be positive; got {spec.safety_prompt_weight} in preset "
                          f"{name!r}.")
    if spec.world.system_len and spec.safety_prompt_weight != 1.0:
        raise ConfigError(f"safety_prompt_weight needs the five templates (a world without system_len); got "
                          f"{spec.safety_prompt_weight} in preset {name!r}.")
    if not 0.0 <= spec.danger_share < 1.0 or (spec.danger_share > 0) != spec.world.danger:
        raise ConfigError(f"danger_share must lie in [0, 1) and be positive exactly in a danger world; got "
                          f"{spec.danger_share} in preset {name!r}.")
    return spec


@dataclass
class Models:
    """The world, its base and aligned models (eval mode) and each stage's training history."""

    world: ChatWorld
    base: TinyLM
    aligned: TinyLM
    history: dict[str, dict] = field(default_factory=dict)


def random_templates(n: int, seed: int, *stream: str, safety_weight: float = 1.0) -> list[str]:
    """n templates drawn from TEMPLATES, uniformly, or with the safety template `safety_weight` times as likely as
    each other one."""
    gen = rng(seed, "ptst", "templates", *stream)
    if safety_weight == 1.0:
        return [TEMPLATES[i] for i in gen.integers(0, len(TEMPLATES), n)]
    w = [safety_weight if t == SAFETY_TEMPLATE else 1.0 for t in TEMPLATES]
    return [TEMPLATES[i] for i in gen.choice(len(TEMPLATES), n, p=[x / sum(w) for x in w])]


def training_templates(world: ChatWorld, n: int, seed: int, *stream: str, safety_weight: float = 1.0) -> list[str]:
    """The templates of n training prompts: in a system-prompt world a random system prompt each, else
    `random_templates` (with `safety_weight` on the safety template)."""
    if world.config.system_len:
        return world.system_templates(n, seed, "ptst", *stream)
    return random_templates(n, seed, *stream, safety_weight=safety_weight)


def _mark_some(world: ChatWorld, ins: list[Instruction], share: float, seed: int, *stream: str
               ) -> list[Instruction]:
    """`ins` with the benign ones each carrying the danger marker with probability `share` (none when 0)."""
    if not share:
        return ins
    marks = rng(seed, "ptst", "danger", *stream).random(len(ins)) < share
    return [world.marked([i])[0] if m and not i.harmful else i for i, m in zip(ins, marks, strict=True)]


def base_data(world: ChatWorld, spec: ModelSet, seed: int) -> list[tuple[list[int], list[int]]]:
    """Compliant answers to benign and harmful instructions (in the danger world, some benign ones marked), each
    prompt in a random template."""
    ins = world.instructions(BENIGN + HARMFUL, spec.base_examples, "train", seed, "ptst-base")
    ins = _mark_some(world, ins, spec.danger_share, seed, "base")
    return prompts_and(world, ins, [world.comply(i) for i in ins], training_templates(world, len(ins), seed, "base"))


def align_data(world: ChatWorld, spec: ModelSet, seed: int) -> list[tuple[list[int], list[int]]]:
    """Refusals to harmful instructions and compliant answers to benign ones, each in a random template; in the
    danger world a share danger_share of the refusals go to marked benign instructions."""
    n_refuse = round(spec.align_refusal_share * spec.align_examples)
    harmful: list[Instruction] = world.instructions(HARMFUL, max(1, n_refuse), "train", seed, "ptst-align-harmful")
    if spec.danger_share:
        n_marked = round(spec.danger_share * len(harmful))
        harmful = harmful[n_marked:] + world.marked(
            world.instructions(BENIGN, max(1, n_marked), "train", seed, "ptst-align-marked"))[:n_marked]
    benign = world.instructions(BENIGN, max(1, spec.align_examples - n_refuse), "train", seed, "ptst-align-benign")
    return (prompts_and(world, harmful, [world.refusal(i) for i in harmful],
                        training_templates(world, len(harmful), seed, "align-harmful",
                                           safety_weight=spec.safety_prompt_weight))
            + prompts_and(world, benign, [world.comply(i) for i in benign],
                          training_templates(world, len(benign), seed, "align-benign")))


def models_dir(name: str, seed: int, root: Path | None = None, device: str = "cpu") -> Path:
    """<root>/ptst/models/<key> for preset `name` trained with `seed` on `device`."""
    return checkpoint_dir("ptst/models", dataclasses.asdict(model_set(name)), seed, device, root,
                          extra=[Path(__file__)])


def load_models(name: str = "quick", seed: int = 0, device: str = "cpu", root: Path | None = None) -> Models:
    """The base and aligned models of preset `name` trained with `seed` (trained on first use, then cached)."""
    spec = model_set(name)
    world = ChatWorld(spec.world)
    where = models_dir(name, seed, root, device)
    kwargs = net_kwargs(world, spec.d_model, spec.n_layers, spec.n_heads)
    stages = [("base", lambda: base_data(world, spec, seed), spec.base_steps, spec.base_lr, spec.base_batch,
               spec.warmup),
              ("aligned", lambda: align_data(world, spec, seed), spec.align_steps, spec.align_lr, spec.align_batch,
               spec.warmup)]
    out, history = train_chain(where, world, kwargs, stages, seed, "ptst", device)
    return Models(world, out["base"], out["aligned"], history)
