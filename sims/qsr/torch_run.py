"""The QSR paper's comparison on real processes: data-parallel training against Local SGDM / Local AdamW with a
constant H, H proportional to 1/eta and the quadratic rule, every worker its own process (torch.distributed).

Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning" (ICLR 2024,
arXiv 2310.14423), Sec. 2 (the rule) and Sec. 4 / Table 4 (wall time). As in the official code (research notes,
shared/papers/localsgd_qsr_momentum.md 1.6): the data-parallel baseline all-reduces the flat gradient every step and
then steps the inner optimizer; the local methods step the inner optimizer on the local gradient and average the
flat parameters after each round of H steps; optimizer states (momentum, Adam moments) are never averaged. H is set
from the learning rate of the round's first step by `theory.qsr.SyncRule` (the official `adjust_h`), under a cosine
schedule with linear warm-up (`theory.qsr.LRSchedule`, the official `xscheduler.py`).

Task: scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes, shipped in the scikit-learn wheel;
`sims.engine.data.digits`), a small GELU MLP. K processes (engine `spawn`, or torchrun), one worker each; every rank
draws its own minibatches of B_loc (its own seeded shuffle), all ranks start from the same weights, and every rule
starts from that same initialisation and sees the same batch order (common random numbers across rules).

Measured per rule on the averaged model: test accuracy and loss, train loss, sharpness (top Hessian eigenvalue of the
train loss on a fixed subset, power iteration with Hessian-vector products from a seeded start vector), the number
of all-reduces (checked against `theory.qsr.replay`, round by round), the wall time of the training loop (evaluation
excluded), the time spent inside all-reduce calls and the rest (compute). Communication model (research notes
1.7 Q5) [ours as a test of it]: before the rules, each run calibrates t_compute (one local step without
communication) and t_comm (one flat all-reduce of the model's parameters) and predicts every rule's wall time as
`theory.qsr.wall_time(steps, rounds, t_compute, t_comm)`.

At this scale (a 10-class MLP, a few thousand steps) the accuracy differences between rules are not the paper's
ImageNet effect and no claim should rest on them (the paper's Appendix D reports no QSR effect for short runs, as
reviewers quote it); the round counts, the rank agreement and the wall-time model are what this run checks.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.errors import ConfigError
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, seeded, single_thread
from theory import qsr as theory

OPTIMIZERS = ("sgdm", "adamw")


def validate_recipe(cfg, optimizers: tuple[str, ...], peak: float, peak_name: str) -> None:
    """The fields the torch run and the equivalence check (`sims.qsr.equivalence`) share: the optimizer (one of
    `optimizers`), width, local batch, the cosine schedule with its warm-up (warmup_start and final_lr at most the
    peak learning rate `peak`, the field `peak_name`), momentum, weight decay, label smoothing, QSR's h_base and
    alpha; each a one-sentence ConfigError naming the field."""
    validate.one_of("optimizer", cfg.optimizer, optimizers)
    validate.positive_int("width", cfg.width, 1)
    validate.positive_int("local_batch", cfg.local_batch, 1)
    validate.positive_int("steps", cfg.steps, 2)
    validate.positive_int("warmup", cfg.warmup, 0)
    if cfg.warmup >= cfg.steps:
        raise ConfigError(f"steps must exceed warmup (the cosine decay needs steps after the warm-up); got "
                          f"steps={cfg.steps}, warmup={cfg.warmup}.")
    validate.positive("lr", cfg.lr)
    validate.positive("warmup_start", cfg.warmup_start)
    if cfg.warmup_start > peak:
        raise ConfigError(f"warmup_start must not exceed the peak learning rate {peak_name}; got "
                          f"warmup_start={cfg.warmup_start}, {peak_name}={peak}.")
    validate.non_negative("final_lr", cfg.final_lr)
    if cfg.final_lr > peak:
        raise ConfigError(f"final_lr must not exceed the peak learning rate {peak_name}; got "
                          f"final_lr={cfg.final_lr}, {peak_name}={peak}.")
    validate.probability("momentum", cfg.momentum, open_high=True)
    validate.non_negative("weight_decay", cfg.weight_decay)
    validate.probability("label_smoothing", cfg.label_smoothing, open_high=True)
    validate.positive_int("h_base", cfg.h_base, 1)
    validate.positive("alpha", cfg.alpha)
RULES = ("data_parallel", "constant", "inverse_lr", "qsr")
RULE_TITLES = {"data_parallel": "data-parallel", "constant": "constant H", "inverse_lr": "H ~ 1/eta",
               "qsr": "QSR H ~ 1/eta^2"}


@dataclass(frozen=True)
class TorchConfig:
    """optimizer: the inner optimizer of every rule, "sgdm" (SGD with momentum, coupled weight decay) or "adamw"
    (AdamW, betas 0.9 / 0.999, decoupled weight decay); K: workers, one process each; width: hidden units of both
    hidden layers; local_batch: B_loc, each worker's minibatch; steps: steps of every rule; warmup: steps of linear
    warm-up from warmup_start to lr; lr: the peak learning rate; warmup_start: the warm-up's first learning rate;
    final_lr: where the cosine decay ends; momentum: SGDM's momentum; weight_decay: the inner optimizer's weight
    decay; label_smoothing: label smoothing of the training loss (the official ResNet recipe's 0.1; it keeps the
    minimum at a finite margin, so the Hessian at the end does not vanish as a plain cross-entropy's does); h_base:
    H_base of the three local rules (and H during the warm-up, init_h = h_base; the constant rule's H);
    alpha: QSR's alpha, H = max(h_base, floor((alpha/eta)^2)); alpha_power1: the power-1 rule's alpha,
    H = max(h_base, floor(alpha_power1/eta)); n_eval: evaluation points per rule (step 0 and the last step
    included); test_fraction: share of the digits held out for testing; sharpness_points: training points of the
    fixed subset the Hessian is taken on; power_iters: power-iteration steps; calib_steps: local steps (and
    all-reduces) per calibration block; calib_repeats: calibration blocks (the median block is used); seed: the
    seed; device: cpu, cuda or auto (cuda when present)."""

    optimizer: str = "sgdm"
    K: int = 2
    width: int = 64
    local_batch: int = 16
    steps: int = 1500
    warmup: int = 150
    lr: float = 0.05
    warmup_start: float = 5e-4
    final_lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    h_base: int = 4
    alpha: float = 0.11
    alpha_power1: float = 0.22
    n_eval: int = 6
    test_fraction: float = 0.25
    sharpness_points: int = 512
    power_iters: int = 30
    calib_steps: int = 200
    calib_repeats: int = 7
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate_recipe(self, OPTIMIZERS, self.lr, "lr")
        validate.positive_int("K", self.K, 1)
        validate.positive("alpha_power1", self.alpha_power1)
        validate.positive_int("n_eval", self.n_eval, 2)
        validate.probability("test_fraction", self.test_fraction, open_low=True, open_high=True)
        validate.positive_int("sharpness_points", self.sharpness_points, 1)
        validate.positive_int("power_iters", self.power_iters, 1)
        validate.positive_int("calib_steps", self.calib_steps, 1)
        validate.positive_int("calib_repeats", self.calib_repeats, 1)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))

    def schedule(self) -> theory.LRSchedule:
        """The learning rate of the run (paper App.: linear warm-up, then cosine over the remaining steps)."""
        return theory.LRSchedule(kind="cosine", peak=self.lr, total=self.steps, warmup=self.warmup,
                                 warmup_start=self.warmup_start, final=self.final_lr)

    def rules(self) -> dict[str, theory.SyncRule]:
        """The four rules by name; data-parallel is H = 1 (one all-reduce per step, of gradients)."""
        return {"data_parallel": theory.SyncRule.data_parallel(),
                "constant": theory.SyncRule.constant(self.h_base),
                "inverse_lr": theory.SyncRule.inverse_lr(self.alpha_power1, self.h_base),
                "qsr": theory.SyncRule.qsr(self.alpha, self.h_base)}


QUICK = TorchConfig()
# Paper-like: Local AdamW (the paper's ViT recipe: AdamW, weight decay 0.05, H_base = init_h = 4, alpha chosen as
# the ViT recipe's (alpha/eta_peak)^2 = 4.8, i.e. QSR starts at H_base) on 8 workers, longer training.
PAPER = TorchConfig(optimizer="adamw", K=8, width=256, local_batch=32, steps=12_000, warmup=1_000, lr=2e-3,
                    warmup_start=1e-6, final_lr=1e-6, weight_decay=0.05, h_base=4,
                    alpha=2e-3 * (theory.VIT_ALPHA / theory.VIT_PEAK), alpha_power1=2e-3 * 4 * 1.1, n_eval=20,
                    sharpness_points=1024, power_iters=50, calib_steps=200, calib_repeats=7, device="auto")
# for the paper checks' tests: the machinery in seconds (300 steps still hold a warm-up, a cosine and H growing to
# tens of steps), not the quick preset's verdicts
TEST = TorchConfig(steps=300, warmup=30, width=32, n_eval=3, calib_steps=20, calib_repeats=3, power_iters=10,
                   sharpness_points=256)


# ---------------------------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult(Summary):
    """One synchronisation rule at the end of training, on the workers' average (identical on every rank).

    test_acc: test accuracy; test_loss: test cross-entropy (no smoothing); train_loss: the training loss
    (cross-entropy with label_smoothing) on the whole training set; sharpness: top eigenvalue of the training loss's
    Hessian on the fixed subset (power iteration); rounds: all-reduce
    calls the optimizer made (gradients for data-parallel, parameters otherwise); rounds_replay: the count
    `theory.qsr.replay` gives for the rule over the same learning rates; lengths_match: whether every round's H
    equals the replay's, round by round; h_max: the largest H of any round; rank_spread: the largest
    |theta_rank - theta_mean| over ranks and parameters after the last step (0: the ranks hold one model);
    wall_s: measured wall time of the training loop (evaluation excluded), the largest over the ranks; comm_s: time
    inside the optimizer's all-reduce calls, the smallest over the ranks (a rank that finishes its local steps early
    waits inside the all-reduce for the slowest, so the least-waiting rank's time is the closest to the cost of
    communicating); comm_per_round: comm_s / rounds, to set beside the calibrated t_comm; compute_s: wall_s -
    comm_s; predicted_s: `theory.qsr.wall_time(steps, rounds, t_compute,
    t_comm)`; measured_over_predicted: wall_s / predicted_s; wall_vs_data_parallel: wall_s over the data-parallel
    rule's wall_s (measured); predicted_vs_data_parallel: the same ratio of predicted_s."""

    test_acc: float
    test_loss: float
    train_loss: float
    sharpness: float
    rounds: int
    rounds_replay: int
    lengths_match: bool
    h_max: int
    rank_spread: float
    wall_s: float
    comm_s: float
    comm_per_round: float
    compute_s: float
    predicted_s: float
    measured_over_predicted: float
    wall_vs_data_parallel: float
    predicted_vs_data_parallel: float


@dataclass(frozen=True)
class TorchSummary(Summary):
    """Data-parallel against Local (constant H, H ~ 1/eta, QSR) on K real processes (paper Sec. 2, Sec. 4).

    dataset: the data set's name; n_train: training points; n_test: test points; chance: accuracy of guessing the
    most frequent test class; n_params: parameters of the model (floats per parameter all-reduce); batch: the total
    batch K * B_loc; backend: the torch.distributed backend; t_compute: calibrated seconds of one local step without
    communication (median block, the slowest rank: every all-reduce waits for it); t_comm: calibrated seconds of
    one flat all-reduce of n_params floats, back to back (median block, the largest over the ranks); rounds_match:
    every rule's all-reduce count and round lengths equal the replay's;
    rules: per rule (data_parallel, constant, inverse_lr, qsr), its `RuleResult`."""

    dataset: str
    n_train: int
    n_test: int
    chance: float
    n_params: int
    batch: int
    backend: str
    t_compute: float
    t_comm: float
    rounds_match: bool
    rules: dict[str, RuleResult]


# ---------------------------------------------------------------------------------------------------------
# the model and its pieces
# ---------------------------------------------------------------------------------------------------------


def build_model(n_in: int, width: int, n_classes: int, seed: int):
    """Two hidden GELU layers (smooth, so the Hessian is well defined); the initialisation is a function of the seed
    alone, the same on every rank."""
    from torch import nn

    with seeded(seed, "qsr-model"):
        return nn.Sequential(nn.Linear(n_in, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
                             nn.Linear(width, n_classes))


def make_optimizer(cfg: TorchConfig, params):
    """The inner optimizer (the learning rate is set before every step from the schedule)."""
    import torch

    if cfg.optimizer == "sgdm":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay)


class Batches:
    """One rank's minibatch indices: passes over the training set in an order shuffled by its own generator,
    B_loc indices at a time (a pass's leftover shorter than B_loc is dropped)."""

    def __init__(self, n: int, b: int, seed: int, rank: int, device):
        self.n, self.b, self.device = n, b, device
        self.g = generator(seed, "qsr-batches", rank)
        self.order, self.pos = None, n

    def next(self):
        import torch

        if self.pos + self.b > self.n:
            self.order = torch.randperm(self.n, generator=self.g).to(self.device)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.b]
        self.pos += self.b
        return idx


def train_objective(out, y, label_smoothing: float):
    """The training loss: cross-entropy with label smoothing (mean over the batch)."""
    from torch.nn import functional as F

    return F.cross_entropy(out, y, label_smoothing=label_smoothing)


def top_hessian_eigenvalue(model, x, y, iters: int, seed: int, label_smoothing: float = 0.0) -> float:
    """Largest Hessian eigenvalue of the training loss (`train_objective`) of `model` on (x, y): power iteration on
    Hessian-vector products (double backward), from a start vector drawn from generator(seed, "qsr-power"), the last
    Rayleigh quotient v.Hv. At a minimum of a cross-entropy the top of the spectrum is positive and the largest in magnitude,
    which is what power iteration finds."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    loss = train_objective(model(x), y, label_smoothing)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    g = generator(seed, "qsr-power")
    v = [torch.randn(p.shape, generator=g).to(p.device, p.dtype) for p in params]
    norm = torch.sqrt(sum((u * u).sum() for u in v))
    v = [u / norm for u in v]
    eig = float("nan")
    for _ in range(iters):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        eig = float(sum((a * b).sum() for a, b in zip(v, hv)))
        norm = torch.sqrt(sum((u * u).sum() for u in hv))
        if not float(norm) > 0:
            return 0.0
        v = [u / norm for u in hv]
    return eig


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rank_device(requested: str, local_rank: int):
    """cpu, or the rank's GPU (local rank modulo the GPUs of the machine)."""
    import torch

    from sims.engine.torch_layer import resolve_device

    dev = resolve_device(requested)
    if dev.type == "cuda":
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return dev


def _backend(device_type: str, local_world: int) -> str:
    """The engine's backend for the device (gloo on CPU, nccl on GPUs); gloo also when more ranks than GPUs share a
    machine, since NCCL refuses two ranks on one GPU while gloo all-reduces CUDA tensors through the host."""
    from sims.engine.distributed import backend_for

    if device_type == "cuda":
        import torch

        if local_world > torch.cuda.device_count():
            return "gloo"
    return backend_for(device_type)


# ---------------------------------------------------------------------------------------------------------
# one rank's work
# ---------------------------------------------------------------------------------------------------------


def _load(cfg: TorchConfig):
    from sims.engine.data import digits

    data = digits(test_fraction=cfg.test_fraction, seed=cfg.seed, standardize=True)
    n_train = int(len(data.x_train))
    if cfg.K * cfg.local_batch > n_train:
        raise ConfigError(f"K * local_batch must not exceed the {n_train} training points; got {cfg.K} * "
                          f"{cfg.local_batch}.")
    if cfg.sharpness_points > n_train:
        raise ConfigError(f"sharpness_points must not exceed the {n_train} training points; got "
                          f"{cfg.sharpness_points}.")
    return {"x_train": np.asarray(data.x_train, np.float32), "y_train": np.asarray(data.y_train, np.int64),
            "x_test": np.asarray(data.x_test, np.float32), "y_test": np.asarray(data.y_test, np.int64),
            "n_classes": int(data.n_classes), "name": str(data.name)}


def _calibrate(cfg, model, xtr, ytr, rank, device):
    """(t_compute, t_comm), each the largest over the ranks of that rank's median over calib_repeats blocks of the
    mean time of one local step (forward, backward, inner step; no communication) on a scratch copy of the model,
    and of one flat all-reduce of tensors shaped like the parameters (`flat_all_reduce_mean` back to back); the
    ranks start each block together (a barrier) and the compute and communication blocks alternate."""
    import copy

    import torch
    import torch.distributed as dist

    from sims.engine.distributed import flat_all_reduce_mean

    scratch = copy.deepcopy(model)
    opt = make_optimizer(cfg, scratch.parameters())
    batches = Batches(len(xtr), cfg.local_batch, cfg.seed, 10_000 + rank, device)

    def local_step():
        idx = batches.next()
        for group in opt.param_groups:  # as the training loop does before every step
            group["lr"] = cfg.lr
        opt.zero_grad(set_to_none=True)
        train_objective(scratch(xtr[idx]), ytr[idx], cfg.label_smoothing).backward()
        opt.step()

    bufs = [torch.zeros_like(p) for p in model.parameters()]
    dist.barrier()  # the ranks calibrate together, as they will train
    for _ in range(min(20, cfg.calib_steps)):  # warm the allocator, the autograd caches and the connections
        local_step()
        flat_all_reduce_mean(bufs)
    comp, comm = [], []
    for _ in range(cfg.calib_repeats):  # the two blocks alternate, so a slow spell of the machine hits both
        dist.barrier()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(cfg.calib_steps):
            local_step()
        _sync(device)
        comp.append((time.perf_counter() - t0) / cfg.calib_steps)
        dist.barrier()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(cfg.calib_steps):
            flat_all_reduce_mean(bufs)
        _sync(device)
        comm.append((time.perf_counter() - t0) / cfg.calib_steps)
    # every all-reduce waits for the slowest rank, so the slowest rank's step time paces the run [ours]
    return _across_ranks([float(np.median(comp)), float(np.median(comm))], "max", device)


def _across_ranks(values: list[float], how: str, device) -> list[float]:
    """The elementwise max or min of `values` over the ranks (one small all-reduce, outside every timer)."""
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if how == "max" else dist.ReduceOp.MIN)
    return [float(v) for v in t.cpu()]


def _averaged_copy(model, into):
    """`into` <- the mean of `model` over ranks (one extra all-reduce, outside the optimizer's count and timer)."""
    import torch

    from sims.engine.distributed import flat_all_reduce_mean

    with torch.no_grad():
        for q, p in zip(into.parameters(), model.parameters()):
            q.copy_(p)
        flat_all_reduce_mean(list(into.parameters()))
    return into


def _metrics(model, x, y, label_smoothing: float = 0.0):
    """(loss, accuracy) of `model` on (x, y), the loss with the given label smoothing."""
    import torch

    with torch.no_grad():
        out = model(x)
        return float(train_objective(out, y, label_smoothing)), float((out.argmax(1) == y).float().mean())


def _train_rule(cfg, name, rule, lrs, model, init_state, evaluator, data, rank, device, pb):
    """Train one rule from the common initialisation; return its curves, counts and timings on this rank."""
    import torch
    import torch.distributed as dist

    from sims.engine.distributed import LocalOptimizer

    xtr, ytr, xte, yte = data
    model.load_state_dict(init_state)
    inner = make_optimizer(cfg, model.parameters())
    mode = "data_parallel" if name == "data_parallel" else "local"
    h_of = theory.h_of(rule, lrs, cfg.warmup)
    opt = LocalOptimizer(model, inner, h_of, mode=mode, time_comm=True)
    batches = Batches(len(xtr), cfg.local_batch, cfg.seed, rank, device)
    eval_steps = set(np.unique(np.linspace(0, cfg.steps, cfg.n_eval).round().astype(int)).tolist())
    curves = {"step": [], "test_acc": [], "test_loss": [], "train_loss": []}

    def evaluate(step):
        avg = _averaged_copy(model, evaluator)
        check_finite(f"{name} parameters", torch.cat([p.detach().reshape(-1) for p in avg.parameters()]), step,
                     "lower the learning rate lr")
        te_loss, te_acc = _metrics(avg, xte, yte)
        tr_loss, _ = _metrics(avg, xtr, ytr, cfg.label_smoothing)
        curves["step"].append(step)
        curves["test_acc"].append(te_acc)
        curves["test_loss"].append(te_loss)
        curves["train_loss"].append(tr_loss)

    evaluate(0)
    dist.barrier()
    wall = 0.0
    t0 = time.perf_counter()
    for t in range(cfg.steps):
        idx = batches.next()
        lr = float(lrs[t])
        for group in inner.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        train_objective(model(xtr[idx]), ytr[idx], cfg.label_smoothing).backward()
        opt.step()
        if t + 1 in eval_steps:
            _sync(device)
            wall += time.perf_counter() - t0
            evaluate(t + 1)
            dist.barrier()
            t0 = time.perf_counter()
        if pb is not None:
            pb.update(1)
    # how far apart the ranks' models are after the last step (0 when the last step ended with an average)
    avg = _averaged_copy(model, evaluator)
    spread = torch.tensor([max(float((p.detach() - q.detach()).abs().max()) for p, q in
                               zip(model.parameters(), avg.parameters()))], device=device)
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    # data-parallel rounds are one gradient all-reduce per step (H = 1); the optimizer lists no round lengths there
    lengths = np.ones(opt.rounds, np.int64) if mode == "data_parallel" else np.asarray(opt.round_lengths, np.int64)
    return {"curves": {k: np.asarray(v) for k, v in curves.items()}, "rounds": int(opt.rounds),
            "round_lengths": lengths, "step_count": int(opt.step_count),
            "wall": wall, "comm": float(opt.comm_seconds), "spread": float(spread.item()),
            "wall_max": _across_ranks([wall], "max", device)[0],
            "comm_min": _across_ranks([float(opt.comm_seconds)], "min", device)[0]}


def rank_work(rank: int, world: int, cfg: TorchConfig, data: dict, local_rank: int | None = None) -> dict:
    """The whole experiment as one rank runs it inside an initialised process group: calibration, then the four
    rules in turn. Every rank returns its own timings; the models' numbers are the same on every rank (sharpness is
    computed on rank 0 only, NaN elsewhere)."""
    import torch

    single_thread()
    device = _rank_device(cfg.device, rank if local_rank is None else local_rank)
    xtr = torch.from_numpy(data["x_train"]).to(device)
    ytr = torch.from_numpy(data["y_train"]).to(device)
    xte = torch.from_numpy(data["x_test"]).to(device)
    yte = torch.from_numpy(data["y_test"]).to(device)
    model = build_model(xtr.shape[1], cfg.width, data["n_classes"], cfg.seed).to(device)
    evaluator = build_model(xtr.shape[1], cfg.width, data["n_classes"], cfg.seed).to(device)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = generator(cfg.seed, "qsr-sharpness-subset")
    subset = torch.randperm(len(xtr), generator=g)[:cfg.sharpness_points].to(device)
    lrs = cfg.schedule().rates()
    t_compute, t_comm = _calibrate(cfg, model, xtr, ytr, rank, device)
    out = {"t_compute": t_compute, "t_comm": t_comm, "rules": {}}
    pb = bar(len(RULES) * cfg.steps, f"qsr torch (K={world})") if rank == 0 else None
    for name, rule in cfg.rules().items():
        res = _train_rule(cfg, name, rule, lrs, model, init_state, evaluator, (xtr, ytr, xte, yte), rank, device, pb)
        if rank == 0:
            res["sharpness"] = top_hessian_eigenvalue(evaluator, xtr[subset], ytr[subset], cfg.power_iters, cfg.seed,
                                                     cfg.label_smoothing)
        else:
            res["sharpness"] = float("nan")
        out["rules"][name] = res
    if pb is not None:
        pb.close()
    # leave together: a rank that tears its process group down while rank 0 still computes the last sharpness
    # has been seen to abort inside gloo ("terminate called without an active exception")
    import torch.distributed as dist

    dist.barrier()
    return out


def _spawned(rank: int, world: int, arg) -> dict:
    cfg, data = arg
    return rank_work(rank, world, cfg, data)


# ---------------------------------------------------------------------------------------------------------
# assembling the result
# ---------------------------------------------------------------------------------------------------------


def assemble(cfg: TorchConfig, data: dict, out: dict, backend: str) -> Result:
    """The Result from rank 0's return of `rank_work`: each rule's rounds checked against the replay, the wall-time
    model's prediction beside the measured time."""
    lrs = cfg.schedule().rates()
    n_params = sum(w * v for w, v in _layer_sizes(data["x_train"].shape[1], cfg.width, data["n_classes"]))
    rules, arrays = {}, {"lr": lrs.astype(np.float32)}
    t_compute, t_comm = out["t_compute"], out["t_comm"]
    dp = out["rules"]["data_parallel"]
    pred_dp = theory.wall_time(cfg.steps, dp["rounds"], t_compute, t_comm)
    match_all = True
    for name, rule in cfg.rules().items():
        r = out["rules"][name]
        replayed = theory.replay(rule, lrs, cfg.warmup)
        lengths = r["round_lengths"]
        same = bool(lengths.shape == replayed.lengths.shape and np.array_equal(lengths, replayed.lengths))
        match_all &= same and r["rounds"] == replayed.count and r["step_count"] == cfg.steps
        predicted = theory.wall_time(cfg.steps, r["rounds"], t_compute, t_comm)
        c = r["curves"]
        rules[name] = RuleResult(
            test_acc=float(c["test_acc"][-1]), test_loss=float(c["test_loss"][-1]),
            train_loss=float(c["train_loss"][-1]), sharpness=float(r["sharpness"]), rounds=int(r["rounds"]),
            rounds_replay=int(replayed.count), lengths_match=same,
            h_max=int(lengths.max()) if lengths.size else 0, rank_spread=float(r["spread"]),
            wall_s=float(r["wall_max"]), comm_s=float(r["comm_min"]),
            comm_per_round=float(r["comm_min"] / max(r["rounds"], 1)),
            compute_s=float(r["wall_max"] - r["comm_min"]), predicted_s=float(predicted),
            measured_over_predicted=float(r["wall_max"] / predicted),
            wall_vs_data_parallel=float(r["wall_max"] / dp["wall_max"]),
            predicted_vs_data_parallel=float(predicted / pred_dp))
        arrays[f"eval_step_{name}"] = c["step"]
        arrays[f"test_acc_{name}"] = c["test_acc"]
        arrays[f"test_loss_{name}"] = c["test_loss"]
        arrays[f"train_loss_{name}"] = c["train_loss"]
        arrays[f"h_{name}"] = lengths
    counts = np.bincount(data["y_test"], minlength=data["n_classes"])
    summary = TorchSummary(dataset=data["name"], n_train=int(len(data["x_train"])), n_test=int(len(data["x_test"])),
                           chance=float(counts.max() / counts.sum()), n_params=int(n_params),
                           batch=cfg.K * cfg.local_batch, backend=backend, t_compute=float(t_compute),
                           t_comm=float(t_comm), rounds_match=bool(match_all), rules=rules)
    return Result("qsr.torch", config_dict(cfg), summary, arrays)


def _layer_sizes(n_in: int, width: int, n_classes: int):
    """(fan_in + 1, fan_out) of each linear layer: weights and bias."""
    return [(n_in + 1, width), (width + 1, width), (width + 1, n_classes)]


def run_torch(cfg: TorchConfig) -> Result:
    """Spawn K processes (engine `spawn`), run `rank_work` on each, assemble rank 0's numbers."""
    from sims.engine.distributed import spawn

    single_thread()
    data = _load(cfg)
    device = _rank_device(cfg.device, 0)
    backend = _backend(device.type, cfg.K)
    outs = spawn(_spawned, cfg.K, (cfg, data), backend=backend)
    return assemble(cfg, data, outs[0], backend)


def summarize_torch(res: Result) -> str:
    s, c = res.summary, res.config
    lines = [
        f"{s.dataset}: {s.n_train} train / {s.n_test} test points (most frequent class {s.chance:.1%}); MLP "
        f"width {c['width']} ({s.n_params} parameters); {c['optimizer']}, K={c['K']} processes ({s.backend}), "
        f"B_loc={c['local_batch']} (B={s.batch}), {c['steps']} steps per rule, cosine lr peak {c['lr']:g} "
        f"(warm-up {c['warmup']}), H_base={c['h_base']}, alpha={c['alpha']:g} (QSR), {c['alpha_power1']:g} (1/eta)",
        f"calibrated: t_compute {s.t_compute * 1e3:.3f} ms/step, t_comm {s.t_comm * 1e3:.3f} ms/all-reduce; "
        f"rounds equal the replay's: {'yes' if s.rounds_match else 'NO'}",
        f"{'rule':<16}{'test acc':>9}{'train loss':>11}{'sharp':>7}{'rounds':>7}{'replay':>7}{'spread':>7}"
        f"{'wall s':>7}{'comm s':>7}{'ms/rnd':>7}{'pred s':>7}{'meas/pred':>10}{'vs DP':>7}{'pred vs DP':>11}"]
    for name, r in s.rules.items():
        lines.append(f"{RULE_TITLES.get(name, name):<16}{r.test_acc:>9.4f}{r.train_loss:>11.4f}{r.sharpness:>7.3f}"
                     f"{r.rounds:>7}{r.rounds_replay:>7}{r.rank_spread:>7.0e}{r.wall_s:>7.2f}{r.comm_s:>7.2f}"
                     f"{r.comm_per_round * 1e3:>7.2f}{r.predicted_s:>7.2f}{r.measured_over_predicted:>10.3f}"
                     f"{r.wall_vs_data_parallel:>7.3f}{r.predicted_vs_data_parallel:>11.3f}")
    return "\n".join(lines)


TORCH = Experiment(paper="qsr", name="torch",
                   description="K real processes on the digits: data-parallel vs Local (constant H, H ~ 1/eta, QSR); "
                               "accuracy, sharpness, all-reduce counts, measured vs predicted wall time",
                   config_cls=TorchConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST}, run=run_torch,
                   summarize=summarize_torch, summary=TorchSummary)


# ---------------------------------------------------------------------------------------------------------
# torchrun entry point
# ---------------------------------------------------------------------------------------------------------

_TORCHRUN_SPECIAL = {"seed", "device", "K"}


def _torchrun_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torchrun --nproc-per-node K -m sims.qsr torch",
                                description=TORCH.description + ". K is the world size.")
    p.add_argument("--preset", default="quick", help="quick or paper")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: results/qsr)")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default: results/cache)")
    p.add_argument("--refresh", action="store_true", help="recompute even if a cached result exists")
    p.add_argument("--device", default=None, help="auto (cuda when present), cpu or cuda")
    p.add_argument("--K", dest="field_K", default=None, metavar="V", help="must equal the world size if given")
    for f in dataclasses.fields(TorchConfig):
        if f.name not in _TORCHRUN_SPECIAL:
            p.add_argument("--" + f.name.replace("_", "-"), dest=f"field_{f.name}", default=None, metavar="V")
    return p


def torchrun_config(args: argparse.Namespace, world: int) -> TorchConfig:
    """The run's config from parsed torchrun arguments: the preset, field flags (read like the CLI's), K = world."""
    from sims.engine.cli import parse_fields
    from sims.engine.experiment import PRESETS

    if args.preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {args.preset!r}.")
    texts = {f.name: getattr(args, f"field_{f.name}") for f in dataclasses.fields(TorchConfig)
             if f.name != "seed" and f.name != "device" and getattr(args, f"field_{f.name}", None) is not None}
    overrides = parse_fields(TorchConfig, texts)
    if "K" in overrides and overrides["K"] != world:
        raise ConfigError(f"K must equal the world size under torchrun; got K={overrides['K']} with {world} "
                          "processes (leave out --K, or start torchrun with --nproc-per-node K).")
    overrides["K"] = world
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.device is not None:
        overrides["device"] = args.device
    return TORCH.config(args.preset, **overrides)


def torchrun_main(argv: list[str]) -> int:
    """`torchrun --nproc-per-node K -m sims.qsr torch [--preset quick] [--field value ...]`: every rank runs its
    worker; rank 0 prints the summary, stores the result in the cache and writes it under --out (as the CLI does).
    Exit codes as every command's (`sims.engine.cli.guarded`): 2 for a bad argument."""
    from sims.engine.cli import guarded

    args = _torchrun_parser().parse_args(argv)
    quiet = os.environ.get("RANK", "0") != "0"  # every rank reads the same arguments: rank 0 alone says what is wrong

    def body() -> int:
        try:
            return _torchrun(args)
        except ConfigError:
            if quiet:
                return 2
            raise

    return guarded(body)


def _torchrun(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from sims.engine import cache, results
    from sims.engine.distributed import init_from_env

    world_env = os.environ.get("WORLD_SIZE")
    if world_env is None:
        raise ConfigError("this command runs one worker per process under torchrun (WORLD_SIZE is not set); start "
                          "it as: torchrun --nproc-per-node K -m sims.qsr torch")
    try:
        world = int(world_env)
    except ValueError:
        raise ConfigError(f"WORLD_SIZE must be a whole number; got {world_env!r}.") from None
    cfg = torchrun_config(args, world)
    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)) or world)
    device = _rank_device(cfg.device, local_rank)
    backend = _backend(device.type, local_world)
    out_dir = validate.writable_dir("--out", args.out if args.out is not None else Path("results") / "qsr")
    root = validate.writable_dir("--cache", args.cache if args.cache is not None else cache.default_root())
    rank, world = init_from_env(backend)
    try:
        # rank 0 decides whether the stored result is reused, and tells the others
        flag = [False]
        if rank == 0:
            flag[0] = bool(not args.refresh and results.is_complete(cache.path_for(TORCH.id, cfg, root)))
        dist.broadcast_object_list(flag, src=0)
        if flag[0]:
            if rank == 0:
                _rank0_then_barrier(lambda: _report(TORCH.cached(cfg, root=root), out_dir, "cache"))
            else:
                dist.barrier()
            return 0
        start = time.perf_counter()
        data = _load(cfg)
        out = rank_work(rank, world, cfg, data, local_rank)

        def store_and_report():
            res = assemble(cfg, data, out, backend)
            res.meta["wall_s"] = time.perf_counter() - start
            res.meta["launcher"] = "torchrun"
            stored = cache.cached_run(TORCH.id, cfg, lambda _c: res, root, True, TorchSummary)
            _report(stored, out_dir, "computed")

        if rank == 0:
            _rank0_then_barrier(store_and_report)
        else:
            dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def _rank0_then_barrier(work) -> None:
    """Rank 0's closing work, then the barrier the other ranks wait at, even when the work fails: the ranks leave
    the process group together (a rank that tore it down while rank 0 still worked has been seen to abort in gloo)."""
    import torch.distributed as dist

    try:
        work()
    finally:
        dist.barrier()


def _report(res: Result, out_dir: Path, source: str) -> None:
    from sims.engine import results

    print(summarize_torch(res))
    print(f"[{TORCH.id}] {source} (run wall time {res.meta.get('wall_s', float('nan')):.1f} s)")
    results.save(res, out_dir / TORCH.name)
    print(f"results: {out_dir / TORCH.name}")


__all__ = ["Batches", "OPTIMIZERS", "PAPER", "QUICK", "RULES", "RuleResult", "TORCH", "TorchConfig", "TorchSummary",
           "assemble", "build_model", "make_optimizer", "rank_work", "run_torch", "summarize_torch",
           "top_hessian_eigenvalue", "torchrun_config", "torchrun_main"]
