"""A real training run: Local SGD against SGD on a small MLP at small learning rate and long training.

Paper Sec. 2 and Fig. 1 / Sec. 4: starting from a common, already trained model ("post-local SGD"), Local SGD
with K workers and H local steps keeps the same learning rate eta and total batch B = K * B_loc as parallel SGD.
With a small learning rate and long training, the paper reports that Local SGD reaches flatter minima and tests
better. Here we measure the sharpness part, which is what the slow SDE predicts; at this small scale the test
accuracies of the two do not differ measurably (see the summary), so no claim rests on accuracy. The
label-noise corollary of the slow SDE makes tr Hessian the quantity both drive down, Local SGD by the factor 1 + (K-1) psi(2 alpha lambda) per direction.

Task (synthetic, generated in code): x ~ N(0, I_d), a teacher label y = sign(x_1 + x_2), n_train points, far
fewer than the d * width + 2 * width parameters (quick: 48 points, 704 parameters; paper: 256 and 13,312), so
there are many interpolating networks; regression of +-1 targets with squared loss and fresh Gaussian label
noise of std sigma on every sampled example (label-noise SGD). Model: two-layer tanh MLP. All models (seeds x workers) are one batched set
of weight tensors [M, ...]; the run is GPU-ready (`device`).
Measured over training: clean training loss, the exact trace of the Gauss-Newton part of the Hessian
(= tr Hessian at an interpolating minimum; the label-noise regulariser), test accuracy and loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, resolve_device, single_thread


@dataclass(frozen=True)
class TorchConfig:
    """d: input dimension; n_train / n_test: sample sizes; width: hidden units; sigma: label-noise std;
    pre_lr / pre_steps: full-batch GD that produces the common starting point; eta: learning rate of the
    comparison; K: workers; H: local steps; local_batch: B_loc; steps: steps of the comparison;
    n_seeds: independent seeds batched in one run; n_eval: evaluation points."""

    d: int = 20
    n_train: int = 48
    n_test: int = 2000
    width: int = 32
    sigma: float = 0.5
    pre_lr: float = 0.2
    pre_steps: int = 1500
    eta: float = 0.05
    K: int = 4
    H: int = 20
    local_batch: int = 4
    steps: int = 4000
    n_seeds: int = 4
    n_eval: int = 20
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.positive_int("d", self.d, 2)
        validate.positive_int("n_train", self.n_train, 2)
        validate.positive_int("n_test", self.n_test, 1)
        validate.positive_int("width", self.width, 1)
        validate.non_negative("sigma", self.sigma)
        validate.positive("pre_lr", self.pre_lr)
        validate.positive_int("pre_steps", self.pre_steps, 0)
        validate.positive("eta", self.eta)
        validate.positive_int("K", self.K, 1)
        validate.positive_int("H", self.H, 1)
        validate.positive_int("local_batch", self.local_batch, 1)
        if self.K * self.local_batch > self.n_train:
            raise validate.ConfigError(f"K * local_batch must not exceed n_train; got {self.K} * "
                                       f"{self.local_batch} > {self.n_train}.")
        validate.positive_int("steps", self.steps, 1)
        if self.steps < self.H or self.steps % self.H:
            raise validate.ConfigError(f"steps must be a positive multiple of H (whole rounds, so that SGD and Local "
                                       f"SGD take the same number of steps); got steps={self.steps}, H={self.H}.")
        validate.positive_int("n_seeds", self.n_seeds, 1)
        validate.positive_int("n_eval", self.n_eval, 2)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = TorchConfig()
PAPER = TorchConfig(d=50, n_train=256, n_test=10_000, width=256, pre_steps=5000, eta=0.02, H=50,
                    local_batch=16, K=8, steps=200_000, n_seeds=8, n_eval=50, device="auto")


def make_data(cfg: TorchConfig, seed: int, n_seeds: int, device):
    """Per seed: train and test sets [S, n, d] with labels sign(x_1 + x_2) in {-1, +1}."""
    import torch

    g = generator(seed, "data", device="cpu")
    Xtr = torch.randn(n_seeds, cfg.n_train, cfg.d, generator=g)
    Xte = torch.randn(n_seeds, cfg.n_test, cfg.d, generator=g)

    def label(X):
        return torch.sign(X[..., 0] + X[..., 1])

    return Xtr.to(device), label(Xtr).to(device), Xte.to(device), label(Xte).to(device)


def init_params(cfg: TorchConfig, seed: int, n_models: int, device):
    """Batched two-layer tanh MLP parameters: W1 [M, d, m], b1 [M, m], W2 [M, m]."""
    import torch

    g = generator(seed, "init", device="cpu")
    W1 = torch.randn(n_models, cfg.d, cfg.width, generator=g) / np.sqrt(cfg.d)
    b1 = torch.zeros(n_models, cfg.width)
    W2 = torch.randn(n_models, cfg.width, generator=g) / np.sqrt(cfg.width)
    return [p.to(device).requires_grad_(True) for p in (W1, b1, W2)]


def forward(params, X):
    """f(X) [M, b] for X [M, b, d]."""
    W1, b1, W2 = params
    h = (X @ W1 + b1[:, None, :]).tanh()
    return (h * W2[:, None, :]).sum(-1)


def clean_loss(params, X, y):
    """Per-model mean squared loss 1/2 (f - y)^2 over the given set [M]."""
    return 0.5 * ((forward(params, X) - y) ** 2).mean(-1)


def gauss_newton_trace(params, X):
    """Exact tr of the Gauss-Newton part of each model's loss Hessian, (1/n) sum_i |grad_theta f(x_i)|^2 [M].

    On the manifold of interpolating minima this is tr Hessian (the residual term vanishes), and it is the
    quantity label-noise SGD regularises (Sigma = sigma^2 * Gauss-Newton). Closed form for the two-layer net:
    |grad f|^2 = |h|^2 + |a|^2 (1 + |x|^2) with h = tanh(x W1 + b1), a = W2 * (1 - h^2)."""
    W1, b1, W2 = (p.detach() for p in params)  # torch tensors; returns a tensor [M]
    h = (X @ W1 + b1[:, None, :]).tanh()
    a = W2[:, None, :] * (1.0 - h ** 2)
    per = (h ** 2).sum(-1) + (a ** 2).sum(-1) * (1.0 + (X ** 2).sum(-1))
    return per.mean(-1)


def _batch(X, y, n_models_per_seed: int, b: int, g):
    """Each model draws its own batch (with replacement) from its seed's training set: [M, b, d], [M, b]."""
    import torch

    S, n, _ = X.shape
    idx = torch.randint(0, n, (S, n_models_per_seed, b), generator=g, device=X.device)
    Xb = torch.gather(X[:, None].expand(S, n_models_per_seed, n, X.shape[-1]), 2,
                      idx[..., None].expand(S, n_models_per_seed, b, X.shape[-1]))
    yb = torch.gather(y[:, None].expand(S, n_models_per_seed, n), 2, idx)
    return Xb.reshape(S * n_models_per_seed, b, -1), yb.reshape(S * n_models_per_seed, b)


def train(params, X, y, Xte, yte, cfg: TorchConfig, K: int, H: int, b: int, steps: int, lr: float,
          label_noise: float, g, desc: str):
    """Local SGD over models [S*K] (K = 1: SGD with batch b). Returns a dict of curves [n_eval, S]."""
    import torch

    S = X.shape[0]
    params = [p.detach().repeat_interleave(K, 0).requires_grad_(True) for p in params]
    n_rounds = steps // H
    eval_rounds = set(np.unique(np.linspace(0, n_rounds, cfg.n_eval).round().astype(int)).tolist())
    curves = {"step": [], "train_loss": [], "trace": [], "test_acc": [], "test_loss": []}

    def evaluate(r):
        avg = [p.detach().reshape(S, K, *p.shape[1:]).mean(1) for p in params]
        curves["step"].append(r * H)
        with torch.no_grad():
            curves["trace"].append(gauss_newton_trace(avg, X).cpu().numpy())
            curves["train_loss"].append(clean_loss(avg, X, y).cpu().numpy())
            out = forward(avg, Xte)
            curves["test_acc"].append((torch.sign(out) == yte).float().mean(-1).cpu().numpy())
            curves["test_loss"].append((0.5 * (out - yte) ** 2).mean(-1).cpu().numpy())

    evaluate(0)
    pb = bar(n_rounds, desc, unit="round")
    for r in range(1, n_rounds + 1):
        pb.update(1)
        for _ in range(H):
            Xb, yb = _batch(X, y, K, b, g)
            if label_noise > 0:
                yb = yb + label_noise * torch.randn(yb.shape, generator=g, device=yb.device)
            loss = clean_loss(params, Xb, yb).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, gr in zip(params, grads):
                    p -= lr * gr
        if K > 1:
            with torch.no_grad():
                for p in params:
                    p.copy_(p.reshape(S, K, *p.shape[1:]).mean(1, keepdim=True).expand(S, K, *p.shape[1:])
                            .reshape(p.shape))
        if r in eval_rounds:
            check_finite("MLP parameters", params[0], r * H, "lower the learning rate eta")
            evaluate(r)
    pb.close()
    return {k: np.asarray(v) for k, v in curves.items()}


@dataclass(frozen=True)
class TorchTrack(Summary):
    """One optimiser (SGD, or Local SGD) at the end of the comparison, one entry per inner seed (the config's
    n_seeds, in order), measured on the workers' average.

    trace: tr of the Gauss-Newton part of the Hessian on the training set (the label-noise regulariser);
    test_acc: accuracy of sign(f) on the test set; train_loss: clean training loss 1/2 (f - y)^2, mean over the
    training set."""

    trace: tuple[float, ...]
    test_acc: tuple[float, ...]
    train_loss: tuple[float, ...]


@dataclass(frozen=True)
class TorchSummary(Summary):
    """Local SGD against SGD on the MLP from a common pre-trained start (paper Sec. 2, Fig. 1 / Sec. 4).

    batch: total batch B = K * B_loc of both; alpha: eta * H; slow_time: eta^2 * steps of the comparison;
    trace_start: Gauss-Newton trace at the common start, mean over the seeds; test_acc_start: test accuracy at
    the start, mean over the seeds; sgd: SGD at the end; local: Local SGD at the end;
    trace_ratio: per seed, Local SGD's final trace over SGD's;
    trace_gain: per seed, (SGD's final trace - Local SGD's) / the seed's trace at the start (> 0: Local SGD
    flatter)."""

    batch: int
    alpha: float
    slow_time: float
    trace_start: float
    test_acc_start: float
    sgd: TorchTrack
    local: TorchTrack
    trace_ratio: tuple[float, ...]
    trace_gain: tuple[float, ...]


def _end_of(curves: dict) -> TorchTrack:
    """The last evaluation of one optimiser's curves (`train`), per seed."""
    return TorchTrack(trace=tuple(curves["trace"][-1].tolist()), test_acc=tuple(curves["test_acc"][-1].tolist()),
                      train_loss=tuple(curves["train_loss"][-1].tolist()))


def run_torch(cfg: TorchConfig) -> Result:
    import torch

    single_thread()
    device = resolve_device(cfg.device)
    S = cfg.n_seeds
    X, y, Xte, yte = make_data(cfg, cfg.seed, S, device)
    params = init_params(cfg, cfg.seed, S, device)
    # phase 1: full-batch GD on the clean labels to a common starting point near the manifold of minima
    for step in range(cfg.pre_steps):
        loss = clean_loss(params, X, y).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, gr in zip(params, grads):
                p -= cfg.pre_lr * gr
    check_finite("MLP parameters after pre-training", params[0], cfg.pre_steps, "lower pre_lr")
    start = [p.detach().clone() for p in params]
    g_sgd = generator(cfg.seed, "sgd", device=device)
    g_loc = generator(cfg.seed, "local", device=device)
    B = cfg.K * cfg.local_batch
    sgd = train(start, X, y, Xte, yte, cfg, 1, 1, B, cfg.steps, cfg.eta, cfg.sigma, g_sgd, "SGD")
    loc = train(start, X, y, Xte, yte, cfg, cfg.K, cfg.H, cfg.local_batch, cfg.steps, cfg.eta, cfg.sigma, g_loc,
                "Local SGD")
    arrays = {"step_sgd": sgd["step"], "step_local": loc["step"]}
    for k in ("train_loss", "trace", "test_acc", "test_loss"):
        arrays[f"{k}_sgd"] = sgd[k]
        arrays[f"{k}_local"] = loc[k]
    summary = TorchSummary(
        batch=B, alpha=cfg.eta * cfg.H, slow_time=cfg.steps * cfg.eta ** 2,
        trace_start=float(sgd["trace"][0].mean()), test_acc_start=float(sgd["test_acc"][0].mean()),
        sgd=_end_of(sgd), local=_end_of(loc),
        trace_ratio=tuple((loc["trace"][-1] / sgd["trace"][-1]).tolist()),
        trace_gain=tuple(((sgd["trace"][-1] - loc["trace"][-1]) / sgd["trace"][0]).tolist()))
    return Result("local_sgd.torch", config_dict(cfg), summary, arrays)


def summarize_torch(res: Result) -> str:
    s, c = res.summary, res.config
    m = np.mean
    return "\n".join([
        f"Two-layer tanh MLP (width {c['width']}) on sign(x1 + x2), d={c['d']}, n={c['n_train']}, label noise "
        f"{c['sigma']}; eta={c['eta']}, K={c['K']}, H={c['H']} (alpha={s.alpha:.3g}), B_loc={c['local_batch']} "
        f"(B={s.batch}), {c['steps']} steps (eta^2 * steps = {s.slow_time:.3g}), {c['n_seeds']} seeds",
        f"tr Hessian (Gauss-Newton): start {s.trace_start:.3f} -> SGD {m(s.sgd.trace):.3f}, Local SGD "
        f"{m(s.local.trace):.3f} (Local/SGD per seed: {', '.join(f'{v:.3f}' for v in s.trace_ratio)}; gain "
        f"(SGD - Local)/start: {', '.join(f'{v:.3f}' for v in s.trace_gain)})",
        f"test accuracy: start {s.test_acc_start:.3f} -> SGD {m(s.sgd.test_acc):.3f}, "
        f"Local SGD {m(s.local.test_acc):.3f}",
        f"clean train loss: SGD {m(s.sgd.train_loss):.2e}, Local SGD {m(s.local.train_loss):.2e}"])


TORCH = Experiment(paper="local_sgd", name="torch",
                   description="small MLP, label noise: Local SGD vs SGD at small lr and long training (sharpness, "
                               "test accuracy)",
                   config_cls=TorchConfig, presets={"quick": QUICK, "paper": PAPER}, run=run_torch,
                   summarize=summarize_torch, summary=TorchSummary)
