"""Speculative decoding for any pair of `CausalLM`s (Leviathan et al. 2023, Algorithm 1; Chen et al. 2023),
batched over sequences with KV caches. (Algorithm and section numbers of those papers are cited from secondary
texts, not checked against the papers.)

One block, per row: the draft proposes gamma tokens x_1..x_gamma, each drawn from its sampling distribution q
(`decode.sampling_distribution` at the run's temperature and top_p) given the tokens before it; the target scores
all gamma + 1 prefixes in one forward pass, giving p at each; x_i is accepted with probability
min(1, p(x_i)/q(x_i)) (min(1, f(p(x_i), eps)/q(x_i)) with a lenience function f, DistillSpec's lossy variant /
`theory.specdec.lenience`). At the first rejection the token is replaced by a draw from the residual
norm(max(0, p - q)) and the block ends; when all gamma are accepted a bonus token is drawn from p at position
gamma + 1. Every emitted token then has the target's law given its prefix (Leviathan et al.; Chen
et al.; checked by chi-square in `sims.specdec.exact`). Two deliberately wrong variants serve as negative controls for the tests: "no_correction"
replaces a rejected token by a fresh draft sample (Leviathan et al.'s residual omitted), "draft_bonus" draws the
bonus token from the draft (exact for the first gamma tokens of a block, wrong after).

Batching [ours]: rows accept different numbers of tokens, so the KV caches are not cropped per block. A rejected
draft token stays in a model's cache but its column of the padding mask is switched off: `CausalLM.logits` derives
position ids from the mask (the count of real tokens before a column), so a switched-off column is neither attended
to nor counted, exactly like left padding. The target always lags one token behind what was emitted: each block it
reads [newest emitted token, x_1..x_gamma] and keeps gamma + 1 logits. The draft reads, at the start of a block,
the tokens it has not seen (the newest token, plus x_gamma when all were accepted), left-padded with switched-off
columns so that the last column of every row is real. Rows that have all their tokens get only switched-off
columns, so their positions stop advancing. The first block reads the whole (left-padded) prompts instead.
Switched-off columns cost attention time and memory, so when a cache holds more than COMPACT_RATIO columns per
real token of its fullest row, each row's real columns are gathered to the right end (`compact_cache`); the
result is the same function, so compaction changes nothing but speed.

Uniform draws and token draws come from one CPU `torch.Generator` in a fixed order (draft tokens, acceptance
uniforms, replacement/bonus token), so a seed gives the same tokens; temperature 0 needs none and emits exactly
the target's greedy decoding.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sims.engine import validate
from sims.engine.errors import ConfigError
from sims.engine.lm import decode
from sims.engine.lm.model import CausalLM
from theory.specdec import LENIENCE
from theory.specdec import lenience as lenience_fn

MODES = ("exact", "no_correction", "draft_bonus")


@dataclass
class SpeculativeRun:
    """What `speculative_generate` produced and measured.

    tokens[i]: the max_new_tokens ids emitted for row i. accepted: accepted draft tokens of every (row, block)
    whose row still needed at least gamma + 1 tokens at the start of the block (so the block could not be cut short
    by the end; the choice depends on the past only, so the mean is unbiased). attempts / accepts: accept-or-reject
    decisions made and how many accepted (all rows and blocks). predicted_accepts: the sum over those decisions of
    the acceptance probability given the prefix, sum_x min(q(x), f(p(x))) (= 1 - TV(p, q) for exact decoding;
    Leviathan et al.); predicted_lossless: the same sum of 1 - TV(p, q), what lossless decoding
    would accept at those positions (equal to predicted_accepts without lenience). target_calls / draft_calls: forward passes (a batch counts once).
    seconds: wall time of the whole run; draft_seconds / target_seconds: time inside the models' forward passes.
    new_tokens: tokens emitted over all rows.
    """

    tokens: list[list[int]]
    accepted: np.ndarray
    attempts: int
    accepts: int
    predicted_accepts: float
    predicted_lossless: float
    target_calls: int
    draft_calls: int
    seconds: float
    draft_seconds: float
    target_seconds: float
    new_tokens: int

    @property
    def acceptance_rate(self) -> float:
        """Accepted fraction of the accept-or-reject decisions (NaN when none was made)."""
        return self.accepts / self.attempts if self.attempts else float("nan")

    @property
    def block_efficiency(self) -> float:
        """Mean tokens emitted per uncut block, accepted + 1 (tau of Leviathan et al. Eq. 1; NaN when no block was
        uncut)."""
        return float(np.mean(self.accepted + 1)) if self.accepted.size else float("nan")

    @property
    def tokens_per_second(self) -> float:
        """Emitted tokens per second of wall time (prompt processing included)."""
        return self.new_tokens / self.seconds if self.seconds > 0 else float("inf")


class _Reader:
    """One model's side of a batched run: its KV cache, its padding mask (with switched-off columns), its forward
    passes counted and timed."""

    def __init__(self, model: CausalLM):
        self.model = model
        self.device = model.device
        self.cache: Any = None
        self.mask: torch.Tensor | None = None
        self.calls = 0
        self.seconds = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def read(self, tokens: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
        """Feed new columns tokens [B, T] with their mask [B, T]; the last `keep` positions' logits, on the CPU."""
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        self.mask = mask if self.mask is None else torch.cat([self.mask, mask], dim=1)
        self._sync()
        start = time.perf_counter()
        logits, self.cache = self.model.logits(tokens, self.mask, self.cache, keep=keep)
        self._sync()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return logits.float().cpu()

    def read_lists(self, seqs: Sequence[Sequence[int]], keep: int) -> torch.Tensor:
        """Feed one id list per row, left-padded with switched-off columns (an empty list: all switched off)."""
        tokens, mask = decode.pad_left(seqs, self.model.pad_id)
        return self.read(tokens, mask, keep)

    def drop_after(self, width: int, kept: torch.Tensor) -> None:
        """Switch off column j of the last `width` columns in each row where j >= kept[row]."""
        if width:
            keep = torch.arange(width)[None, :] < kept[:, None]
            self.mask[:, -width:] &= keep.to(self.device)

    def compact_if_sparse(self) -> bool:
        """When the cache holds more than COMPACT_RATIO columns per real token of its fullest row, move every row's
        real columns to the right end (left padding again) and drop the rest; True when it did. Caches of unknown
        layout are left alone."""
        real = self.mask.sum(dim=1)
        width = int(real.max())
        if self.mask.shape[1] <= COMPACT_RATIO * width:
            return False
        cols = torch.arange(width, device=self.device)[None, :]
        new_mask = cols >= (width - real)[:, None]
        index = torch.zeros(new_mask.shape, dtype=torch.long, device=self.device)
        index[new_mask] = self.mask.nonzero()[:, 1]  # row-major order on both sides
        cache = compact_cache(self.cache, index)
        if cache is None:
            return False
        self.cache, self.mask = cache, new_mask
        return True


# compact a cache once it holds more than this many columns per real token of its fullest row (switched-off
# columns at most half of it); measured at batch 16 on CPU with a 4-layer target and acceptance 0.35, gamma 4:
# target time 0.35 s instead of 0.45-0.65 s over 64 tokens
COMPACT_RATIO = 2.0


def _take(kv: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """kv [B, heads, L, d] restricted to columns index [B, L'] (per row)."""
    b, h, _, d = kv.shape
    return kv.gather(2, index.to(kv.device)[:, None, :, None].expand(b, h, index.shape[1], d))


def compact_cache(cache: Any, index: torch.Tensor) -> Any:
    """The KV cache restricted, row by row, to the sequence columns index [B, L'] ([ours] bookkeeping), for the
    layouts known here: a list of per-layer (keys, values) tensors [B, heads, L, d] (`TinyLM`), a Hugging Face
    DynamicCache made of plain dynamic layers (transformers >= 4.56) or with key_cache / value_cache lists (older).
    Returns None for any other layout (e.g. sliding-window layers), which is then never compacted."""
    if isinstance(cache, (list, tuple)) and all(isinstance(kv, tuple) and len(kv) == 2 for kv in cache):
        return [(_take(k, index), _take(v, index)) for k, v in cache]
    layers = getattr(cache, "layers", None)
    if layers is not None:
        if not all(type(layer).__name__ == "DynamicLayer" and isinstance(getattr(layer, "keys", None), torch.Tensor)
                   for layer in layers):
            return None
        for layer in layers:
            layer.keys, layer.values = _take(layer.keys, index), _take(layer.values, index)
        return cache
    if isinstance(getattr(cache, "key_cache", None), list) and isinstance(getattr(cache, "value_cache", None), list):
        cache.key_cache[:] = [_take(k, index) for k in cache.key_cache]
        cache.value_cache[:] = [_take(v, index) for v in cache.value_cache]
        return cache
    return None


def _check_models(target: CausalLM, draft: CausalLM) -> None:
    for name, model in (("target", target), ("draft", draft)):
        if not isinstance(model, CausalLM):
            raise ConfigError(f"{name} must be a CausalLM (sims.engine.lm); got {type(model).__name__}.")
    if draft.vocab_size != target.vocab_size:
        raise ConfigError(f"draft has vocab_size {draft.vocab_size} but the target has {target.vocab_size}; "
                          f"speculative decoding needs one vocabulary.")


def _check_options(max_new_tokens, gamma, temperature, top_p, generator, mode, lenience, epsilon) -> None:
    validate.positive_int("max_new_tokens", max_new_tokens)
    validate.positive_int("gamma", gamma)
    decode.check_sampling(temperature, top_p)
    if temperature > 0 and not isinstance(generator, torch.Generator):
        raise ConfigError("generator must be a CPU torch.Generator when temperature > 0; pass one from "
                          "sims.engine.torch_layer.generator(seed, ...).")
    if generator is not None and (not isinstance(generator, torch.Generator) or generator.device.type != "cpu"):
        raise ConfigError(f"generator must be a torch.Generator on the CPU; got {generator!r}.")
    validate.one_of("mode", mode, MODES)
    if lenience is not None:
        validate.one_of("lenience", lenience, tuple(LENIENCE))
    validate.probability("epsilon", epsilon, open_low=True)
    if lenience is None and epsilon != 1:
        raise ConfigError(f"epsilon={epsilon!r} has no effect without a lenience function; pass lenience "
                          f"(one of {', '.join(LENIENCE)}) or epsilon=1.")


def _check_lengths(models: Sequence[tuple[str, CausalLM]], longest: int, max_new_tokens: int, gamma: int) -> None:
    """The target reads at most longest + max_new_tokens - 1 + gamma real tokens (the newest emitted token is read
    with the last block's drafts); the draft fewer. [ours]"""
    need = longest + max_new_tokens + gamma - 1
    for name, model in models:
        if need > model.max_len:
            raise ConfigError(f"max_new_tokens={max_new_tokens} with gamma={gamma}: the longest prompt "
                              f"({longest} tokens) needs {need} positions, more than the {name}'s "
                              f"max_len={model.max_len}.")


def _draft_block(reader: _Reader, pending: list[list[int]], gamma: int, active: torch.Tensor, temperature: float,
                 top_p: float, generator: torch.Generator | None, one_more: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Let the draft propose gamma tokens per row: returns the drafts [B, gamma] and the distributions q they were
    drawn from [B, gamma (+1 with one_more: the draft's distribution after x_gamma), V]."""
    logits = reader.read_lists(pending, keep=1)
    drafts, dists = [], []
    for i in range(gamma + int(one_more)):
        q = decode.sampling_distribution(logits[:, -1], temperature, top_p)
        dists.append(q)
        if i == gamma:
            break
        drafts.append(decode.sample(q, generator))
        if i < gamma - 1 or one_more:
            logits = reader.read(drafts[-1][:, None], active[:, None], keep=1)
    return torch.stack(drafts, dim=1), torch.stack(dists, dim=1)


def _target_block(reader: _Reader, pending: list[list[int]], drafts: torch.Tensor, active: torch.Tensor,
                  temperature: float, top_p: float) -> torch.Tensor:
    """The target's distributions p [B, gamma + 1, V] at the gamma + 1 positions of a block, in one forward pass
    over [pending tokens, x_1..x_gamma]."""
    gamma = drafts.shape[1]
    tokens, mask = decode.pad_left(pending, reader.model.pad_id)
    tokens = torch.cat([tokens, drafts], dim=1)
    mask = torch.cat([mask, active[:, None].expand(-1, gamma)], dim=1)
    logits = reader.read(tokens, mask, keep=gamma + 1)
    return decode.sampling_distribution(logits, temperature, top_p)


def residual(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """norm(max(0, p - q)) over the last axis (Leviathan et al. Algorithm 1); where p and q agree to rounding so that
    nothing is left, p itself (a rejection there has probability zero up to rounding)."""
    r = (p - q).clamp(min=0)
    total = r.sum(-1, keepdim=True)
    return torch.where(total > 1e-12, r / total.clamp(min=1e-30), p)


@dataclass
class BlockVerdict:
    """The outcome of verifying one block: n [B] accepted drafts per row; final [B, V] the distribution of the
    token emitted after them (replacement or bonus); decided [B, gamma] the positions where an accept-or-reject
    decision was made; overlap [B, gamma] each position's acceptance probability given its prefix; overlap_lossless
    [B, gamma] the same under lossless acceptance, sum_x min(p, q) = 1 - TV(p, q)."""

    n: torch.Tensor
    final: torch.Tensor
    decided: torch.Tensor
    overlap: torch.Tensor
    overlap_lossless: torch.Tensor


def verify_block(p: torch.Tensor, q: torch.Tensor, drafts: torch.Tensor, uniforms: torch.Tensor,
                 mode: str = "exact", lenience: str | None = None, epsilon: float = 1.0) -> BlockVerdict:
    """Accept or reject a block of drafts.

    p [B, gamma + 1, V]: the target's distributions; q [B, gamma or gamma + 1, V]: the draft's (gamma + 1 needed
    for mode "draft_bonus"); drafts [B, gamma]: the proposed ids; uniforms [B, gamma] in [0, 1) (zeros for greedy).
    x_i is accepted when u_i q(x_i) < f(p(x_i)), i.e. with probability min(1, f(p(x_i))/q(x_i)) (Leviathan et al.
    Algorithm 1; f from DistillSpec's lossy variant, identity without lenience).
    """
    validate.one_of("mode", mode, MODES)
    gamma = drafts.shape[1]
    px = p[:, :gamma].gather(-1, drafts[..., None]).squeeze(-1)
    qx = q[:, :gamma].gather(-1, drafts[..., None]).squeeze(-1)
    fp = p[:, :gamma] if lenience is None else lenience_fn(p[:, :gamma], epsilon, lenience)
    fx = px if lenience is None else lenience_fn(px, epsilon, lenience)
    ok = uniforms * qx < fx
    n = ok.long().cumprod(dim=1).sum(dim=1)
    cols = torch.arange(gamma)[None, :]
    decided = cols <= n[:, None]
    overlap = torch.minimum(q[:, :gamma], fp).sum(-1)
    overlap_lossless = overlap if lenience is None else torch.minimum(q[:, :gamma], p[:, :gamma]).sum(-1)
    at = n.clamp(max=gamma - 1)[:, None, None].expand(-1, 1, p.shape[-1])
    p_at, q_at = p.gather(1, at).squeeze(1), q.gather(1, at).squeeze(1)
    replacement = q_at if mode == "no_correction" else residual(p_at, q_at)
    bonus = q[:, gamma] if mode == "draft_bonus" else p[:, gamma]
    final = torch.where((n == gamma)[:, None], bonus, replacement)
    return BlockVerdict(n, final, decided, overlap, overlap_lossless)


@torch.no_grad()
def speculative_generate(target: CausalLM, draft: CausalLM, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                         gamma: int, temperature: float = 1.0, top_p: float = 1.0,
                         generator: torch.Generator | None = None, mode: str = "exact", lenience: str | None = None,
                         epsilon: float = 1.0) -> SpeculativeRun:
    """Continue each prompt (a list of token ids) by exactly max_new_tokens tokens with speculative decoding, all
    rows as one batch (see the module docstring).

    target, draft: `CausalLM`s with one vocabulary; gamma: drafts per block; temperature, top_p: the sampling
    distribution of both models (temperature 0: greedy, which reproduces the target's greedy decoding);
    generator: a CPU torch.Generator (needed when temperature > 0); mode: one of MODES ("exact", or a negative
    control); lenience: None or a kind of `theory.specdec.LENIENCE`, with epsilon in (0, 1] (1 = lossless).
    """
    _check_models(target, draft)
    _check_options(max_new_tokens, gamma, temperature, top_p, generator, mode, lenience, epsilon)
    prompts = decode._check_ids("prompts", prompts, target.vocab_size, allow_empty=False)
    _check_lengths((("target", target), ("draft", draft)), max(len(p) for p in prompts), max_new_tokens, gamma)
    start = time.perf_counter()
    tgt, drf = _Reader(target), _Reader(draft)
    b = len(prompts)
    out: list[list[int]] = [[] for _ in range(b)]
    t_pending = [list(p) for p in prompts]
    d_pending = [list(p) for p in prompts]
    one_more = mode == "draft_bonus"
    accepted: list[int] = []
    attempts = accepts = 0
    predicted = lossless = 0.0
    while True:
        remaining = torch.tensor([max_new_tokens - len(r) for r in out])
        active = remaining > 0
        if not bool(active.any()):
            break
        drafts, q = _draft_block(drf, d_pending, gamma, active, temperature, top_p, generator, one_more)
        p = _target_block(tgt, t_pending, drafts, active, temperature, top_p)
        uniforms = torch.rand((b, gamma), generator=generator) if temperature > 0 else torch.zeros((b, gamma))
        verdict = verify_block(p, q, drafts, uniforms, mode, lenience, epsilon)
        last = decode.sample(verdict.final, generator)
        n = torch.where(active, verdict.n, 0)
        tgt.drop_after(gamma, n)
        drf.drop_after(gamma - 1 + int(one_more), n)
        attempts += int((verdict.decided & active[:, None]).sum())
        accepts += int(n.sum())
        predicted += float((verdict.overlap * (verdict.decided & active[:, None])).sum())
        lossless += float((verdict.overlap_lossless * (verdict.decided & active[:, None])).sum())
        accepted.extend(int(k) for k in n[remaining >= gamma + 1])
        tgt.compact_if_sparse()
        drf.compact_if_sparse()
        t_pending, d_pending = [], []
        for i in range(b):
            if not active[i]:
                t_pending.append([])
                d_pending.append([])
                continue
            k = int(n[i])
            out[i].extend((drafts[i, :k].tolist() + [int(last[i])])[:int(remaining[i])])
            t_pending.append([int(last[i])])
            unseen = [int(drafts[i, -1])] if k == gamma and not one_more else []
            d_pending.append(unseen + [int(last[i])])
    seconds = time.perf_counter() - start
    return SpeculativeRun(out, np.asarray(accepted, dtype=np.int64), attempts, accepts, predicted, lossless, tgt.calls,
                          drf.calls, seconds, drf.seconds, tgt.seconds, sum(len(r) for r in out))
