"""The tiny chat models of the safety experiments: a base model that complies with everything, an aligned model
made from it by supervised fine-tuning on refusals, and an augmented model made from the aligned one with
safety-recovery examples (Qi et al., arXiv 2406.05946, Sec. 3, Eq. 2).

All three are `TinyLM`s (the engine's `CausalTransformer` behind the decoding protocol) over the chat world's
characters (`sims.engine.chat.world`), trained with the engine's fine-tuning loop (`sims.engine.lm.finetune`, loss on
response tokens only):

- base: from random initialisation on compliant answers to benign (A-F) and harmful (U-Z) instructions with
  training arguments. Like SmolLM2-135M-Instruct as shipped, or the paper's base models asked in a chat format,
  it is helpful and not safe;
- aligned: the base model fine-tuned on harmful instructions answered by refusals, mixed with benign instructions
  answered as before (so it stays useful). This is how the paper's chat models were made safe, and the data never
  shows a harmful start followed by a refusal;
- augmented: the aligned model fine-tuned on Eq. 2: with weight alpha, recovery examples (x, h_<=k, r): the
  refusal r after the first k tokens of the harmful answer h, loss on r only, k = 0 with probability 1 - p and
  uniform on 1..min(C, |h|) otherwise (the official code's coin toss and cut); with weight 1 - alpha, benign
  instructions and their answers (the utility anchor; the paper distils these answers from the aligned model, here
  the world's answers, which the aligned model already gives). The weights are realised as the share of each kind
  of example in the training set.

A preset (`MODEL_SETS`) fixes the world, the network and the three trainings; `load_models(name, seed)` trains the
three once per (preset, seed) and keeps them in `<cache root>/safety/models/<key>/` (each stage written atomically,
loaded if present, so an interrupted run resumes at the stage it was in). The key hashes the preset, the seed and
the device kind, the torch version and the source this training depends on (this file, the world, the engine's
top-level modules and its language-model subpackage), so editing an experiment does not retrain the models.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from sims.engine import int_seed, rng
from sims.engine.chat.checkpoints import (
    as_lm,
    checkpoint_dir,
    load_lm,
    net_kwargs,
    save_lm,
    train_chain,
    train_full,
)
from sims.engine.chat.world import BENIGN, HARMFUL, ChatWorld, WorldConfig, prompts_and
from sims.engine.errors import ConfigError
from sims.engine.lm.model import TinyLM

STAGES = ("base", "aligned", "augmented")


@dataclass(frozen=True)
class ModelSet:
    """world: the chat world; d_model, n_layers, n_heads: the network (max_len from the world); base_*: the base
    model's training (steps, lr, batch, number of distinct training examples); align_*: the alignment fine-tuning
    (align_refusal_share: share of refusal examples, the rest benign); augment_*: the recovery fine-tuning
    (alpha: share of recovery examples, p: probability that k > 0, c: the largest cut C)."""

    world: WorldConfig = WorldConfig()
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    base_steps: int = 1500
    base_lr: float = 3e-3
    base_batch: int = 64
    base_examples: int = 20000
    align_steps: int = 200
    align_lr: float = 1e-3
    align_batch: int = 32
    align_examples: int = 2000
    align_refusal_share: float = 0.5
    augment_steps: int = 300
    augment_lr: float = 1e-3
    augment_batch: int = 40
    augment_examples: int = 4000
    augment_alpha: float = 0.2
    augment_p: float = 0.5
    augment_c: int = 12
    warmup: int = 20


MODEL_SETS: dict[str, ModelSet] = {
    # minutes on one core: two layers of width 64 (about 0.1 M parameters)
    "quick": ModelSet(),
    # seconds: the machinery, not the phenomena
    "test": ModelSet(d_model=32, n_layers=1, n_heads=2, base_steps=150, base_examples=3000, align_steps=40,
                     align_examples=400, augment_steps=40, augment_examples=400, warmup=5),
    # a GPU: four layers of width 256, longer trainings
    "paper": ModelSet(d_model=256, n_layers=4, n_heads=8, base_steps=6000, base_lr=1e-3, base_batch=128,
                      base_examples=100000, align_steps=600, align_lr=3e-4, align_examples=8000, augment_steps=1000,
                      augment_lr=3e-4, augment_examples=16000),
}


def model_set(name: str) -> ModelSet:
    """The preset `name`, or a ConfigError naming the parameter."""
    if name not in MODEL_SETS:
        raise ConfigError(f"models must be one of {', '.join(MODEL_SETS)}; got {name!r}.")
    return MODEL_SETS[name]


@dataclass
class Models:
    """The world and its three trained models (`TinyLM`s, in eval mode), with each stage's training losses and wall
    time (`history[stage]` = {"losses": [...], "wall_s": ...})."""

    world: ChatWorld
    base: TinyLM
    aligned: TinyLM
    augmented: TinyLM
    history: dict[str, dict] = field(default_factory=dict)

    def by_name(self, name: str) -> TinyLM:
        """The model called `name` (one of STAGES)."""
        if name not in STAGES:
            raise ConfigError(f"model must be one of {', '.join(STAGES)}; got {name!r}.")
        return getattr(self, name)


# ---- data of each stage ---------------------------------------------------------------------------------------
def base_data(world: ChatWorld, spec: ModelSet, seed: int) -> list[tuple[list[int], list[int]]]:
    """Compliant answers to benign and harmful instructions with training arguments."""
    ins = world.instructions(BENIGN + HARMFUL, spec.base_examples, "train", seed, "base")
    return prompts_and(world, ins, [world.comply(i) for i in ins])


def align_data(world: ChatWorld, spec: ModelSet, seed: int) -> list[tuple[list[int], list[int]]]:
    """Refusals to harmful instructions (a share `align_refusal_share`) and compliant answers to benign ones."""
    n_refuse = round(spec.align_refusal_share * spec.align_examples)
    harmful = world.instructions(HARMFUL, max(1, n_refuse), "train", seed, "align-harmful")
    benign = world.instructions(BENIGN, max(1, spec.align_examples - n_refuse), "train", seed, "align-benign")
    return (prompts_and(world, harmful, [world.refusal(i) for i in harmful])
            + prompts_and(world, benign, [world.comply(i) for i in benign]))


def recovery_cut(world: ChatWorld, p: float, c: int, gen) -> int:
    """k ~ P_k of Eq. 2: 0 with probability 1 - p, else uniform on 1..min(c, answer length)."""
    if gen.random() >= p:
        return 0
    return int(gen.integers(1, min(c, world.config.answer_len) + 1))


def augment_data(world: ChatWorld, spec: ModelSet, seed: int) -> list[tuple[list[int], list[int]]]:
    """Recovery examples (prompt + first k harmful answer tokens -> refusal; share alpha) and benign anchors."""
    n_rec = round(spec.augment_alpha * spec.augment_examples)
    harmful = world.instructions(HARMFUL, max(1, n_rec), "train", seed, "augment-harmful")
    gen = rng(seed, "safety", "augment-cuts")
    out = []
    for ins in harmful:
        k = recovery_cut(world, spec.augment_p, spec.augment_c, gen)
        out.append((world.encode(ins.prompt + world.answer(ins)[:k]), world.encode(world.refusal(ins))))
    benign = world.instructions(BENIGN, max(1, spec.augment_examples - n_rec), "train", seed, "augment-benign")
    return out + prompts_and(world, benign, [world.comply(i) for i in benign])


# ---- the checkpoint cache -------------------------------------------------------------------------------------
def models_dir(name: str, seed: int, root: Path | None = None, device: str = "cpu") -> Path:
    """The folder of preset `name` trained with `seed` on `device`: <root>/safety/models/<key> (root: the cache of
    the cached run in progress, else the default cache; the key: `sims.engine.chat.checkpoints.checkpoint_dir`,
    with this file's source)."""
    return checkpoint_dir("safety/models", dataclasses.asdict(model_set(name)), seed, device, root,
                          extra=[Path(__file__)])


def _train(lm: TinyLM, data, steps: int, lr: float, batch: int, warmup: int, seed: int, stage: str
           ) -> tuple[list[float], float]:
    """Full fine-tuning of `lm` on `data`; the batch order has its own stream per stage."""
    losses, wall = train_full(lm, data, steps, lr, batch, warmup, int_seed(seed, "safety", "batches", stage))
    lm.name = stage
    return losses, wall


def load_models(name: str = "quick", seed: int = 0, device: str = "cpu", root: Path | None = None) -> Models:
    """The base, aligned and augmented models of preset `name` trained with `seed` (trained on first use on
    `device`, then read from the checkpoint cache)."""
    spec = model_set(name)
    world = ChatWorld(spec.world)
    where = models_dir(name, seed, root, device)
    kwargs = net_kwargs(world, spec.d_model, spec.n_layers, spec.n_heads)
    stages = [("base", lambda: base_data(world, spec, seed), spec.base_steps, spec.base_lr, spec.base_batch,
               spec.warmup),
              ("aligned", lambda: align_data(world, spec, seed), spec.align_steps, spec.align_lr, spec.align_batch,
               spec.warmup),
              ("augmented", lambda: augment_data(world, spec, seed), spec.augment_steps, spec.augment_lr,
               spec.augment_batch, spec.warmup)]
    models, history = train_chain(where, world, kwargs, stages, seed, "safety", device)
    return Models(world, models["base"], models["aligned"], models["augmented"], history)


def load_augmented(name: str, seed: int, p: float, c: int, device: str = "cpu", root: Path | None = None,
                   models: Models | None = None) -> TinyLM:
    """An augmented model of preset `name` and `seed` trained with recovery probability `p` and largest cut `c`
    instead of the preset's (the ablation of Qi et al. Tables 6-7), from the same aligned model; cached beside it.
    `models`: the already loaded models of the same (name, seed, device), to save loading them again.
    p = 0 gives recovery examples with k = 0 only: more refusal training, no recovery from a harmful start."""
    spec = model_set(name)
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"p must lie in [0, 1]; got {p}.")
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise ConfigError(f"c must be an integer >= 1; got {c!r}.")
    models = models if models is not None else load_models(name, seed, device, root)
    world = models.world
    path = models_dir(name, seed, root, device) / f"augmented_p{p:g}_c{c}.pt"
    if path.is_file():
        return load_lm(path, world, f"augmented p={p:g} C={c}", device)[0]
    variant = dataclasses.replace(spec, augment_p=float(p), augment_c=int(c))
    lm = as_lm(copy.deepcopy(models.aligned.module), world, "augmented")
    losses, wall = _train(lm, augment_data(world, variant, seed), spec.augment_steps, spec.augment_lr,
                          spec.augment_batch, spec.warmup, seed, f"augmented p={p:g} C={c}")
    save_lm(path, net_kwargs(world, spec.d_model, spec.n_layers, spec.n_heads), lm, losses, wall)
    return lm
