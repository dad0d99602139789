"""`speed`: wall-clock tokens per second of speculative decoding against plain decoding of the target, and the
speed-up formula S = (1 - alpha^(gamma+1)) / ((1 - alpha)(gamma c + 1)) (Leviathan et al. 2023, Thm 3.8) with the
measured acceptance rate alpha and the measured cost ratio c.

c is the draft's time per decoding step over the target's, both measured by plain decoding (`decode.generate`,
temperature 1) of the same rows at the same batch size. Every timing is the best of `repeats` runs with the same
draws (the same work each time), so a busy machine slows a timing down but cannot speed it up. The formula assumes
that the target scores gamma + 1 positions in the time of one decoding step: true when a step is bound by
overheads and memory traffic (small batches), false when it is bound by arithmetic (large batches on a CPU),
where the verification pass costs up to gamma + 1 steps and the formula overestimates the speed-up.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.lm.decode import generate
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, single_thread
from theory import specdec as theory

from .contexts import validation_prompts
from .pair import load_pair, pair_spec
from .sampler import speculative_generate


@dataclass(frozen=True)
class SpeedConfig:
    """pair: the target/draft preset (sims.specdec.pair.PAIRS); gammas: draft tokens per block; batches: batch
    sizes timed; min_rows: rows decoded per timing (at least one batch; a batch of 1 decodes min_rows prompts one
    after the other); new_tokens: tokens generated per row; prompt_len: characters of each held-out prompt;
    temperature: sampling temperature (> 0); repeats: timings per measurement (the fastest is kept); device:
    where the models run; seed: prompts and draws."""

    pair: str = "quick"
    gammas: tuple[int, ...] = (1, 2, 3, 4, 6)
    batches: tuple[int, ...] = (1, 64)
    min_rows: int = 16
    new_tokens: int = 64
    prompt_len: int = 16
    temperature: float = 1.0
    repeats: int = 3
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        pair_spec(self.pair)
        validate.non_empty("gammas", self.gammas)
        validate.each(validate.positive_int, "gammas", self.gammas)
        validate.non_empty("batches", self.batches)
        validate.each(validate.positive_int, "batches", self.batches)
        validate.positive_int("min_rows", self.min_rows)
        validate.positive_int("new_tokens", self.new_tokens)
        validate.positive_int("prompt_len", self.prompt_len)
        validate.positive("temperature", self.temperature)
        validate.positive_int("repeats", self.repeats)
        validate.one_of("device", self.device, ("cpu", "cuda", "auto"))
        validate.seed("seed", self.seed)


QUICK = SpeedConfig()
PAPER = SpeedConfig(pair="paper", batches=(1, 8, 64), min_rows=32, new_tokens=128, device="auto")


@dataclass(frozen=True)
class SpeedPoint(Summary):
    """Speculative decoding at one gamma and batch size.

    gamma: draft tokens per block; alpha: measured acceptance rate (accepts / attempts); tau: measured tokens
    per target call; seconds: fastest wall time to decode all rows; tokens_per_second: rows x new_tokens over it;
    speedup: plain target decoding time over this time; speedup_formula: S(alpha, gamma, c) at the measured alpha
    and c; ratio: speedup / speedup_formula; speedup_tau: the formula with the measured tau in place of the
    i.i.d. one, tau / (gamma c + 1)."""

    gamma: int
    alpha: float
    tau: float
    seconds: float
    tokens_per_second: float
    speedup: float
    speedup_formula: float
    ratio: float
    speedup_tau: float


@dataclass(frozen=True)
class BatchSpeed(Summary):
    """All timings at one batch size.

    batch: rows decoded together; rows: rows decoded per timing; target_step_ms: plain decoding time of the
    target per step of the batch (milliseconds); draft_step_ms: the same for the draft; c: draft_step_ms / target_step_ms; target_tokens_per_second:
    plain decoding throughput of the target; points: one SpeedPoint per gamma."""

    batch: int
    rows: int
    target_step_ms: float
    draft_step_ms: float
    c: float
    target_tokens_per_second: float
    points: dict[int, SpeedPoint]


@dataclass(frozen=True)
class SpeedSummary(Summary):
    """The `speed` experiment.

    device: where the models ran; threads: torch CPU threads; batches: one BatchSpeed per batch size."""

    device: str
    threads: int
    batches: dict[int, BatchSpeed]


def _best(fn, repeats: int) -> tuple[float, object]:
    """The fastest of `repeats` calls of fn (which returns (seconds, payload)), with the first call's payload."""
    best, payload = float("inf"), None
    for i in range(repeats):
        seconds, out = fn()
        best = min(best, seconds)
        payload = out if payload is None else payload
    return best, payload


def _chunks(prompts: list[list[int]], batch: int) -> list[list[list[int]]]:
    return [prompts[i:i + batch] for i in range(0, len(prompts), batch)]


def _plain(lm, chunks, cfg: SpeedConfig) -> tuple[float, None]:
    start = time.perf_counter()
    for i, chunk in enumerate(chunks):
        generate(lm, chunk, cfg.new_tokens, temperature=cfg.temperature, stop_at_eos=False,
                 generator=generator(cfg.seed, "speed", "plain", i))
    return time.perf_counter() - start, None


def _speculative(pair, chunks, gamma: int, cfg: SpeedConfig) -> tuple[float, tuple[int, int, float, int]]:
    start = time.perf_counter()
    accepts = attempts = blocks = 0
    emitted = 0.0
    for i, chunk in enumerate(chunks):
        run = speculative_generate(pair.target_lm, pair.draft_lm, chunk, cfg.new_tokens, gamma,
                                   temperature=cfg.temperature, generator=generator(cfg.seed, "speed", gamma, i))
        accepts += run.accepts
        attempts += run.attempts
        emitted += float((run.accepted + 1).sum())
        blocks += len(run.accepted)
    return time.perf_counter() - start, (accepts, attempts, emitted, blocks)


def batch_speed(pair, cfg: SpeedConfig, batch: int, progress=None) -> BatchSpeed:
    """Plain and speculative timings at one batch size (progress: a bar advanced once per measurement)."""
    rows = max(batch, cfg.min_rows)
    prompts = validation_prompts(pair, rows, cfg.prompt_len, rng(cfg.seed, "speed", "prompts", batch))
    chunks = _chunks(prompts, batch)
    t_target, _ = _best(lambda: _plain(pair.target_lm, chunks, cfg), cfg.repeats)
    t_draft, _ = _best(lambda: _plain(pair.draft_lm, chunks, cfg), cfg.repeats)
    if progress is not None:
        progress.update(2)
    steps = len(chunks) * cfg.new_tokens
    c = t_draft / t_target
    points = {}
    for gamma in cfg.gammas:
        seconds, (accepts, attempts, emitted, blocks) = _best(
            lambda g=gamma: _speculative(pair, chunks, g, cfg), cfg.repeats)
        alpha = accepts / attempts
        tau = emitted / blocks
        formula = float(theory.speedup(alpha, gamma, c))
        speedup = t_target / seconds
        points[gamma] = SpeedPoint(gamma=gamma, alpha=alpha, tau=tau, seconds=seconds,
                                   tokens_per_second=rows * cfg.new_tokens / seconds, speedup=speedup,
                                   speedup_formula=formula, ratio=speedup / formula,
                                   speedup_tau=tau / (gamma * c + 1.0))
        if progress is not None:
            progress.update(1)
    return BatchSpeed(batch=batch, rows=rows, target_step_ms=1e3 * t_target / steps,
                      draft_step_ms=1e3 * t_draft / steps, c=c,
                      target_tokens_per_second=rows * cfg.new_tokens / t_target, points=points)


def run_speed(cfg: SpeedConfig) -> Result:
    single_thread()
    pair = load_pair(cfg.pair, device=cfg.device)
    progress = bar(len(cfg.batches) * (2 + len(cfg.gammas)), "specdec.speed", unit="timing")
    try:
        batches = {b: batch_speed(pair, cfg, b, progress) for b in cfg.batches}
    finally:
        progress.close()
    summary = SpeedSummary(device=str(pair.target_lm.device), threads=torch.get_num_threads(), batches=batches)
    return Result("specdec.speed", config_dict(cfg), summary, {})


def summarize_speed(res: Result) -> str:
    s: SpeedSummary = res.summary
    lines = [(f"speculative against plain decoding on {s.device} ({s.threads} thread(s)); speed-up formula "
              "S = (1 - a^(g+1)) / ((1 - a)(g c + 1)) at the measured a and c")]
    for b in s.batches.values():
        lines.append(f"batch {b.batch} ({b.rows} rows): target {b.target_step_ms:.2f} ms/step "
                     f"({b.target_tokens_per_second:.0f} tokens/s), draft {b.draft_step_ms:.2f} ms/step, "
                     f"c = {b.c:.3f}")
        lines.append(f"  {'gamma':>5} {'alpha':>6} {'tau':>6} {'tokens/s':>9} {'speed-up':>8} {'formula':>8} "
                     f"{'ratio':>6}")
        for p in b.points.values():
            lines.append(f"  {p.gamma:>5} {p.alpha:>6.3f} {p.tau:>6.3f} {p.tokens_per_second:>9.0f} "
                         f"{p.speedup:>8.3f} {p.speedup_formula:>8.3f} {p.ratio:>6.3f}")
    return "\n".join(lines)


SPEED = Experiment(paper="specdec", name="speed",
                   description="wall-clock speed-up of speculative decoding against the formula with the "
                               "measured acceptance and cost ratio",
                   config_cls=SpeedConfig, presets={"quick": QUICK, "paper": PAPER},
                   run=run_speed, summarize=summarize_speed, summary=SpeedSummary)
