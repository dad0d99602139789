"""Training and evaluation data of the `distill` experiment: windows of the pair's corpus split, samples of the
target (or a teacher) and of the draft, and the three data sources DistillSpec compares (research notes, section
4.2): "fixed" corpus text and "target"-generated responses (fixed pools, the teacher's distributions along them
computed once) and "onpolicy" responses of the draft being trained (regenerated as it learns).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from sims.engine.errors import ConfigError
from sims.engine.lm.decode import generate, next_token_logprobs
from sims.engine.lm.model import TinyLM
from sims.engine.torch_layer import generator

from .pair import Pair

if TYPE_CHECKING:
    from .distill import DistillConfig

Batch = tuple[list[list[int]], list[list[int]], torch.Tensor]  # prompts, responses (ids), teacher logp [B, R, V]


def corpus_ids(pair: Pair) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the training and validation text of the pair's corpus split (the split both models saw)."""
    parts = pair.text_split()
    lm = pair.target_lm
    return (torch.tensor(lm.encode(parts.train), dtype=torch.long),
            torch.tensor(lm.encode(parts.val), dtype=torch.long))


def random_windows(ids: torch.Tensor, count: int, length: int, gen: torch.Generator) -> list[list[int]]:
    """`count` windows of `length` ids at uniformly random starts in ids."""
    starts = torch.randint(0, len(ids) - length + 1, (count,), generator=gen)
    return ids[starts[:, None] + torch.arange(length)].tolist()


def even_windows(ids: torch.Tensor, count: int, length: int) -> list[list[int]]:
    """`count` windows of `length` ids at evenly spaced starts over ids (the evaluation prompts)."""
    if len(ids) < length:
        raise ConfigError(f"prompt_len={length} is longer than the validation text ({len(ids)} tokens).")
    starts = torch.linspace(0, len(ids) - length, count).round().long()
    return ids[starts[:, None] + torch.arange(length)].tolist()


def sample(lm: TinyLM, prompts: list[list[int]], length: int, temperature: float,
           gen: torch.Generator | None) -> list[list[int]]:
    """`length` tokens sampled from lm after each prompt (temperature 0: greedy), never stopping early."""
    return generate(lm, prompts, length, temperature=temperature, generator=gen, stop_at_eos=False).tokens


def response_logprobs(lm: TinyLM, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]],
                      grad: bool = False) -> torch.Tensor:
    """log pi(. | prompt, response[:k]) for k = 0 .. R - 1: [B, R, V] (responses of one length R)."""
    logp, _ = next_token_logprobs(lm, prompts, responses, grad=grad)
    return logp[:, :len(responses[0])]


def target_logprobs(target: TinyLM, prompts: list[list[int]], responses: list[list[int]],
                    chunk: int = 128) -> torch.Tensor:
    """The target's distributions along the responses, [N, R, V], computed `chunk` rows at a time."""
    with torch.no_grad():
        return torch.cat([response_logprobs(target, prompts[i:i + chunk], responses[i:i + chunk])
                          for i in range(0, len(prompts), chunk)])


@dataclass
class Pool:
    """A fixed training set: prompts and responses (token ids) and the target's distributions logp [N, R, V]
    along each response (computed once, shared by every divergence that trains on the pool)."""

    prompts: list[list[int]]
    responses: list[list[int]]
    logp: torch.Tensor


def corpus_pool(target: TinyLM, train_ids: torch.Tensor, cfg: DistillConfig) -> Pool:
    """The "fixed" data: pool_size windows of the training text, cut into prompt and response."""
    rows = random_windows(train_ids, cfg.pool_size, cfg.prompt_len + cfg.response_len,
                          generator(cfg.seed, "distill-data", "fixed"))
    prompts, responses = [r[:cfg.prompt_len] for r in rows], [r[cfg.prompt_len:] for r in rows]
    return Pool(prompts, responses, target_logprobs(target, prompts, responses))


def teacher_pool(target: TinyLM, train_ids: torch.Tensor, cfg: DistillConfig) -> Pool:
    """The "target" data: responses sampled from the target at `temperature` for pool_size training-text prompts,
    generated once before training (offline teacher data)."""
    gen = generator(cfg.seed, "distill-data", "target")
    prompts = random_windows(train_ids, cfg.pool_size, cfg.prompt_len, gen)
    responses = sample(target, prompts, cfg.response_len, cfg.temperature, gen)
    return Pool(prompts, responses, target_logprobs(target, prompts, responses))


class PoolSource:
    """Batches of a fixed pool drawn uniformly with replacement; the draws depend on (seed, source name) only,
    so every divergence trained on the same source sees the same batches."""

    def __init__(self, pool: Pool, name: str, cfg: DistillConfig):
        self.pool, self.cfg = pool, cfg
        self.gen = generator(cfg.seed, "distill-batches", name)

    def batch(self, step: int, draft: TinyLM) -> Batch:
        """The (prompts, responses, target logp) of training step `step` (draft unused)."""
        idx = torch.randint(0, len(self.pool.prompts), (self.cfg.batch_size,), generator=self.gen)
        rows = idx.tolist()
        return ([self.pool.prompts[i] for i in rows], [self.pool.responses[i] for i in rows], self.pool.logp[idx])


class OnPolicySource:
    """On-policy data: every `onpolicy_every` steps, onpolicy_every x batch_size training-text prompts and
    responses sampled from the current draft at `temperature`, used up batch by batch; the target scores each
    batch when it is used."""

    def __init__(self, target: TinyLM, train_ids: torch.Tensor, cfg: DistillConfig):
        self.target, self.train_ids, self.cfg = target, train_ids, cfg
        self.gen = generator(cfg.seed, "distill-data", "onpolicy")
        self.queue: list[tuple[list[int], list[int]]] = []

    def batch(self, step: int, draft: TinyLM) -> Batch:
        """The (prompts, responses, target logp) of training step `step`, responses from `draft`."""
        cfg = self.cfg
        if step % cfg.onpolicy_every == 0:
            prompts = random_windows(self.train_ids, cfg.batch_size * cfg.onpolicy_every, cfg.prompt_len, self.gen)
            self.queue = list(zip(prompts, sample(draft, prompts, cfg.response_len, cfg.temperature, self.gen)))
        rows, self.queue = self.queue[:cfg.batch_size], self.queue[cfg.batch_size:]
        prompts, responses = [r[0] for r in rows], [r[1] for r in rows]
        return prompts, responses, target_logprobs(self.target, prompts, responses)


def build_pools(target: TinyLM, train_ids: torch.Tensor, cfg: DistillConfig) -> dict[str, Pool]:
    """The fixed pools the settings of cfg train on: "fixed" (always: "ce" trains on it) and "target"."""
    pools = {"fixed": corpus_pool(target, train_ids, cfg)}
    if "target" in cfg.data:
        pools["target"] = teacher_pool(target, train_ids, cfg)
    return pools


def make_source(name: str, target: TinyLM, train_ids: torch.Tensor, cfg: DistillConfig, pools: dict[str, Pool]):
    """A fresh batch source for data source `name` (its draws start over for every setting)."""
    if name == "onpolicy":
        return OnPolicySource(target, train_ids, cfg)
    return PoolSource(pools[name], name, cfg)
