"""Prompts from the held-out text, the exact law of a language model's first few tokens, and the chi-square test
of a sampler's output against it.

Speculative decoding claims to emit exactly the target's law. For a tiny character model the law of the first k
emitted tokens after a prompt can be computed exactly: V^(k-1) continuations scored in one batch (k <= 2 here,
4,225 cells for the 65-character vocabulary), and the counts of k-token prefixes drawn by a sampler are tested
against it (Pearson chi-square, small cells pooled: `sims.engine.stats.chi_square`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sims.engine import Summary
from sims.engine.errors import ConfigError
from sims.engine.lm.decode import next_token_logprobs
from sims.engine.lm.model import CausalLM
from sims.engine.stats import chi_square

from .pair import Pair


def validation_text(pair: Pair) -> str:
    """The held-out part of the corpus the pair was trained on (the target config's split)."""
    return pair.text_split().val


def validation_prompts(pair: Pair, n: int, length: int, gen: np.random.Generator) -> list[list[int]]:
    """`n` token-id prompts: windows of `length` characters at random places of the held-out text."""
    text = validation_text(pair)
    if length < 1 or length >= len(text):
        raise ConfigError(f"prompt_len must lie in [1, {len(text) - 1}]; got {length}.")
    starts = gen.integers(0, len(text) - length, size=n)
    return [pair.target_lm.encode(text[s:s + length]) for s in starts]


@torch.no_grad()
def first_tokens_law(model: CausalLM, prompt: list[int], k: int, temperature: float = 1.0) -> np.ndarray:
    """Exact probability of every k-token continuation of `prompt` under `model` at `temperature` (float64,
    V^k cells, index sum_i tok_i V^(k-1-i)); k is 1 or 2."""
    if k not in (1, 2):
        raise ConfigError(f"k must be 1 or 2 (the law has V^k cells); got {k}.")
    v = model.vocab_size
    if k == 1:
        logp, _ = next_token_logprobs(model, [prompt], [[]], temperature=temperature)
        return _normalised(logp[0, 0].double().exp().cpu().numpy())
    logp, _ = next_token_logprobs(model, [prompt] * v, [[x] for x in range(v)], temperature=temperature)
    first = logp[0, 0].double().exp()
    second = logp[:, 1].double().exp()
    return _normalised((first[:, None] * second).reshape(-1).cpu().numpy())


def _normalised(p: np.ndarray) -> np.ndarray:
    return p / p.sum()


def prefix_counts(tokens: list[list[int]], k: int, vocab: int) -> np.ndarray:
    """Counts of the first-k-token prefixes of the rows, flattened like `first_tokens_law`."""
    arr = np.asarray([row[:k] for row in tokens], dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != k:
        raise ConfigError(f"every row must hold at least k={k} tokens.")
    index = (arr * vocab ** np.arange(k - 1, -1, -1)).sum(1)
    return np.bincount(index, minlength=vocab ** k)


@dataclass(frozen=True)
class ChiSquareTest(Summary):
    """Pearson goodness of fit of a sampler's k-token prefixes to the exact law.

    reduced: the statistic over its degrees of freedom (about 1 for an exact sampler: mean dof, SD sqrt(2 dof));
    dof: degrees of freedom after pooling cells with expected counts below 5;
    p_value: upper tail probability of the statistic (0 when a cell of probability 0 was drawn);
    n: sequences drawn."""

    reduced: float
    dof: int
    p_value: float
    n: int


def goodness_of_fit(counts: np.ndarray, law: np.ndarray) -> ChiSquareTest:
    """The chi-square test of `counts` against `law`."""
    res = chi_square(counts, law)
    stat, dof, p_value = res.statistic, res.dof, res.p_value
    reduced = float(stat / dof) if dof > 0 else float("nan")
    return ChiSquareTest(reduced=reduced, dof=int(dof), p_value=float(p_value), n=int(counts.sum()))

