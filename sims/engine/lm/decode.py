"""Decoding for any `CausalLM`: batched generation with a KV cache, greedy / temperature / top-p sampling,
log-probabilities of given continuations and per-position next-token distributions.

Everything goes through `CausalLM.logits`, so it runs the same on a tiny model trained here and on a Hugging Face
model. Prompts of different lengths are left-padded into one batch; padding is masked out and does not shift
positions. Sampling draws on the CPU from an explicit `torch.Generator` (the sampling distribution is moved there
first), so a seed gives the same draws from the same logits on any device.

What the language-model papers need: per-token KL between two models along a fixed response, acceptance rates of
speculative decoding (draft and target distributions at every position of a block) and prefilling (a response
prefix appended to the prompt) are `next_token_logprobs` on (prompt, response) pairs and `generate` from
prompt + prefix.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..errors import ConfigError
from .model import CausalLM


def _check_ids(name: str, seqs: Sequence[Sequence[int]], vocab_size: int, allow_empty: bool) -> list[list[int]]:
    if isinstance(seqs, (str, bytes)) or len(seqs) == 0:
        raise ConfigError(f"{name} must be a non-empty list of token-id lists.")
    out = []
    for i, s in enumerate(seqs):
        if isinstance(s, str):
            raise ConfigError(f"{name}[{i}] is a string; encode it with the model's tokenizer first.")
        s = [int(t) for t in s]
        if not s and not allow_empty:
            raise ConfigError(f"{name}[{i}] is empty; a prompt needs at least one token.")
        bad = [t for t in s if not 0 <= t < vocab_size]
        if bad:
            raise ConfigError(f"{name}[{i}] holds token id {bad[0]} outside [0, {vocab_size}).")
        out.append(s)
    return out


def pad_left(seqs: Sequence[Sequence[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad id lists into tokens [B, T] (long) and a mask [B, T] (bool, True at real tokens)."""
    width = max(len(s) for s in seqs)
    tokens = torch.full((len(seqs), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.bool)
    for i, s in enumerate(seqs):
        if s:
            tokens[i, width - len(s):] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, width - len(s):] = True
    return tokens.to(device), mask.to(device)


def check_sampling(temperature: float, top_p: float) -> None:
    """A ConfigError naming the parameter unless temperature is finite and >= 0 and top_p lies in (0, 1]."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"temperature must be a finite number >= 0 (0 = greedy); got {temperature!r}.")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ConfigError(f"top_p must lie in (0, 1]; got {top_p!r}.")


def top_p_mask(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus of each row of probs [B, V]: True on the smallest set of most likely tokens whose total mass is
    >= top_p (ties in probability broken by token id, lower first)."""
    check_sampling(0.0, top_p)
    order = torch.sort(probs, dim=-1, descending=True, stable=True)
    mass_before = order.values.cumsum(-1) - order.values
    keep_sorted = mass_before < top_p
    keep_sorted[..., 0] = True
    return torch.zeros_like(keep_sorted).scatter(-1, order.indices, keep_sorted)


def sampling_distribution(logits: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0) -> torch.Tensor:
    """The distribution [B, V] (float32) a sampler draws from: softmax(logits / temperature) restricted to the
    top-p nucleus and renormalised; temperature 0 gives the one-hot of the argmax (greedy)."""
    check_sampling(temperature, top_p)
    logits = logits.float()
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1:
        probs = probs * top_p_mask(probs, top_p)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def sample(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One token id per row of probs [B, V], drawn on the CPU with `generator` (argmax when a row is one-hot)."""
    probs = probs.detach().float().cpu()
    if bool(((probs == 0) | (probs == 1)).all()):
        return probs.argmax(-1)
    if generator is None:
        raise ConfigError("generator must be a torch.Generator when sampling (temperature > 0); pass one seeded "
                          "with sims.engine.torch_layer.generator(seed, ...).")
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@dataclass
class Generation:
    """What `generate` produced: tokens[i] the new ids of row i (up to, not including, an end-of-sequence id);
    finished[i] whether row i stopped at an end-of-sequence id; dists [B, steps, V] the distributions each token
    was drawn from (when asked for); seconds the wall time; new_tokens the number of tokens decoded (all rows,
    end-of-sequence ids included)."""

    tokens: list[list[int]]
    finished: list[bool]
    seconds: float
    new_tokens: int
    dists: torch.Tensor | None = None

    @property
    def tokens_per_second(self) -> float:
        """Decoded tokens per second of wall time (prompt processing included)."""
        return self.new_tokens / self.seconds if self.seconds > 0 else float("inf")


@torch.no_grad()
def generate(model: CausalLM, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0, generator: torch.Generator | None = None, use_cache: bool = True,
             stop_at_eos: bool = True, return_dists: bool = False) -> Generation:
    """Continue each prompt (a list of token ids) by up to max_new_tokens tokens, all rows as one batch.

    temperature 0 is greedy decoding; otherwise tokens are drawn from `sampling_distribution` with `generator`.
    use_cache=False recomputes the whole sequence at every step (the reference the KV cache is checked against).
    A row stops at the model's end-of-sequence ids when stop_at_eos; the loop ends when every row has stopped.
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be an integer >= 1; got {max_new_tokens!r}.")
    check_sampling(temperature, top_p)
    prompts = _check_ids("prompts", prompts, model.vocab_size, allow_empty=False)
    longest = max(len(p) for p in prompts)
    if longest + max_new_tokens > model.max_len:
        what = "a prompt" if longest > model.max_len else "the longest prompt plus max_new_tokens"
        raise ConfigError(f"max_new_tokens={max_new_tokens}: {what} needs {longest + max_new_tokens} positions, "
                          f"more than the model's max_len={model.max_len}.")
    start = time.perf_counter()
    device = model.device
    tokens, mask = pad_left(prompts, model.pad_id, device)
    b = len(prompts)
    eos = torch.tensor(sorted(set(model.eos_ids)), dtype=torch.long)
    done = torch.zeros(b, dtype=torch.bool)
    out = torch.zeros((b, 0), dtype=torch.long)
    dists = []
    cache = None
    new = tokens
    for _ in range(max_new_tokens):
        if use_cache:
            logits, cache = model.logits(new, mask, cache, keep=1)
        else:
            logits, _ = model.logits(tokens, mask, None, keep=1)
        probs = sampling_distribution(logits[:, -1], temperature, top_p)
        nxt = sample(probs, generator)
        if return_dists:
            dists.append(probs.cpu())
        nxt = torch.where(done, torch.full_like(nxt, model.pad_id), nxt)
        out = torch.cat([out, nxt[:, None]], dim=1)
        if stop_at_eos and len(eos):
            done |= torch.isin(nxt, eos)
            if bool(done.all()):
                break
        new = nxt[:, None].to(device)
        tokens = torch.cat([tokens, new], dim=1)
        mask = torch.cat([mask, torch.ones((b, 1), dtype=torch.bool, device=device)], dim=1)
    seconds = time.perf_counter() - start
    rows, finished = [], []
    stops = set(model.eos_ids) if stop_at_eos else set()
    for i in range(b):
        row = out[i].tolist()
        stop = next((j for j, t in enumerate(row) if t in stops), None)
        finished.append(stop is not None)
        rows.append(row if stop is None else row[:stop])
    counted = sum(len(r) + int(f) for r, f in zip(rows, finished))
    return Generation(rows, finished, seconds, counted, torch.stack(dists, dim=1) if return_dists else None)


def _pair_logits(model: CausalLM, prompts, continuations, temperature: float):
    """Log-softmax of the logits at the positions that predict each continuation token and the one after it:
    logp [B, C + 1, V] (C the longest continuation) and the row-aligned continuation ids; row i's entries are
    left-aligned (column k is the distribution given prompt + continuation[:k])."""
    prompts = _check_ids("prompts", prompts, model.vocab_size, allow_empty=False)
    conts = _check_ids("continuations", continuations, model.vocab_size, allow_empty=True)
    if len(prompts) != len(conts):
        raise ConfigError(f"continuations must pair with prompts one to one; got {len(conts)} for {len(prompts)}.")
    seqs = [p + c for p, c in zip(prompts, conts)]
    longest = max(len(s) for s in seqs)
    if longest > model.max_len:
        raise ConfigError(f"continuations: a prompt plus its continuation has {longest} tokens, more than the "
                          f"model's max_len={model.max_len}.")
    c_max = max(len(c) for c in conts)
    tokens, mask = pad_left(seqs, model.pad_id, model.device)
    logits, _ = model.logits(tokens, mask, None, keep=c_max + 1)
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    # row i's continuation starts at kept column c_max - len(c_i); shift it to column 0
    lengths = torch.tensor([len(c) for c in conts], device=logp.device)
    cols = torch.arange(c_max + 1, device=logp.device)
    src = (c_max - lengths)[:, None] + cols[None, :]
    valid = cols[None, :] <= lengths[:, None]
    src = torch.where(valid, src, torch.full_like(src, c_max))
    aligned = logp.gather(1, src[:, :, None].expand(-1, -1, logp.shape[-1]))
    return aligned, valid, conts


def next_token_logprobs(model: CausalLM, prompts: Sequence[Sequence[int]],
                        continuations: Sequence[Sequence[int]], temperature: float = 1.0,
                        grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position next-token log-distributions along given continuations, in one forward pass.

    Returns logp [B, C + 1, V] and mask [B, C + 1] (C = longest continuation): logp[i, k] = log pi(. | prompt_i,
    continuation_i[:k]) / temperature-scaled, for k = 0 .. len(continuation_i) (k = len is the distribution after
    the whole continuation); mask marks those valid entries. With empty continuations it is the next-token
    distribution after each prompt.
    """
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"temperature must be a finite number > 0; got {temperature!r}.")
    with torch.set_grad_enabled(grad):
        aligned, valid, _ = _pair_logits(model, prompts, continuations, float(temperature))
    return aligned, valid


def continuation_logprobs(model: CausalLM, prompts: Sequence[Sequence[int]],
                          continuations: Sequence[Sequence[int]],
                          grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(continuation_i[k] | prompt_i, continuation_i[:k]) for every token of every continuation.

    Returns values [B, C] and mask [B, C] (C = longest continuation; row i left-aligned, mask False past its end).
    `(values * mask).sum(1)` is the log-probability of each whole continuation. grad=True keeps the graph (for a
    training loss on responses).
    """
    with torch.set_grad_enabled(grad):
        aligned, valid, conts = _pair_logits(model, prompts, continuations, 1.0)
        c_max = aligned.shape[1] - 1
        targets = torch.zeros((len(conts), c_max), dtype=torch.long, device=aligned.device)
        for i, c in enumerate(conts):
            if c:
                targets[i, :len(c)] = torch.as_tensor(c, device=aligned.device)
        values = aligned[:, :c_max].gather(-1, targets[:, :, None]).squeeze(-1)
        mask = valid[:, 1:]
        return values * mask, mask
