"""Grokking on modular addition with a two-layer ReLU MLP (paper Sec. 2, Fig. 2; App. B.1).

Task: (a, b) -> (a + b) mod p; the input is the concatenation of the one-hots of a and b (dimension 2p),
a random `train_fraction` of the p^2 pairs is the training set and the rest the test set.
Net: f(theta; x) = W2 relu(W1 x + b1), W1 in R^{h x 2p}, b1 in R^h, W2 in R^{p x h}; there is no
second-layer bias, so theta -> f is 2-homogeneous: f(c theta) = c^2 f(theta) (Assumption 3.1, L = 2).
Training: full-batch gradient descent on the mean cross-entropy with weight decay added to the gradient
as lambda*theta, i.e. on L(theta) + lambda/2 ||theta||^2 (Eq. 3), as the paper's code (SGD with weight
decay, full batch) does. Init: He (Kaiming-normal) for every weight, first-layer bias 0, all multiplied by
alpha; the last layer zeroed by default (Fig. 2b), so the initial output is 0 (Assumption 3.2).

With a large alpha the net first fits the training set in the kernel regime and tests at chance; weight
decay shrinks theta like alpha e^{-lambda t}, and around t ~ (ln alpha + O(1))/lambda the late max-margin
bias takes over and test accuracy jumps (Thms 3.4/3.5 for the smooth case; the ReLU net is the paper's
empirical instance). Time is continuous time t = lr * steps, the paper's x-axis.

Batching: a sweep over alphas x lams is one batched model. W1 is stored transposed, (B, 2p, h), so that
W1 x is a gather of two rows (the input is two one-hots); b1 is (B, h) and W2 (B, p, h); returned weights
are in the paper's layout W1 (B, h, 2p), W2 (B, p, h). One step is three batched matrix products plus a
gather and a scatter-add, with hand-written gradients (checked against autograd in the tests). Each point's
initial direction comes from a seeded stream that does not depend on the other points of the batch, so a
point's curves are bitwise the same whether it is trained alone or in a batch (`batched=False` runs the
points one after another). Measured on one CPU thread: the batched sweep is 4.4x faster than the loop for a
tiny net (p = 11, width 32) and 1.5x at width 64, but at the quick preset's width 256 each point's (n, h)
activations already fill the L2 cache and the batched run is ~0.9x the loop; on a GPU batching is the point.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING
import time
from dataclasses import dataclass

import numpy as np

if TYPE_CHECKING:
    import torch

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import eval_schedule, first_crossing, fit_line, training_steps
from sims.engine.divergence import check_finite
from sims.engine.torch_layer import generator, resolve_device, single_thread

from .sparse import DelayFit, _fmt, delay_fit_line

FIT_LEVEL = 0.99    # t_fit: first time train accuracy >= 0.99
GROK_LEVEL = 0.95   # t_grok: first time test accuracy >= 0.95
_EVAL_CHUNK = 1 << 23  # at most this many hidden activations (B * pairs * h) alive at once during evaluation


@dataclass(frozen=True)
class ModularConfig:
    """p: modulus (classes and one-hot size); train_fraction: share of the p^2 pairs used for training;
    width: hidden units h; alphas: init scales (He init times alpha on every layer); lams: weight decays
    lambda (0 allowed: the no-weight-decay control); lr: GD step size; t_max: horizon in continuous time
    lr * steps; zero_last_layer: W2(0) = 0 (Fig. 2b) so that f(theta(0)) = 0; shared_init: every sweep point
    starts from the same direction theta_bar (theta(0) = alpha * theta_bar, the paper's setting), else each
    point draws its own direction from a stream keyed by its (alpha, lambda); batched: train the whole sweep
    as one batched model (False: one point after another, same numbers); dtype: float32 or float64;
    n_eval_log / n_eval_linear: log-spaced and evenly spaced evaluation steps (plus step 0)."""

    p: int = 23
    train_fraction: float = 0.8
    width: int = 256
    alphas: tuple[float, ...] = (4.0, 16.0, 64.0)
    lams: tuple[float, ...] = (1e-3, 5e-4)
    lr: float = 2.0
    t_max: float = 20000.0
    zero_last_layer: bool = True
    shared_init: bool = True
    batched: bool = True
    dtype: str = "float32"
    n_eval_log: int = 100
    n_eval_linear: int = 150
    seed: int = 0
    device: str = "auto"

    def validate(self) -> None:
        validate.positive_int("p", self.p, 2)
        validate.probability("train_fraction", self.train_fraction, open_low=True, open_high=True)
        n_train = n_train_pairs(self.p, self.train_fraction)
        if not 1 <= n_train < self.p * self.p:
            raise validate.ConfigError(f"train_fraction must leave at least one training and one test pair; "
                                       f"got {n_train} training pairs of {self.p * self.p}.")
        validate.positive_int("width", self.width, 1)
        validate.each(validate.positive, "alphas", self.alphas)
        validate.each(validate.non_negative, "lams", self.lams)
        validate.positive("lr", self.lr)
        validate.positive("t_max", self.t_max)
        validate.one_of("dtype", self.dtype, ("float32", "float64"))
        step_decay = self.lr * max(self.lams)
        if self.dtype == "float32" and 0 < step_decay < 3e-6:
            raise validate.ConfigError(f"dtype float32 cannot hold the per-step weight decay factor 1 - lr*lambda = "
                                       f"1 - {step_decay:.3g} to 1% (float32 spacing near 1 is 6e-8); "
                                       f"use dtype float64.")
        validate.positive_int("n_eval_log", self.n_eval_log, 2)
        validate.positive_int("n_eval_linear", self.n_eval_linear, 2)
        validate.one_of("device", self.device.split(":")[0], ("auto", "cpu", "cuda"))


# Quick (calibrated on a shared 2-core CPU, one thread, ~25-35 s for the 6-point sweep): p = 23, 80% of the
# pairs for training (at 70% or 40% the late phase does not reach 95% test accuracy at this p), width 256
# (width 128-192 groks later or not at all), lr = 2 (lr = 4-8 breaks the large-alpha kernel fit), lambda in
# {1e-3, 5e-4} (at 2e-3 the late-phase net tests at only 94-98%, at 5e-3 at 80%). Seed 0: train acc 1 at
# t ~ 85-125, test acc >= 0.95 at lambda*t = 4.3-8.7, later for larger alpha; alpha = 1 is left out because
# its initial norm (22) is below the late-phase norm (~35): there is no kernel phase for weight decay to end.
QUICK = ModularConfig()
# Paper Fig. 2: p = 97, 40% of the pairs (3763) for training, width 1024, lr 0.002, weight decay 1e-4,
# He init times alpha with the last layer zeroed, alpha from 1 to 100 (exact grid not stated in our notes:
# UNVERIFIED). Fig. 2a's run at alpha = 1 groks at ~1e7 steps (t ~ 2e4, lambda*t ~ 2); alpha = 100 adds
# ln(100)/lambda ~ 4.6e4, so the horizon t = 1e5 (5e7 steps) covers the grid. Sized for one GPU.
# float64 because lr*lambda = 2e-7 is below float32's resolution near 1 (the decay factor would be off by ~10%).
PAPER = ModularConfig(p=97, train_fraction=0.4, width=1024, alphas=(1.0, 3.0, 10.0, 30.0, 100.0), lams=(1e-4,),
                      lr=0.002, t_max=1e5, dtype="float64", n_eval_log=150, n_eval_linear=300, device="auto")


def n_train_pairs(p: int, train_fraction: float) -> int:
    """Number of training pairs: floor(train_fraction * p^2) (3763 for p = 97, 40%, as the paper's code)."""
    return int(math.floor(train_fraction * p * p + 1e-9))


def modular_split(p: int, train_fraction: float, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of the p^2 pairs, each pair coded as a*p + b: (train indices, test indices)."""
    perm = gen.permutation(p * p)
    n = n_train_pairs(p, train_fraction)
    return np.sort(perm[:n]), np.sort(perm[n:])


def sweep_grid(alphas, lams) -> tuple[np.ndarray, np.ndarray]:
    """All (alpha, lambda) pairs of the sweep, alpha varying fastest: (alpha (B,), lam (B,))."""
    a, l = np.meshgrid(np.asarray(alphas, float), np.asarray(lams, float), indexing="xy")
    return a.ravel(), l.ravel()


def init_direction(p: int, width: int, gen, zero_last_layer: bool = True) -> dict[str, "torch.Tensor"]:
    """theta_bar_init in the paper's layout, float64 on the CPU: W1 (h, 2p) ~ N(0, 2/(2p)) (He, ReLU),
    b1 = 0, W2 (p, h) ~ N(0, 1/h) (He, linear) or 0 with zero_last_layer. theta(0) = alpha * theta_bar_init."""
    import torch

    W1 = torch.randn(width, 2 * p, generator=gen, dtype=torch.float64) * np.sqrt(2.0 / (2 * p))
    W2 = torch.randn(p, width, generator=gen, dtype=torch.float64) * np.sqrt(1.0 / width)
    if zero_last_layer:
        W2.zero_()
    return {"W1": W1, "b1": torch.zeros(width, dtype=torch.float64), "W2": W2}


def _point_stream(cfg: ModularConfig, alpha: float, lam: float) -> tuple:
    """The init stream of one sweep point; it names the point, not its position in the batch."""
    return ("init",) if cfg.shared_init else ("init", repr(float(alpha)), repr(float(lam)))


def initial_parameters(cfg: ModularConfig, alpha: np.ndarray, lam: np.ndarray) -> dict[str, "torch.Tensor"]:
    """Batched theta(0) = alpha_b * theta_bar_b, paper layout, float64 CPU: W1 (B, h, 2p), b1 (B, h), W2 (B, p, h)."""
    import torch

    cache: dict[tuple, dict] = {}
    parts = []
    for a, l in zip(alpha, lam):
        stream = _point_stream(cfg, a, l)
        if stream not in cache:
            cache[stream] = init_direction(cfg.p, cfg.width, generator(cfg.seed, *stream), cfg.zero_last_layer)
        parts.append({k: float(a) * v for k, v in cache[stream].items()})
    return {k: torch.stack([d[k] for d in parts]) for k in ("W1", "b1", "W2")}


def mlp_logits(W1, b1, W2, a, b):
    """f(theta; x) for x = [onehot(a), onehot(b)], paper layout: W1 (B, h, 2p), b1 (B, h), W2 (B, p, h);
    a, b: (n,) integer tensors. Returns logits (B, n, p)."""
    import torch

    p = W2.shape[1]
    pre = W1[:, :, a] + W1[:, :, p + b] + b1[:, :, None]        # (B, h, n)
    return torch.bmm(W2, torch.relu(pre)).transpose(1, 2)


def _accuracy_and_loss(logits, y):
    """Per model: cross-entropy (mean) and accuracy with ties split (a correct label tied with k-1 others
    counts 1/k, so the zero output at init scores 1/p), and the unnormalised margin min_i (f_y - max_{j!=y} f_j)."""
    import torch

    lse = torch.logsumexp(logits, dim=-1)
    correct = logits.gather(-1, y.expand(logits.shape[0], -1)[..., None])[..., 0]
    loss = (lse - correct).sum(dim=-1)
    top = logits.max(dim=-1).values
    n_top = (logits == top[..., None]).sum(dim=-1).to(logits.dtype)
    acc = ((correct == top).to(logits.dtype) / n_top).sum(dim=-1)
    others = logits.scatter(-1, y.expand(logits.shape[0], -1)[..., None], float("-inf"))
    margin = (correct - others.max(dim=-1).values).min(dim=-1).values
    return loss, acc, margin


def _train_batch(cfg: ModularConfig, alpha: np.ndarray, lam: np.ndarray, train_idx: np.ndarray,
                 test_idx: np.ndarray, device, desc: str) -> dict[str, np.ndarray]:
    """Full-batch GD on the batch of sweep points (alpha[b], lam[b]); curves on the evaluation schedule."""
    import torch
    import torch.nn.functional as F

    dt = getattr(torch, cfg.dtype)
    p, h = cfg.p, cfg.width
    B = alpha.size
    theta0 = initial_parameters(cfg, alpha, lam)
    # working layout: W1t (B, 2p, h) so that W1 x is a gather of two rows; W2 (B, p, h) as in the paper
    W1t = theta0["W1"].transpose(1, 2).contiguous().to(device=device, dtype=dt)
    b1 = theta0["b1"].to(device=device, dtype=dt)
    W2 = theta0["W2"].to(device=device, dtype=dt)
    decay = torch.as_tensor(1.0 - cfg.lr * lam, dtype=dt, device=device)

    tr = torch.as_tensor(train_idx, device=device)
    y_tr = (tr // p + tr % p) % p
    # rows of the flattened (B*2p, h) table W1t that hold W1[:, a] and W1[:, p + b] of each model
    offset = (2 * p) * torch.arange(B, device=device)[:, None]
    rows_a, rows_b = (tr // p)[None, :] + offset, (p + tr % p)[None, :] + offset      # (B, n)
    flat_a, flat_b = rows_a.reshape(-1), rows_b.reshape(-1)
    n = tr.numel()
    onehot_t = F.one_hot(y_tr, p).to(dt).T.contiguous()                               # (p, n)
    sets = {"train": torch.as_tensor(train_idx, device=device), "test": torch.as_tensor(test_idx, device=device)}

    total = int(np.ceil(cfg.t_max / cfg.lr - 1e-9))   # steps; t = lr * steps reaches t_max
    steps = eval_schedule(total, cfg.n_eval_log, cfg.n_eval_linear)
    names = ("train_acc", "test_acc", "train_loss", "test_loss", "param_norm", "train_margin")
    rec: dict[str, list] = {k: [] for k in names}

    @torch.no_grad()
    def record(step: int) -> None:
        table = W1t.reshape(B * 2 * p, h)
        for name, idx in sets.items():
            loss = torch.zeros(B, dtype=torch.float64, device=device)
            acc = torch.zeros_like(loss)
            margin = torch.full_like(loss, float("inf"))
            chunk = max(1, _EVAL_CHUNK // (B * h))
            for start in range(0, idx.numel(), chunk):
                part = idx[start:start + chunk]
                a, b = part // p, part % p
                pre = F.embedding(a[None, :] + offset, table).add_(F.embedding(p + b[None, :] + offset, table))
                act = torch.relu(pre.add_(b1[:, None, :]))
                logits = torch.bmm(W2, act.transpose(1, 2)).transpose(1, 2).to(torch.float64)
                l_, a_, m_ = _accuracy_and_loss(logits, (a + b) % p)
                loss += l_
                acc += a_
                margin = torch.minimum(margin, m_)
            loss /= idx.numel()
            acc /= idx.numel()
            if name == "train":
                check_finite("train loss", loss, step,
                             hint="Lower lr (the kernel-regime curvature grows like width * alpha^2 / p^2).")
                sq = (W1t.double() ** 2).sum((1, 2)) + (b1.double() ** 2).sum(1) + (W2.double() ** 2).sum((1, 2))
                rec["param_norm"].append(sq.sqrt())
                rec["train_margin"].append(margin / sq)      # normalised margin of the 2-homogeneous net
            rec[f"{name}_loss"].append(loss)
            rec[f"{name}_acc"].append(acc)

    for step in training_steps(steps, record, desc, bar_every=500):
        table = W1t.reshape(B * 2 * p, h)
        # hidden layer relu(W1 x + b1), (B, n, h), built in place (memory traffic dominates on the CPU)
        act = F.embedding(rows_a, table).add_(F.embedding(rows_b, table)).add_(b1[:, None, :]).relu_()
        # logits and their gradient are kept as (B, p, n): with MKL this layout makes all three
        # products about twice as fast as (B, n, p)
        logits_t = torch.bmm(W2, act.transpose(1, 2))                   # (B, p, n)
        dlogits_t = (torch.softmax(logits_t, dim=1) - onehot_t) / n      # d mean-CE / d logits
        g_W2 = torch.bmm(dlogits_t, act)                                 # (B, p, h)
        # relu'(pre) = [act > 0]; aten's fused threshold_backward is ~10x faster than a bool mask on CPU
        dpre = torch.ops.aten.threshold_backward(torch.bmm(dlogits_t.transpose(1, 2), W2), act, 0.0)  # (B, n, h)
        g_b1 = dpre.sum(dim=1)
        dflat = dpre.reshape(B * n, h)
        g_W1t = torch.zeros_like(table).index_add_(0, flat_a, dflat).index_add_(0, flat_b, dflat).view(B, 2 * p, h)
        # theta <- theta - lr (grad L + lambda theta)
        W1t = decay[:, None, None] * W1t - cfg.lr * g_W1t
        b1 = decay[:, None] * b1 - cfg.lr * g_b1
        W2 = decay[:, None, None] * W2 - cfg.lr * g_W2
    out = {k: torch.stack(v).cpu().numpy() for k, v in rec.items()}
    out.update(steps=steps, time=steps * cfg.lr,
               W1_final=W1t.transpose(1, 2).double().cpu().numpy(), b1_final=b1.double().cpu().numpy(),
               W2_final=W2.double().cpu().numpy())
    return out


def train_sweep(cfg: ModularConfig, train_idx: np.ndarray, test_idx: np.ndarray, device=None,
                batched: bool | None = None) -> dict[str, np.ndarray]:
    """Train the alphas x lams grid: as one batched model (batched=True) or one point at a time (False).

    Both give the same numbers (to float rounding); the loop exists to measure what batching buys."""
    device = resolve_device(cfg.device) if device is None else device
    batched = cfg.batched if batched is None else batched
    alpha, lam = sweep_grid(cfg.alphas, cfg.lams)
    if batched:
        out = _train_batch(cfg, alpha, lam, train_idx, test_idx, device, "grokking.modular")
    else:
        parts = [_train_batch(cfg, alpha[i:i + 1], lam[i:i + 1], train_idx, test_idx, device,
                              f"grokking.modular point {i + 1}/{alpha.size}") for i in range(alpha.size)]
        out = {k: (parts[0][k] if k in ("steps", "time") else
                   np.concatenate([q[k] for q in parts], axis=0 if k.endswith("_final") else 1))
               for k in parts[0]}
    out.update(alpha=alpha, lam=lam)
    return out


@dataclass(frozen=True)
class ModularPoint(Summary):
    """One sweep point of modular addition: one init scale and one weight decay. Times are t = lr * steps.

    alpha: init scale (He init times alpha);
    lam: weight decay lambda (0: the no-weight-decay control);
    t_fit: first time train accuracy reaches FIT_LEVEL (0.99); NaN if never on the horizon;
    t_grok: first time test accuracy reaches GROK_LEVEL (0.95); NaN if never;
    delay_ratio: t_grok / t_fit; NaN if either is;
    t_test50: first time test accuracy reaches 0.5, the middle of the jump; NaN if never;
    lam_t_test50: lambda * t_test50; NaN if never;
    lam_t_grok: lambda * t_grok, the grokking time in units of 1/lambda; NaN if never;
    ln_alpha: ln(alpha);
    ln_alpha_over_lam: ln(alpha) / lambda, the theorems' clock without its O(1) offset; NaN at lambda = 0;
    test_acc_at_fit: test accuracy at t_fit (interpolated); NaN if never fit;
    train_acc_final: train accuracy at the horizon;
    test_acc_final: test accuracy at the horizon;
    param_norm_init: ||theta(0)||_2;
    param_norm_final: ||theta||_2 at the horizon.
    """

    alpha: float
    lam: float
    t_fit: float
    t_grok: float
    delay_ratio: float
    t_test50: float
    lam_t_test50: float
    lam_t_grok: float
    ln_alpha: float
    ln_alpha_over_lam: float
    test_acc_at_fit: float
    train_acc_final: float
    test_acc_final: float
    param_norm_init: float
    param_norm_final: float


@dataclass(frozen=True)
class ModularSummary(Summary):
    """Modular addition with a two-layer ReLU MLP: one entry per (alpha, lambda), alpha varying fastest.

    points: per sweep point, its fit and grokking times and final state (ModularPoint);
    n_train: training pairs;
    n_test: test pairs;
    steps_total: gradient steps to the horizon;
    chance_acc: accuracy of a uniform guess, 1/p;
    delay_slopes: per lambda > 0 with grokked points at two or more alphas, the line of lambda*t_grok against
    ln(alpha) (DelayFit).
    """

    points: list[ModularPoint]
    n_train: int
    n_test: int
    steps_total: int
    chance_acc: float
    delay_slopes: list[DelayFit]


def run_modular(cfg: ModularConfig) -> Result:
    """Train the sweep and measure t_fit, t_grok, the delay ratio and the final accuracies per point."""
    single_thread()
    start = time.perf_counter()
    train_idx, test_idx = modular_split(cfg.p, cfg.train_fraction, rng(cfg.seed, "split"))
    arrays = train_sweep(cfg, train_idx, test_idx)
    wall = time.perf_counter() - start
    arrays["train_pairs"] = train_idx
    t, alpha, lam = arrays["time"], arrays["alpha"], arrays["lam"]
    t_fit = first_crossing(t, arrays["train_acc"], FIT_LEVEL)
    t_grok = first_crossing(t, arrays["test_acc"], GROK_LEVEL)
    t_test50 = first_crossing(t, arrays["test_acc"], 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        delay = t_grok / t_fit
        ln_alpha_over_lam = np.where(lam > 0, np.log(alpha) / np.where(lam > 0, lam, 1.0), np.nan)
    test_at_fit = np.array([np.interp(tf, t, arrays["test_acc"][:, i]) if np.isfinite(tf) else np.nan
                            for i, tf in enumerate(t_fit)])
    columns = dict(alpha=alpha, lam=lam, t_fit=t_fit, t_grok=t_grok, delay_ratio=delay, t_test50=t_test50,
                   lam_t_test50=lam * t_test50, lam_t_grok=lam * t_grok, ln_alpha=np.log(alpha),
                   ln_alpha_over_lam=ln_alpha_over_lam, test_acc_at_fit=test_at_fit,
                   train_acc_final=arrays["train_acc"][-1], test_acc_final=arrays["test_acc"][-1],
                   param_norm_init=arrays["param_norm"][0], param_norm_final=arrays["param_norm"][-1])
    summary = ModularSummary(
        points=[ModularPoint(**{k: float(v[b]) for k, v in columns.items()}) for b in range(alpha.size)],
        n_train=int(train_idx.size), n_test=int(test_idx.size), steps_total=int(arrays["steps"][-1]),
        chance_acc=1.0 / cfg.p, delay_slopes=delay_slopes(alpha, lam, t_grok))
    meta = {"train_wall_s": wall, "device": str(resolve_device(cfg.device)), "batch_size": int(alpha.size)}
    return Result("grokking.modular", config_dict(cfg), summary, arrays, meta)


def delay_slopes(alpha: np.ndarray, lam: np.ndarray, t_grok: np.ndarray) -> list[DelayFit]:
    """Per lambda > 0: least-squares slope of lambda*t_grok against ln(alpha) (theory: grows; slope 1
    asymptotically for smooth homogeneous nets, Thms 3.4/3.5). Needs two finite t_grok at distinct alphas."""
    out = []
    for l in np.unique(lam):
        sel = (lam == l) & np.isfinite(t_grok)
        if l <= 0 or np.unique(alpha[sel]).size < 2:
            continue
        fit = fit_line(np.log(alpha[sel]), l * t_grok[sel])
        out.append(DelayFit(lam=float(l), slope=fit.slope, slope_low=fit.slope_low, slope_high=fit.slope_high,
                            intercept=fit.intercept, n_points=int(sel.sum())))
    return out


def batching_speedup(cfg: ModularConfig) -> dict[str, float]:
    """Time the sweep as one batched model and as a per-point loop on the same split; compare the curves.

    Returns batched_s, loop_s, speedup = loop_s / batched_s, the batch size and the largest absolute
    difference of the accuracy and loss curves and of the final weights between the two runs."""
    single_thread()
    train_idx, test_idx = modular_split(cfg.p, cfg.train_fraction, rng(cfg.seed, "split"))
    device = resolve_device(cfg.device)
    timings, outs = {}, {}
    for mode in (True, False):
        start = time.perf_counter()
        outs[mode] = train_sweep(cfg, train_idx, test_idx, device, batched=mode)
        timings[mode] = time.perf_counter() - start
    diff = {k: float(np.max(np.abs(outs[True][k] - outs[False][k])))
            for k in ("train_acc", "test_acc", "train_loss", "test_loss", "W1_final", "W2_final")}
    return {"batched_s": timings[True], "loop_s": timings[False], "speedup": timings[False] / timings[True],
            "batch_size": int(outs[True]["alpha"].size), **{f"max_diff_{k}": v for k, v in diff.items()}}


def summarize_modular(res: Result) -> str:
    s: ModularSummary = res.summary
    cfg = res.config
    lines = [f"Modular addition mod {cfg['p']}, two-layer ReLU MLP width {cfg['width']}, full-batch GD lr={cfg['lr']}, "
             f"{s.n_train} train / {s.n_test} test pairs, last layer "
             f"{'zeroed' if cfg['zero_last_layer'] else 'He'}, seed={cfg['seed']}, horizon t={cfg['t_max']:g} "
             f"({s.steps_total} steps)", "",
             f"{'alpha':>6} {'lambda':>8} {'t_fit':>8} {'t_grok':>8} {'ratio':>7} {'lam*t_grok':>10} {'ln alpha':>8} "
             f"{'test@fit':>8} {'final train':>11} {'final test':>10}"]
    for p in s.points:
        lines.append(f"{p.alpha:>6.3g} {p.lam:>8.3g} {_fmt(p.t_fit):>8} {_fmt(p.t_grok):>8} "
                     f"{_fmt(p.delay_ratio, '.1f'):>7} {_fmt(p.lam_t_grok):>10} {p.ln_alpha:>8.3f} "
                     f"{_fmt(p.test_acc_at_fit, '.3f'):>8} {p.train_acc_final:>11.3f} {p.test_acc_final:>10.3f}")
    lines.append(f"(t_fit: train acc >= {FIT_LEVEL}; t_grok: test acc >= {GROK_LEVEL}; t = lr * steps; "
                 f"chance = {s.chance_acc:.3f})")
    lines += [delay_fit_line(f, "slope of lambda*t_grok vs ln alpha") for f in s.delay_slopes]
    return "\n".join(lines)


MODULAR = Experiment(paper="grokking", name="modular",
                     description="modular addition, two-layer ReLU MLP: larger init scale delays grokking (Fig. 2)",
                     config_cls=ModularConfig, presets={"quick": QUICK, "paper": PAPER},
                     run=run_modular, summarize=summarize_modular, summary=ModularSummary)

__all__ = ["MODULAR", "ModularConfig", "ModularPoint", "ModularSummary", "batching_speedup", "init_direction",
           "initial_parameters", "mlp_logits", "modular_split", "run_modular", "summarize_modular", "sweep_grid",
           "train_sweep"]
