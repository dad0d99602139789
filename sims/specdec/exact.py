"""`exact`: speculative decoding emits exactly the target's law, and its block efficiency follows the formula when
acceptance is i.i.d.

Two kinds of models (notes, llm_papers.md section 4.5, T4.1-T4.2):
- tabular first-order Markov chains over V tokens (`sims.specdec.tabular`): the exact law of the first k tokens is
  `sequence_law`, and tens of thousands of sequences take a fraction of a second. Cases: a context-free pair
  (first token, gamma 3), a bigram pair with k = 3 tokens tested at gamma 2 (k > gamma: the bonus token falls
  inside the tested prefix) and at gamma 3 (k <= gamma: it does not);
- the trained tiny target/draft pair (`sims.specdec.pair`): the law of the first k = 2 tokens after a held-out
  prompt at temperature 1, with gamma 1 (k > gamma), computed exactly from V + 1 target distributions.

Each case runs the exact sampler and two broken ones (`MODES`): "no_correction" replaces a rejected token by a
fresh draft sample instead of a residual sample (its first-token law is min(p, q) + (1 - alpha) q, not p), and
"draft_bonus" draws the bonus token from the draft (exact on the first gamma tokens, wrong after). The statistic
is Pearson's X^2 over its degrees of freedom (about 1 for an exact sampler).

Block efficiency: tokens emitted per target call against tau = (1 - alpha^(gamma+1)) / (1 - alpha) (Leviathan et
al. 2023), with alpha the measured acceptance rate, on the context-free pair (i.i.d. acceptance, where the
formula is exact in expectation) and on a bigram pair whose draft is right in half of the contexts and wrong in
the other half (acceptance 1 or 0 by context: the formula at the mean alpha no longer describes it; by
convexity of tau in alpha it underestimates).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, single_thread
from theory import specdec as theory

from . import tabular
from .contexts import (
    ChiSquareTest,
    first_tokens_law,
    goodness_of_fit,
    prefix_counts,
    validation_prompts,
)
from .pair import load_pair, pair_spec
from .sampler import speculative_generate

MODES = ("exact", "no_correction", "draft_bonus")
# (name, context-free?, tokens tested k, gamma)
TABULAR_CASES = (("context_free", True, 1, 3), ("bigram_k3_gamma2", False, 3, 2), ("bigram_k3_gamma3", False, 3, 3))
LM_CASE = ("lm_k2_gamma1", 2, 1)


@dataclass(frozen=True)
class ExactConfig:
    """vocab: tokens of the tabular chains; target_concentration / draft_concentration: Dirichlet concentration
    of their rows (smaller: peakier); n_seqs: sequences per tabular chi-square test; block_seqs, block_tokens:
    sequences and tokens per sequence of the block-efficiency runs; gamma: draft tokens per block of those runs;
    lm: also test the trained tiny pair; pair: its preset (sims.specdec.pair.PAIRS); lm_rows: sequences drawn
    for its test, lm_batch at a time; prompt_len: characters of the held-out prompt; device: where the models
    run; seed: chains, prompt and draws."""

    vocab: int = 6
    target_concentration: float = 1.0
    draft_concentration: float = 1.0
    n_seqs: int = 30000
    block_seqs: int = 2000
    block_tokens: int = 64
    gamma: int = 3
    lm: bool = True
    pair: str = "quick"
    lm_rows: int = 6000
    lm_batch: int = 1000
    prompt_len: int = 24
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("vocab", self.vocab, 4)
        if self.vocab > 12:
            raise validate.ConfigError(f"vocab must be at most 12 (the 3-token law has vocab^3 cells); got "
                                       f"{self.vocab}.")
        validate.positive("target_concentration", self.target_concentration)
        validate.positive("draft_concentration", self.draft_concentration)
        validate.positive_int("n_seqs", self.n_seqs, 100)
        validate.positive_int("block_seqs", self.block_seqs, 10)
        validate.positive_int("block_tokens", self.block_tokens, 2)
        validate.positive_int("gamma", self.gamma)
        pair_spec(self.pair)
        validate.positive_int("lm_rows", self.lm_rows, 100)
        validate.positive_int("lm_batch", self.lm_batch)
        validate.positive_int("prompt_len", self.prompt_len)
        validate.one_of("device", self.device, ("cpu", "cuda", "auto"))
        validate.seed("seed", self.seed)


QUICK = ExactConfig()
PAPER = ExactConfig(n_seqs=200000, block_seqs=10000, lm_rows=40000, lm_batch=4000, pair="paper", device="auto")


@dataclass(frozen=True)
class ExactCase(Summary):
    """One exactness test: the first k emitted tokens of speculative decoding against the exact law.

    k: tokens tested; gamma: draft tokens per block; modes: one ChiSquareTest per sampler mode ("exact",
    "no_correction", "draft_bonus")."""

    k: int
    gamma: int
    modes: dict[str, ChiSquareTest]


@dataclass(frozen=True)
class BlockCase(Summary):
    """Block efficiency of one tabular pair.

    gamma: draft tokens per block; alpha: measured acceptance rate (accepts / attempts);
    alpha_predicted: mean over the attempted positions of sum_x min(p, q) (the acceptance probability given the
    prefix); tau_measured: mean tokens emitted per target call over the blocks not cut by the end of a sequence;
    tau_formula: (1 - alpha^(gamma+1)) / (1 - alpha) at the measured alpha; ratio: tau_measured / tau_formula;
    ratio_se: standard error of the ratio from the spread of the per-block counts; blocks: blocks counted."""

    gamma: int
    alpha: float
    alpha_predicted: float
    tau_measured: float
    tau_formula: float
    ratio: float
    ratio_se: float
    blocks: int


@dataclass(frozen=True)
class ExactSummary(Summary):
    """The `exact` experiment.

    cases: one ExactCase per test ("context_free", "bigram_k3_gamma2", "bigram_k3_gamma3", and "lm_k2_gamma1"
    when the tiny pair is tested); iid: block efficiency on the context-free pair; non_iid: on the bigram pair
    whose acceptance is 1 or 0 by context; lm_acceptance: accepts over predicted accepts of the exact sampler in
    the tiny pair's test (NaN without it)."""

    cases: dict[str, ExactCase]
    iid: BlockCase
    non_iid: BlockCase
    lm_acceptance: float


def tabular_pair(cfg: ExactConfig, context_free: bool) -> tuple[tabular.Chain, tabular.Chain]:
    """A random target and draft chain (the seed's, one pair per kind)."""
    kind = "context-free" if context_free else "bigram"
    target = tabular.random_chain(cfg.vocab, cfg.target_concentration, rng(cfg.seed, "exact", kind, "target"),
                                  context_free=context_free)
    draft = tabular.random_chain(cfg.vocab, cfg.draft_concentration, rng(cfg.seed, "exact", kind, "draft"),
                                 context_free=context_free)
    return target, draft


def half_right_pair(vocab: int, gen: np.random.Generator) -> tuple[tabular.Chain, tabular.Chain]:
    """A bigram target and draft whose acceptance is 1 after the first half of the tokens (the draft's row is the
    target's) and 0 after the second half (the target's row lives on the first half of the tokens, the draft's on
    the second)."""
    half = vocab // 2
    trans = gen.dirichlet(np.ones(vocab), size=vocab)
    draft = trans.copy()
    for r in range(half, vocab):
        trans[r] = 0.0
        trans[r, :half] = gen.dirichlet(np.ones(half))
        draft[r] = 0.0
        draft[r, half:] = gen.dirichlet(np.ones(vocab - half))
    init = np.full(vocab, 1.0 / vocab)
    return tabular.Chain(init, trans), tabular.Chain(init, draft)


def tabular_case(cfg: ExactConfig, name: str, context_free: bool, k: int, gamma: int) -> ExactCase:
    target, draft = tabular_pair(cfg, context_free)
    law = tabular.sequence_law(target, k)
    modes = {}
    for mode in MODES:
        run = tabular.speculative(target, draft, gamma, cfg.n_seqs, k, rng(cfg.seed, "exact", name, mode),
                                  mode=mode)
        modes[mode] = goodness_of_fit(prefix_counts(run.tokens.tolist(), k, cfg.vocab), law)
    return ExactCase(k=k, gamma=gamma, modes=modes)


def block_case(cfg: ExactConfig, target: tabular.Chain, draft: tabular.Chain, stream: str) -> BlockCase:
    run = tabular.speculative(target, draft, cfg.gamma, cfg.block_seqs, cfg.block_tokens, rng(cfg.seed, stream))
    per_block = run.accepted[run.full].astype(float) + 1.0
    alpha = run.acceptance_rate
    tau = float(per_block.mean())
    formula = float(theory.block_efficiency(alpha, cfg.gamma))
    se = float(per_block.std(ddof=1) / np.sqrt(per_block.size)) / formula
    return BlockCase(gamma=cfg.gamma, alpha=float(alpha), alpha_predicted=float(run.predicted_accepts / run.attempts),
                     tau_measured=tau, tau_formula=formula, ratio=tau / formula, ratio_se=se,
                     blocks=int(per_block.size))


def lm_case(cfg: ExactConfig) -> tuple[ExactCase, float]:
    """The tiny pair's first two tokens after one held-out prompt, gamma 1; and the exact sampler's accepts over
    predicted accepts."""
    _, k, gamma = LM_CASE
    pair = load_pair(cfg.pair, device=cfg.device)
    prompt = validation_prompts(pair, 1, cfg.prompt_len, rng(cfg.seed, "exact", "prompt"))[0]
    law = first_tokens_law(pair.target_lm, prompt, k)
    modes, ratio = {}, float("nan")
    progress = bar(len(MODES) * cfg.lm_rows, "specdec.exact (tiny pair)", unit="seq")
    for mode in MODES:
        tokens, accepts, predicted = [], 0, 0.0
        for i, start in enumerate(range(0, cfg.lm_rows, cfg.lm_batch)):
            rows = min(cfg.lm_batch, cfg.lm_rows - start)
            run = speculative_generate(pair.target_lm, pair.draft_lm, [prompt] * rows, k, gamma, temperature=1.0,
                                       generator=generator(cfg.seed, "exact", "lm", mode, i), mode=mode)
            tokens += run.tokens
            accepts += run.accepts
            predicted += run.predicted_accepts
            progress.update(rows)
        modes[mode] = goodness_of_fit(prefix_counts(tokens, k, pair.target_lm.vocab_size), law)
        if mode == "exact":
            ratio = accepts / predicted
    progress.close()
    return ExactCase(k=k, gamma=gamma, modes=modes), ratio


def run_exact(cfg: ExactConfig) -> Result:
    single_thread()
    cases = {name: tabular_case(cfg, name, cf, k, g) for name, cf, k, g in TABULAR_CASES}
    iid = block_case(cfg, *tabular_pair(cfg, True), "iid-blocks")
    non_iid = block_case(cfg, *half_right_pair(cfg.vocab, rng(cfg.seed, "exact", "half-right")), "non-iid-blocks")
    lm_ratio = float("nan")
    if cfg.lm:
        cases[LM_CASE[0]], lm_ratio = lm_case(cfg)
    summary = ExactSummary(cases=cases, iid=iid, non_iid=non_iid, lm_acceptance=lm_ratio)
    return Result("specdec.exact", config_dict(cfg), summary, {})


def summarize_exact(res: Result) -> str:
    s: ExactSummary = res.summary
    lines = ["exactness: X^2/dof of the first k emitted tokens against the exact law (about 1 when exact)",
             f"{'case':<18} {'k':>2} {'gamma':>5} " + " ".join(f"{m:>22}" for m in MODES)]
    for name, case in s.cases.items():
        cols = " ".join(f"{t.reduced:>10.2f} (p={t.p_value:.1e})" for t in case.modes.values())
        lines.append(f"{name:<18} {case.k:>2} {case.gamma:>5} {cols}")
    lines.append("block efficiency: tokens per target call against (1 - a^(g+1)) / (1 - a) at the measured a")
    for label, b in (("i.i.d. (context-free)", s.iid), ("non-i.i.d. (half right)", s.non_iid)):
        lines.append(f"  {label:<24} gamma {b.gamma}  alpha {b.alpha:.4f}  tau {b.tau_measured:.4f} vs formula "
                     f"{b.tau_formula:.4f}  ratio {b.ratio:.4f} +- {b.ratio_se:.4f} ({b.blocks} blocks)")
    if np.isfinite(s.lm_acceptance):
        lines.append(f"tiny pair: accepts / sum of min(p, q) over attempted positions = {s.lm_acceptance:.4f}")
    return "\n".join(lines)


EXACT = Experiment(paper="specdec", name="exact",
                   description="speculative decoding emits the target's law (chi-square; broken samplers as "
                               "controls) and its block efficiency follows the i.i.d. formula",
                   config_cls=ExactConfig, presets={"quick": QUICK, "paper": PAPER},
                   run=run_exact, summarize=summarize_exact, summary=ExactSummary)
