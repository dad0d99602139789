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
    linear warm-up steps of both."""

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


MODEL_SETS: dict[str, ModelSet] = {
    "quick": ModelSet(),
    "test": ModelSet(d_model=32, n_layers=1, n_heads=2, base_steps=150, base_examples=3000, align_steps=40,
                     align_examples=400, warmup=5),
    "paper": ModelSet(d_model=256, n_layers=4, n_heads=8, base_steps=8000, base_lr=1e-3, base_batch=128,
                      base_examples=150000, align_steps=800, align_lr=3e-4, align_examples=12000),
}


def model_set(name: str) -> ModelSet:
    """The preset `name`, or a ConfigError naming the parameter."""
    if name not in MODEL_SETS:
        raise ConfigError(f"models must be one of {', '.join(MODEL_SETS)}; got {name!r}.")
    return MODEL_SETS[name]


@dataclass
class Models:
    """The world, its base and aligned models (eval mode) and each stage's training history."""

    world: ChatWorld
    base: TinyLM
    aligned: TinyLM
    history: dict[str, dict] = field(default_factory=dict)


def random_templates(n: int, seed: int, *stream: str) -> list[str]:
    """n templates drawn uniformly from TEMPLATES."""
    gen = rng(seed, "ptst", "templates", *stream)
    return [TEMPLATES[i] for i in gen.integers(0, len(TEMPLATES), n)]


def base_data(world: ChatWorld, spec: ModelSet, seed: int) -> list[tuple[list[int], list[int]]]:
    """Compliant answers to benign and harmful instructions, each prompt in a random template."""
    ins = world.instructions(BENIGN + HARMFUL, spec.base_examples, "train", seed, "ptst-base")
    return prompts_and(world, ins, [world.comply(i) for i in ins], random_templates(len(ins), seed, "base"))


def align_data(world: ChatWorld, spec: ModelSet, seed: int) -> list[tuple[list[int], list[int]]]:
    """Refusals to harmful instructions and compliant answers to benign ones, each in a random template."""
    n_refuse = round(spec.align_refusal_share * spec.align_examples)
    harmful: list[Instruction] = world.instructions(HARMFUL, max(1, n_refuse), "train", seed, "ptst-align-harmful")
    benign = world.instructions(BENIGN, max(1, spec.align_examples - n_refuse), "train", seed, "ptst-align-benign")
    return (prompts_and(world, harmful, [world.refusal(i) for i in harmful],
                        random_templates(len(harmful), seed, "align-harmful"))
            + prompts_and(world, benign, [world.comply(i) for i in benign],
                          random_templates(len(benign), seed, "align-benign")))


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
