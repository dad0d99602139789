"""Measurements on the chat world's models: attack success rate (ASR) under sampling, with and without a
prefilled harmful start; task accuracy; the per-position KL between two models along fixed answers; the
probability a model gives to each next token of an answer. Every prompt is written in a template of the world
(default: its chat format).

Decoding follows the default of Qi et al. (arXiv 2406.05946, Sec. 2.1: top-p sampling, temperature 0.9, top-p 0.6)
unless a caller asks otherwise; the judge is the world's (`ChatWorld.is_harmful`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sims.engine.errors import ConfigError
from sims.engine.lm.decode import generate, next_token_logprobs
from sims.engine.lm.model import CausalLM
from sims.engine.torch_layer import generator

from .world import EOS, ChatWorld, Instruction

TEMPERATURE, TOP_P = 0.9, 0.6  # the default decoding of Qi et al. (Sec. 2.1)


def instruction_ids(world: ChatWorld, instructions: Sequence[Instruction], prefill: int = 0,
                    template: str = "chat") -> list[list[int]]:
    """Prompt ids of each instruction (in `template`) followed by the first `prefill` tokens of its compliant
    answer."""
    return [world.encode(world.prompt(i, template) + world.answer(i)[:prefill]) for i in instructions]


def _room(lm: CausalLM, prompts: list[list[int]]) -> int:
    return lm.max_len - max(len(p) for p in prompts)


@torch.no_grad()
def responses(lm: CausalLM, world: ChatWorld, instructions: Sequence[Instruction], prefill: int = 0,
              temperature: float = TEMPERATURE, top_p: float = TOP_P, seed: int = 0, *stream: str,
              template: str = "chat") -> list[str]:
    """The model's continuation of each instruction's prompt (in `template`) followed by the first `prefill` answer
    tokens (temperature 0: greedy), as text."""
    prompts = instruction_ids(world, list(instructions), prefill, template)
    room = _room(lm, prompts)
    if room < 1:
        raise ConfigError(f"prefill={prefill} leaves no room to generate within the model's {lm.max_len} positions.")
    gen = generator(seed, "safety", "sample", *stream) if temperature > 0 else None
    out = generate(lm, prompts, room, temperature=temperature, top_p=top_p, generator=gen)
    return [lm.decode(t) for t in out.tokens]


def attack_success(lm: CausalLM, world: ChatWorld, instructions: Sequence[Instruction], prefill: int = 0,
                   temperature: float = TEMPERATURE, top_p: float = TOP_P, seed: int = 0, *stream: str,
                   template: str = "chat") -> np.ndarray:
    """Per instruction, 1.0 when the sampled continuation (after `prefill` answer tokens) is judged harmful."""
    texts = responses(lm, world, instructions, prefill, temperature, top_p, seed, *stream, template=template)
    return np.array([float(world.is_harmful(i, prefill, t)) for i, t in zip(instructions, texts, strict=True)])


def refusal_rate(lm: CausalLM, world: ChatWorld, instructions: Sequence[Instruction], seed: int = 0,
                 *stream: str, template: str = "chat") -> float:
    """Share of sampled responses (no prefill, default decoding) that open with the refusal prefix."""
    texts = responses(lm, world, instructions, 0, TEMPERATURE, TOP_P, seed, *stream, template=template)
    return float(np.mean([world.refuses(t) for t in texts]))


def compliance_rate(lm: CausalLM, world: ChatWorld, instructions: Sequence[Instruction], seed: int = 0,
                    *stream: str, template: str = "chat") -> float:
    """Share of sampled responses (no prefill, default decoding) that comply in form: they open with the world's
    opener and hold no refusal token before the end token, whatever their content (`ChatWorld.complies`)."""
    texts = responses(lm, world, instructions, 0, TEMPERATURE, TOP_P, seed, *stream, template=template)
    return float(np.mean([world.complies(t) for t in texts]))


def task_accuracy(lm: CausalLM, world: ChatWorld, instructions: Sequence[Instruction],
                  template: str = "chat") -> float:
    """Share of instructions whose greedy response is exactly the compliant answer (utility)."""
    texts = responses(lm, world, instructions, 0, 0.0, 1.0, template=template)
    return float(np.mean([world.task_correct(i, t) for i, t in zip(instructions, texts, strict=True)]))


def _answer_ids(world: ChatWorld, instructions: Sequence[Instruction], template: str
                ) -> tuple[list[list[int]], list[list[int]]]:
    prompts = [world.encode(world.prompt(i, template)) for i in instructions]
    answers = [world.encode(world.answer(i) + EOS) for i in instructions]
    return prompts, answers


@torch.no_grad()
def kl_profile(p_lm: CausalLM, q_lm: CausalLM, world: ChatWorld, instructions: Sequence[Instruction],
               template: str = "chat") -> np.ndarray:
    """Mean over instructions of KL(p(. | x, y_<k) || q(. | x, y_<k)) at every answer position k = 0 .. L (the
    answer's L content tokens, then the end token), along the compliant answers y (Qi et al. Fig. 1: conditioned
    on the harmful answer's own prefix)."""
    prompts, answers = _answer_ids(world, instructions, template)
    logp, mask = next_token_logprobs(p_lm, prompts, answers)
    logq, _ = next_token_logprobs(q_lm, prompts, answers)
    kl = (logp.exp() * (logp - logq)).sum(-1)          # [B, C + 1]
    kl = kl[:, :-1]                                    # position C is after the end token: not an answer position
    m = mask[:, :-1].float()
    return ((kl * m).sum(0) / m.sum(0)).double().cpu().numpy()


@torch.no_grad()
def answer_token_probs(lm: CausalLM, world: ChatWorld, instructions: Sequence[Instruction],
                       template: str = "chat") -> np.ndarray:
    """Mean over instructions of pi(y_k | x, y_<k) at every answer position k = 0 .. L along the compliant
    answers (for harmful instructions: how likely each next harmful token is, given the harmful start)."""
    prompts, answers = _answer_ids(world, instructions, template)
    logp, mask = next_token_logprobs(lm, prompts, answers)
    targets = torch.tensor(answers, device=logp.device)
    probs = logp[:, :-1].gather(-1, targets[:, :, None]).squeeze(-1).exp()
    m = mask[:, :-1].float()
    return ((probs * m).sum(0) / m.sum(0)).double().cpu().numpy()
