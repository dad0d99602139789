"""DistillSpec on tiny language models: a draft distilled toward the target with each divergence on each data
source, and the speculative-decoding acceptance rate of each resulting draft.

Zhou et al., "DistillSpec: Improving Speculative Decoding via Knowledge Distillation" (arXiv 2310.08461; the
method as the research notes, section 4.2, give it): train the draft q_theta to minimise E_{(x, y) ~ G} (1/|y|) sum_t D(p || q_theta)(y_t | x, y_<t) (their Eq. 2,
token-averaged) for a divergence D (forward KL, reverse KL, JSD[beta], TVD; `losses`) and a data source G:

- "fixed": `pool_size` windows of the corpus's training text, each a prompt followed by the text's own next
  characters (a fixed data set);
- "target": responses sampled from the target (at `temperature`) for `pool_size` training-text prompts, generated
  once before training (the paper's offline teacher data);
- "onpolicy": responses sampled from the draft being trained; every `onpolicy_every` steps a fresh set of
  onpolicy_every x batch_size responses is drawn from the current draft and used up over the next steps
  (onpolicy_every = 1, the default: every batch comes from the current draft).

Batches of the two fixed pools are drawn uniformly with replacement; the target's distributions along a pool are
computed once and shared by every divergence, and every divergence trained on the same source sees the same
batches (the draws depend on the seed and the source only), so the divergences are compared on equal data.
Every setting starts from the same draft trained on the corpus with cross-entropy (`pair.load_pair`) and gets
`steps` AdamW steps. Two baselines share the summary: "none" (the draft as trained, standard speculative decoding)
and "ce" (the draft trained `steps` more steps with cross-entropy on the "fixed" pool, with the same batches: the
same extra compute without the target, so a gain of distillation is not just more training).

Evaluation [ours, following Leviathan et al. 2023, Sec. 3 and the paper's two decoding modes] on prompts from the
validation text: at temperature 1 the contexts are target samples (the law speculative decoding emits) and the
acceptance rate is the mean over positions of sum_x min(p, q) = 1 - TV(p, q); under greedy decoding the contexts
are the target's greedy continuations and a draft token is accepted when argmax q = argmax p. Block efficiency
tau = (1 - alpha^(gamma+1)) / (1 - alpha) (Leviathan et al., Eq. 1). The on-policy bound (the paper's Theorem on
TVD distillation; proof sketch in the research notes): with eps the mean per-token TV along draft-sampled
continuations of length T = t_bound, the mean acceptance over the first T positions of target-sampled
continuations satisfies alpha >= 1 - T eps; both sides are reported with the slack.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.errors import ConfigError
from sims.engine.lm.decode import continuation_logprobs
from sims.engine.lm.model import CausalLM, TinyLM
from sims.engine.lm.train import evaluate
from sims.engine.nets import n_params
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, single_thread
from theory import specdec as theory

from . import losses
from .data import (
    Batch,
    build_pools,
    corpus_ids,
    even_windows,
    make_source,
    response_logprobs,
    sample,
)
from .pair import PAIRS, PermutedLM, load_pair, pair_spec

SOURCES = ("fixed", "target", "onpolicy")
TEACHERS = ("target", "permuted")
BASELINES = ("none", "ce")

@dataclass(frozen=True)
class DistillConfig:
    """pair: the target/draft preset of `pair.PAIRS`; target_seed: the target's training seed (the same target
    for every seed); seed: the draft's training seed and every draw of the distillation and the evaluation;
    divergences: which of fkl, rkl, jsd, tvd to distil with; data: which sources (fixed, target, onpolicy);
    jsd_beta: the JSD weight beta in (0, 1); steps, batch_size, lr, warmup, weight_decay, grad_clip: AdamW steps
    per setting (lr warmed up linearly over `warmup` steps, then constant); prompt_len, response_len: characters
    of prompt and of response per training example; temperature: sampling temperature of the target- and
    draft-generated data; pool_size: (prompt, response) pairs in each fixed pool (corpus windows;
    target-generated); onpolicy_every: steps between regenerations of on-policy data; eval_prompts: validation
    prompts; eval_len: continuation length for the acceptance rates; gammas: block lengths for tau; t_bound:
    length T of the on-policy bound check; val_windows: validation windows for each draft's loss; teacher: whom
    the draft is distilled toward: "target", or "permuted" (the target with its output characters permuted,
    `pair.PermutedLM`: a teacher that is not the target, the negative control; evaluation is always against the
    target); device: cpu, cuda or auto."""

    pair: str = "quick"
    target_seed: int = 0
    seed: int = 0
    divergences: tuple[str, ...] = losses.DIVERGENCES
    data: tuple[str, ...] = SOURCES
    jsd_beta: float = 0.5
    steps: int = 250
    batch_size: int = 32
    prompt_len: int = 32
    response_len: int = 32
    lr: float = 1e-3
    warmup: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    temperature: float = 1.0
    pool_size: int = 2048
    onpolicy_every: int = 1
    eval_prompts: int = 128
    eval_len: int = 32
    gammas: tuple[int, ...] = (1, 2, 3, 5)
    t_bound: int = 2
    val_windows: int = 64
    teacher: str = "target"
    device: str = "cpu"

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        validate.one_of("pair", self.pair, tuple(PAIRS))
        validate.seed("target_seed", self.target_seed)
        validate.seed("seed", self.seed)
        _names("divergences", self.divergences, losses.DIVERGENCES)
        _names("data", self.data, SOURCES)
        validate.probability("jsd_beta", self.jsd_beta, open_low=True, open_high=True)
        for name in ("steps", "batch_size", "prompt_len", "response_len", "pool_size", "onpolicy_every",
                     "eval_prompts", "eval_len", "t_bound", "val_windows"):
            validate.positive_int(name, getattr(self, name))
        validate.positive("lr", self.lr)
        validate.positive_int("warmup", self.warmup, 0)
        validate.non_negative("weight_decay", self.weight_decay)
        validate.positive("grad_clip", self.grad_clip)
        validate.positive("temperature", self.temperature)
        validate.each(validate.positive_int, "gammas", self.gammas)
        if len(set(self.gammas)) != len(self.gammas):
            raise ConfigError(f"gammas must not repeat a value; got {', '.join(map(str, self.gammas))}.")
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))
        validate.one_of("teacher", self.teacher, TEACHERS)
        spec = pair_spec(self.pair)
        seq_len = min(spec.target.seq_len, spec.draft.seq_len)
        if self.prompt_len + self.response_len > seq_len:
            raise ConfigError(f"prompt_len + response_len must be at most the pair's seq_len={seq_len}; got "
                              f"{self.prompt_len} + {self.response_len}.")
        if self.prompt_len + self.eval_len > seq_len:
            raise ConfigError(f"prompt_len + eval_len must be at most the pair's seq_len={seq_len}; got "
                              f"{self.prompt_len} + {self.eval_len}.")
        if self.t_bound > self.eval_len:
            raise ConfigError(f"t_bound must be at most eval_len={self.eval_len}; got {self.t_bound}.")


def _names(field: str, values: tuple[str, ...], choices: tuple[str, ...]) -> None:
    """A non-empty tuple of distinct names from `choices`, or a ConfigError naming `field`."""
    if isinstance(values, str):
        raise ConfigError(f"{field} must be a tuple of names from {', '.join(choices)}; got the string {values!r}.")
    validate.non_empty(field, values)
    for v in values:
        validate.one_of(field, v, choices)
    if len(set(values)) != len(values):
        raise ConfigError(f"{field} must not repeat a name; got {', '.join(values)}.")


# quick: 12 distilled settings + ce of 250 steps each, about 3-4 minutes per seed on one core once the pair is
# trained; paper: a GPU
QUICK = DistillConfig()
PAPER = DistillConfig(pair="paper", steps=1000, batch_size=64, prompt_len=64, response_len=64, lr=1e-3,
                      pool_size=8192, eval_prompts=512, eval_len=64, val_windows=256, device="auto")


@dataclass(frozen=True)
class Setting(Summary):
    """One draft of the `distill` experiment (a divergence on a data source, or a baseline), evaluated against the
    target on validation prompts.

    acceptance_t1: mean over positions of sum_x min(p, q) along target samples at temperature 1 (alpha);
    acceptance_greedy: fraction of positions along the target's greedy continuations where argmax q = argmax p;
    tau_t1: block efficiency (1 - alpha^(gamma+1)) / (1 - alpha) at acceptance_t1, keyed by gamma;
    tau_greedy: the same at acceptance_greedy;
    eps_onpolicy: mean per-token TV(p, q) along draft-sampled continuations of length t_bound (the on-policy
    TVD loss eps of the bound);
    alpha_seq: mean acceptance sum_x min(p, q) over the first t_bound positions of the target samples;
    bound: 1 - t_bound * eps_onpolicy, the lower bound on alpha_seq;
    slack: alpha_seq - bound (>= 0 when the bound holds);
    val_loss: the draft's cross-entropy on validation text (nats/char, val_windows windows);
    loss_first: training loss at the first step (the divergence; cross-entropy for "ce"; NaN for "none");
    loss_final: mean training loss over the last tenth of the steps (NaN for "none");
    steps: training steps taken (0 for "none");
    wall_s: seconds spent on this setting (on-policy data, training and evaluation; the shared pools are in
    DistillSummary.setup_s)."""

    acceptance_t1: float
    acceptance_greedy: float
    tau_t1: dict[int, float]
    tau_greedy: dict[int, float]
    eps_onpolicy: float
    alpha_seq: float
    bound: float
    slack: float
    val_loss: float
    loss_first: float
    loss_final: float
    steps: int
    wall_s: float


@dataclass(frozen=True)
class DistillSummary(Summary):
    """The `distill` experiment: drafts distilled toward the target, and their acceptance rates.

    target_val_loss: the target's validation loss (nats/char, whole validation text);
    draft_val_loss: the undistilled draft's validation loss (nats/char, whole validation text);
    target_params: the target's parameter count;
    draft_params: the draft's parameter count;
    unigram_entropy: entropy of the validation text's character distribution (nats/char);
    eval_positions: positions scored per acceptance rate (eval_prompts x eval_len);
    settings: one Setting per draft, keyed "divergence/source" (e.g. "fkl/onpolicy"), "none" and "ce";
    best_t1: the key of the distilled setting with the highest acceptance_t1;
    best_greedy: the key of the distilled setting with the highest acceptance_greedy;
    setup_s: seconds spent building the fixed pools (the target's samples and distributions) and the evaluation
    set, shared by all settings."""

    target_val_loss: float
    draft_val_loss: float
    target_params: int
    draft_params: int
    unigram_entropy: float
    eval_positions: int
    settings: dict[str, Setting]
    best_t1: str
    best_greedy: str
    setup_s: float


# ---------------------------------------------------------------------------------------------------------------
# training


def distill_loss(draft: TinyLM, prompts: list[list[int]], responses: list[list[int]], logp: torch.Tensor,
                 divergence: str, beta: float) -> torch.Tensor:
    """DistillSpec's loss on one batch: D(p || q_theta) averaged over the response positions, p the target's
    distributions logp [B, R, V] (no gradient)."""
    logq = response_logprobs(draft, prompts, responses, grad=True)
    mask = torch.ones(logq.shape[:2], dtype=torch.bool, device=logq.device)
    return losses.divergence_loss(divergence, logp.to(logq.device), logq, mask, beta)


def ce_loss(draft: TinyLM, prompts: list[list[int]], responses: list[list[int]]) -> torch.Tensor:
    """Mean negative log-likelihood of the response tokens under the draft (the "ce" baseline)."""
    values, mask = continuation_logprobs(draft, prompts, responses, grad=True)
    return -values.sum() / mask.sum()


def train_draft(draft: TinyLM, batches: Callable[[int, TinyLM], Batch], loss_fn: Callable[..., torch.Tensor],
                cfg: DistillConfig, name: str, progress=None) -> list[float]:
    """`cfg.steps` AdamW steps (lr warmed up over cfg.warmup steps, then constant) on draft, in place, with
    loss_fn(prompts, responses, logp) of each step's batch; the losses."""
    module = draft.module
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    out = []
    module.train()
    try:
        for step in range(cfg.steps):
            loss = loss_fn(*batches(step, draft))
            check_finite(f"the {name} training loss", loss.detach(), step=step, hint="Lower lr.")
            for group in opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else cfg.lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            out.append(float(loss.detach()))
            if progress is not None:
                progress.update(1)
    finally:
        module.eval()
    return out


# ---------------------------------------------------------------------------------------------------------------
# evaluation


@dataclass
class EvalSet:
    """What every draft is scored on: prompts from the validation text; sampled: the target's temperature-1
    continuations and logp_sampled [B, L, V] its distributions along them; greedy: the target's greedy
    continuations and argmax_greedy [B, L] its argmax along them; val_ids: the validation text."""

    prompts: list[list[int]]
    sampled: list[list[int]]
    logp_sampled: torch.Tensor
    greedy: list[list[int]]
    argmax_greedy: torch.Tensor
    val_ids: torch.Tensor


def eval_set(target: TinyLM, val_ids: torch.Tensor, cfg: DistillConfig) -> EvalSet:
    """The evaluation prompts and the target's continuations and distributions along them (computed once)."""
    prompts = even_windows(val_ids, cfg.eval_prompts, cfg.prompt_len)
    sampled = sample(target, prompts, cfg.eval_len, 1.0, generator(cfg.seed, "distill-eval", "target"))
    greedy = sample(target, prompts, cfg.eval_len, 0.0, None)
    with torch.no_grad():
        logp = response_logprobs(target, prompts, sampled)
        arg = response_logprobs(target, prompts, greedy).argmax(-1)
    return EvalSet(prompts, sampled, logp, greedy, arg, val_ids)


def onpolicy_tv(target: TinyLM, draft: TinyLM, prompts: list[list[int]], length: int, seed: int) -> float:
    """eps: the mean per-token TV(p, q) along `length`-token continuations sampled from the draft (temperature 1)."""
    conts = sample(draft, prompts, length, 1.0, generator(seed, "distill-eval", "onpolicy"))
    with torch.no_grad():
        tv = losses.tvd(response_logprobs(target, prompts, conts), response_logprobs(draft, prompts, conts))
    return float(tv.mean())


def score(target: TinyLM, draft: TinyLM, ev: EvalSet, cfg: DistillConfig, trained: list[float],
          seconds: float) -> Setting:
    """Evaluate a draft against the target (see the module docstring); trained: its training losses."""
    start = time.perf_counter()
    with torch.no_grad():
        acc = losses.acceptance(ev.logp_sampled, response_logprobs(draft, ev.prompts, ev.sampled))
        greedy = (response_logprobs(draft, ev.prompts, ev.greedy).argmax(-1) == ev.argmax_greedy).float()
        net = draft.module
        val = evaluate(net, ev.val_ids, net.max_len, cfg.val_windows, cfg.batch_size, draft.device)
    alpha_t1, alpha_greedy = float(acc.mean()), float(greedy.mean())
    eps = onpolicy_tv(target, draft, ev.prompts, cfg.t_bound, cfg.seed)
    alpha_seq = float(acc[:, :cfg.t_bound].mean())
    bound = 1.0 - cfg.t_bound * eps
    tail = trained[-max(1, len(trained) // 10):] if trained else []
    return Setting(acceptance_t1=alpha_t1, acceptance_greedy=alpha_greedy,
                   tau_t1={g: float(theory.block_efficiency(alpha_t1, g)) for g in cfg.gammas},
                   tau_greedy={g: float(theory.block_efficiency(alpha_greedy, g)) for g in cfg.gammas},
                   eps_onpolicy=eps, alpha_seq=alpha_seq, bound=bound, slack=alpha_seq - bound, val_loss=val,
                   loss_first=trained[0] if trained else math.nan,
                   loss_final=float(np.mean(tail)) if tail else math.nan, steps=len(trained),
                   wall_s=seconds + time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------------
# the experiment


def setting_keys(cfg: DistillConfig) -> list[str]:
    """The distilled settings of a config, "divergence/source", in run order."""
    return [f"{d}/{s}" for s in cfg.data for d in cfg.divergences]


def distill_draft(draft: TinyLM, key: str, source, cfg: DistillConfig, progress=None) -> tuple[TinyLM, list[float]]:
    """A copy of draft trained for setting `key` ("divergence/source" or "ce") on batches of `source` (a
    PoolSource or OnPolicySource), and its training losses."""
    student = copy.deepcopy(draft)
    if key == "ce":
        def loss_fn(prompts, responses, logp):
            return ce_loss(student, prompts, responses)
    else:
        divergence = key.split("/")[0]

        def loss_fn(prompts, responses, logp):
            return distill_loss(student, prompts, responses, logp, divergence, cfg.jsd_beta)
    return student, train_draft(student, source.batch, loss_fn, cfg, key, progress)


def run_settings(target: TinyLM, draft: TinyLM, cfg: DistillConfig, train_ids: torch.Tensor,
                 val_ids: torch.Tensor, teacher: CausalLM | None = None
                 ) -> tuple[dict[str, Setting], dict[str, np.ndarray], float]:
    """Every setting of cfg plus the baselines for a given target and (undistilled) draft: their Settings, the
    training-loss curves and the seconds spent building the pools and the evaluation set. "ce" trains on the
    "fixed" pool, with the same batches as the distillations on it. teacher: whom the draft is distilled toward
    (default the target); the drafts are always scored against the target."""
    teacher = target if teacher is None else teacher
    start = time.perf_counter()
    ev = eval_set(target, val_ids, cfg)
    pools = build_pools(teacher, train_ids, cfg)
    setup = time.perf_counter() - start
    keys = setting_keys(cfg)
    progress = bar(cfg.steps * (len(keys) + 1), "specdec.distill")
    settings, curves = {"none": score(target, draft, ev, cfg, [], 0.0)}, {}
    try:
        for key in ["ce"] + keys:
            start = time.perf_counter()
            source = make_source("fixed" if key == "ce" else key.split("/")[1], teacher, train_ids, cfg, pools)
            student, trained = distill_draft(draft, key, source, cfg, progress)
            settings[key] = score(target, student, ev, cfg, trained, time.perf_counter() - start)
            curves[f"loss/{key}"] = np.asarray(trained)
    finally:
        progress.close()
    return settings, curves, setup


def _best(settings: dict[str, Setting], field: str) -> str:
    keys = [k for k in settings if k not in BASELINES]
    return max(keys, key=lambda k: getattr(settings[k], field)) if keys else ""


def run_distill(cfg: DistillConfig, root=None) -> Result:
    """Train (or load) the pair, distil the draft in every setting of cfg, evaluate; root: checkpoint cache."""
    cfg.validate()
    single_thread()
    pair = load_pair(cfg.pair, cfg.target_seed, cfg.seed, cfg.device, root)
    train_ids, val_ids = corpus_ids(pair)
    teacher = PermutedLM(pair.target_lm, cfg.seed) if cfg.teacher == "permuted" else None
    settings, curves, setup = run_settings(pair.target_lm, pair.draft_lm, cfg, train_ids, val_ids, teacher)
    summary = DistillSummary(target_val_loss=float(pair.target.val_loss), draft_val_loss=float(pair.draft.val_loss),
                             target_params=n_params(pair.target_lm.module), draft_params=n_params(pair.draft_lm.module),
                             unigram_entropy=float(pair.target.unigram_entropy),
                             eval_positions=cfg.eval_prompts * cfg.eval_len, settings=settings,
                             best_t1=_best(settings, "acceptance_t1"), best_greedy=_best(settings, "acceptance_greedy"),
                             setup_s=setup)
    return Result("specdec.distill", config_dict(cfg), summary, curves)


def summarize_distill(res: Result) -> str:
    """A table, one row per draft: acceptance (t=1, greedy), tau at gamma 3 (or the largest gamma), the on-policy
    eps, the bound 1 - T eps on alpha over T tokens, its slack, validation loss and final training loss."""
    s: DistillSummary = res.summary
    cfg = res.config
    gammas = [int(g) for g in cfg["gammas"]]
    g = 3 if 3 in gammas else max(gammas)
    t = cfg["t_bound"]
    head = (f"pair {cfg['pair']}: target {s.target_params:,} parameters, val loss {s.target_val_loss:.3f} "
            f"nats/char; draft {s.draft_params:,} parameters, val loss {s.draft_val_loss:.3f} (unigram entropy "
            f"{s.unigram_entropy:.3f}); {cfg['steps']} steps x batch {cfg['batch_size']} per setting, seed "
            f"{cfg['seed']}; {s.eval_positions} scored positions")
    columns = (f"{'setting':<14} {'acc t=1':>7} {'greedy':>7} {f'tau{g} t=1':>9} {f'tau{g} gr':>8} "
               f"{'eps':>6} {f'alpha{t}':>7} {f'1-{t}eps':>7} {'slack':>6} {'val':>6} {'loss':>7} {'s':>5}")
    lines = [head, columns]
    for key, r in s.settings.items():
        lines.append(f"{key:<14} {r.acceptance_t1:>7.4f} {r.acceptance_greedy:>7.4f} {r.tau_t1[g]:>9.3f} "
                     f"{r.tau_greedy[g]:>8.3f} {r.eps_onpolicy:>6.4f} {r.alpha_seq:>7.4f} {r.bound:>7.4f} "
                     f"{r.slack:>6.3f} {r.val_loss:>6.3f} {r.loss_final:>7.4f} {r.wall_s:>5.1f}")
    lines.append(f"best distilled draft: {s.best_t1} at t=1, {s.best_greedy} greedy; pools and evaluation set "
                 f"built in {s.setup_s:.1f} s")
    return "\n".join(lines)


DISTILL = Experiment(paper="specdec", name="distill",
                     description="DistillSpec: a tiny draft distilled toward the target with FKL, RKL, JSD, TVD on "
                                 "fixed, target-generated and on-policy data; acceptance rates and block efficiency",
                     config_cls=DistillConfig, presets={"quick": QUICK, "paper": PAPER},
                     run=run_distill, summarize=summarize_distill, summary=DistillSummary)
