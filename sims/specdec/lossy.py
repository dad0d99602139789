"""`lossy`: lenience functions trade exactness for acceptance (DistillSpec's lossy speculative decoding; the notes,
llm_papers.md section 4.2, SECONDARY; T4.5).

A draft token x is accepted with probability min(1, f(p(x), eps) / q(x)) for a lenience function f and eps in
(0, 1]: linear p/eps, quadratic p/eps^2, exponential p^eps (`theory.specdec.lenience`); eps = 1 is lossless
speculative decoding. After a rejection the token is drawn from the standard residual norm(max(0, p - q)) (our
choice: the paper's residual for the lossy variant is UNVERIFIED). For every lenience function and eps the tiny
pair decodes held-out prompts with gamma draft tokens per block, and we record the acceptance rate, the block
efficiency, the acceptance the theory predicts along target-sampled contexts (sum_x min(q, f)) and the quality
cost: the total-variation distance between the law a lenient step emits and the target's p at the same contexts
(`theory.specdec.lossy_emitted_law`). At eps = 1 (and at a lossy eps for contrast) the first two emitted tokens
after one prompt are tested against the target's exact law, as in `exact`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.lm.decode import generate, next_token_logprobs
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, single_thread
from theory import specdec as theory

from .contexts import (
    ChiSquareTest,
    first_tokens_law,
    goodness_of_fit,
    prefix_counts,
    validation_prompts,
)
from .pair import load_pair, pair_spec
from .sampler import speculative_generate


@dataclass(frozen=True)
class LossyConfig:
    """pair: the target/draft preset; kinds: lenience functions; epsilons: leniences (1 = lossless);
    gamma: draft tokens per block; rows: held-out prompts decoded per setting; new_tokens: tokens per row;
    prompt_len: characters per prompt; chi_rows: sequences drawn for each exactness test (0 skips them);
    chi_epsilon: the lossy eps tested against the exact law for contrast (linear lenience); lenient: False
    switches lenience off (every eps decodes losslessly: the negative control of the trade-off); device: where the
    models run; seed: prompts and draws."""

    pair: str = "quick"
    kinds: tuple[str, ...] = ("linear", "quadratic", "exponential")
    epsilons: tuple[float, ...] = (1.0, 0.8, 0.6, 0.4, 0.2)
    gamma: int = 3
    rows: int = 256
    new_tokens: int = 48
    prompt_len: int = 16
    chi_rows: int = 6000
    chi_epsilon: float = 0.5
    lenient: bool = True
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        pair_spec(self.pair)
        validate.non_empty("kinds", self.kinds)
        validate.each(validate.one_of, "kinds", self.kinds, theory.LENIENCE)
        validate.non_empty("epsilons", self.epsilons)
        for eps in self.epsilons:
            validate.probability("epsilons", eps, open_low=True)
        validate.positive_int("gamma", self.gamma)
        validate.positive_int("rows", self.rows)
        validate.positive_int("new_tokens", self.new_tokens)
        validate.positive_int("prompt_len", self.prompt_len)
        validate.positive_int("chi_rows", self.chi_rows, 0)
        validate.probability("chi_epsilon", self.chi_epsilon, open_low=True)
        validate.one_of("device", self.device, ("cpu", "cuda", "auto"))
        validate.seed("seed", self.seed)


QUICK = LossyConfig()
PAPER = LossyConfig(pair="paper", rows=1024, new_tokens=128, chi_rows=40000, device="auto")


@dataclass(frozen=True)
class LossyPoint(Summary):
    """Lenient speculative decoding at one (function, eps).

    epsilon: the lenience; acceptance: measured acceptance rate (accepts / attempts); lossless_acceptance: sum of
    min(p, q) over the attempted positions over attempts (what lossless decoding would accept there);
    ratio: acceptance / lossless_acceptance (1 when lossless); tau: measured tokens per target call;
    predicted_acceptance: mean of sum_x min(q, f(p, eps)) along target-sampled contexts; quality_tv: mean total
    variation between the emitted law and p along the same contexts (0 when lossless)."""

    epsilon: float
    acceptance: float
    lossless_acceptance: float
    ratio: float
    tau: float
    predicted_acceptance: float
    quality_tv: float


@dataclass(frozen=True)
class LossySummary(Summary):
    """The `lossy` experiment.

    kinds: per lenience function, one LossyPoint per eps (keyed by eps as text, e.g. "0.5");
    exact_at_one: chi-square of the first two emitted tokens at eps = 1 (linear lenience), None when skipped;
    exact_at_lossy: the same at chi_epsilon, None when skipped."""

    kinds: dict[str, dict[str, LossyPoint]]
    exact_at_one: ChiSquareTest | None
    exact_at_lossy: ChiSquareTest | None


def eps_key(eps: float) -> str:
    """The summary key of a lenience eps."""
    return f"{float(eps):g}"


@torch.no_grad()
def target_contexts(pair, prompts: list[list[int]], new_tokens: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """p and q [positions, V] (float64) along target-sampled continuations of the prompts (the contexts that
    speculative decoding emits)."""
    out = generate(pair.target_lm, prompts, new_tokens, temperature=1.0, stop_at_eos=False,
                   generator=generator(seed, "lossy", "contexts"))
    logp, mask = next_token_logprobs(pair.target_lm, prompts, out.tokens)
    logq, _ = next_token_logprobs(pair.draft_lm, prompts, out.tokens)
    keep = mask.cpu()
    p = logp.double().exp().cpu()[keep].numpy()
    q = logq.double().exp().cpu()[keep].numpy()
    return p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)


def lossy_point(pair, prompts, p: np.ndarray, q: np.ndarray, kind: str, eps: float, cfg: LossyConfig) -> LossyPoint:
    lenient = eps != 1.0 and cfg.lenient
    run = speculative_generate(pair.target_lm, pair.draft_lm, prompts, cfg.new_tokens, cfg.gamma, temperature=1.0,
                               generator=generator(cfg.seed, "lossy", kind, eps_key(eps)),
                               lenience=kind if lenient else None, epsilon=eps if lenient else 1.0)
    law = theory.lossy_emitted_law(p, q, eps, kind)
    acceptance = run.accepts / run.attempts
    lossless = run.predicted_lossless / run.attempts
    return LossyPoint(epsilon=float(eps), acceptance=acceptance, lossless_acceptance=lossless,
                      ratio=acceptance / lossless, tau=float(run.block_efficiency),
                      predicted_acceptance=float(np.mean(theory.lossy_acceptance(p, q, eps, kind))),
                      quality_tv=float(np.mean(theory.tv(law, p))))


def chi_test(pair, cfg: LossyConfig, eps: float) -> ChiSquareTest:
    """The first two tokens after one held-out prompt, gamma 1, linear lenience at eps, against the exact law."""
    prompt = validation_prompts(pair, 1, cfg.prompt_len, rng(cfg.seed, "lossy", "chi-prompt"))[0]
    law = first_tokens_law(pair.target_lm, prompt, 2)
    tokens = []
    batch = 1000
    lenient = eps != 1.0 and cfg.lenient
    for i, start in enumerate(range(0, cfg.chi_rows, batch)):
        rows = min(batch, cfg.chi_rows - start)
        run = speculative_generate(pair.target_lm, pair.draft_lm, [prompt] * rows, 2, 1, temperature=1.0,
                                   generator=generator(cfg.seed, "lossy", "chi", eps_key(eps), i),
                                   lenience="linear" if lenient else None, epsilon=eps if lenient else 1.0)
        tokens += run.tokens
    return goodness_of_fit(prefix_counts(tokens, 2, pair.target_lm.vocab_size), law)


def run_lossy(cfg: LossyConfig) -> Result:
    single_thread()
    pair = load_pair(cfg.pair, device=cfg.device)
    prompts = validation_prompts(pair, cfg.rows, cfg.prompt_len, rng(cfg.seed, "lossy", "prompts"))
    p, q = target_contexts(pair, prompts, cfg.new_tokens, cfg.seed)
    progress = bar(len(cfg.kinds) * len(cfg.epsilons) + (2 if cfg.chi_rows else 0), "specdec.lossy", unit="setting")
    try:
        kinds = {}
        for kind in cfg.kinds:
            kinds[kind] = {}
            for e in cfg.epsilons:
                kinds[kind][eps_key(e)] = lossy_point(pair, prompts, p, q, kind, e, cfg)
                progress.update(1)
        at_one = at_lossy = None
        if cfg.chi_rows:
            at_one = chi_test(pair, cfg, 1.0)
            progress.update(1)
            at_lossy = chi_test(pair, cfg, cfg.chi_epsilon)
            progress.update(1)
    finally:
        progress.close()
    return Result("specdec.lossy", config_dict(cfg), LossySummary(kinds=kinds, exact_at_one=at_one,
                                                                 exact_at_lossy=at_lossy), {})


def summarize_lossy(res: Result) -> str:
    s: LossySummary = res.summary
    lines = [("lenient acceptance min(1, f(p, eps) / q): acceptance and block efficiency against the quality cost "
              "TV(emitted law, p)"),
             f"{'lenience':<12} {'eps':>5} {'accept':>7} {'predicted':>9} {'tau':>6} {'TV to p':>8}"]
    for kind, points in s.kinds.items():
        for pt in points.values():
            lines.append(f"{kind:<12} {pt.epsilon:>5.2f} {pt.acceptance:>7.3f} {pt.predicted_acceptance:>9.3f} "
                         f"{pt.tau:>6.3f} {pt.quality_tv:>8.4f}")
    for label, t in (("eps = 1", s.exact_at_one), ("lossy eps", s.exact_at_lossy)):
        if t is not None:
            lines.append(f"first two tokens against the exact law, {label}: X^2/dof = {t.reduced:.2f} "
                         f"(dof {t.dof}, p = {t.p_value:.2g})")
    return "\n".join(lines)


LOSSY = Experiment(paper="specdec", name="lossy",
                   description="lenience functions trade exactness for acceptance (lossy speculative decoding)",
                   config_cls=LossyConfig, presets={"quick": QUICK, "paper": PAPER},
                   run=run_lossy, summarize=summarize_lossy, summary=LossySummary)
