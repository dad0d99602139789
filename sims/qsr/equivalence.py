"""What Local SGD means on real processes: H = 1 against data-parallel training, and the ranks' agreement inside
and at the end of QSR rounds, with the all-reduces counted against the replay.

Gu, Lyu, Arora, Zhang, Huang, "A Quadratic Synchronization Rule for Distributed Deep Learning" (ICLR 2024,
arXiv 2310.14423); research notes shared/papers/localsgd_qsr_momentum.md 1.6 (the official code: data-parallel
runs all-reduce the flat gradient and then step, local runs step on the local gradient and average the flat
parameters at the end of a round, optimizer states stay unaveraged) and 1.7 Q4 (the checks of this experiment).

K processes (engine `spawn`, gloo on CPU) train the digits MLP of `sims.qsr.torch_run` (`build_model`), all from
the same initialisation, every rank on its own seeded minibatches (`torch_run.Batches`), under a cosine learning
rate with linear warm-up (`theory.qsr.LRSchedule`, as `TorchConfig.schedule`). One run does two things:

(a) H = 1 against data-parallel (Q4 (c), (d)). Two copies of the model train in lock step on the same batches:
    one under `LocalOptimizer(mode="local")` with H = 1 (step on the local gradient, then average the
    parameters), one under `mode="data_parallel"` (average the gradients, then step). After every step the largest
    |theta_local - theta_dp| over the parameters is recorded, and the same over max |theta_dp|. With plain SGD
    and SGD with momentum (coupled weight decay) the two are the same map: the ranks start every step from one
    theta, so the mean over ranks of theta - eta (g_k + wd theta) is theta - eta (mean g + wd theta), and the
    momentum buffers, which stay local, are linear in the gradients, so their mean over ranks follows the
    data-parallel buffer exactly; the two runs then differ only by float32 rounding (the sums are formed in
    another order). AdamW is the negative control the reviewers raised (research notes 1.6, last bullet): its
    moments are unaveraged and the update g / sqrt(v) is nonlinear, so the mean of the ranks' updates is not the
    update of the mean gradient, and the two runs part measurably.
(b) QSR rounds (Q4 (a), (b)). Local training with `theory.qsr.SyncRule.qsr(alpha, h_base)` (H from the learning
    rate of the round's first step, `theory.qsr.h_of`). After every step the spread of the ranks,
    max over parameters of (max over ranks - min over ranks) = max_ij |theta_i - theta_j|, is taken with two
    extra all-reduces (MAX and MIN, outside the optimizer's count; both are exact, so 0 means bit-identical
    models): it must be exactly 0 after every average and above 0 inside a round, where the ranks have taken
    different local steps. The all-reduces the optimizer issued (`opt.rounds`) and the lengths of the rounds
    (read from the steps at which `step()` returned True) are compared with `theory.qsr.replay`, round by round.

Learning rates: `lr` (peak) and `alpha` serve sgd and sgdm, `adamw_lr` and `adamw_alpha` serve AdamW, whose
useful step is some 25 times smaller; the defaults keep alpha / peak equal, so every optimizer gets the same
rounds (H = 2 during the warm-up, 4 at the peak, tens of steps near the end of the cosine).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.errors import ConfigError
from theory import qsr as theory

OPTIMIZERS = ("sgd", "sgdm", "adamw")
TEST_FRACTION = 0.25  # the digits split of torch_run's presets; only the training part is used here


@dataclass(frozen=True)
class EquivalenceConfig:
    """optimizer: the inner optimizer of every run, "sgd" (no momentum, coupled weight decay), "sgdm" (SGD with
    momentum, coupled weight decay) or "adamw" (torch AdamW, betas 0.9 / 0.999, decoupled weight decay); K: workers,
    one process each (at least 2: the run compares ranks); width: hidden units of both hidden layers; local_batch:
    B_loc, each worker's minibatch; steps: steps of each run; warmup: steps of linear warm-up from warmup_start to
    the peak learning rate; lr: the peak learning rate for sgd and sgdm; adamw_lr: the peak learning rate for
    adamw; warmup_start: the warm-up's first learning rate; final_lr: where the cosine decay ends; momentum: sgdm's
    momentum; weight_decay: the inner optimizer's weight decay; label_smoothing: label smoothing of the training
    loss (as in torch_run); h_base: QSR's H_base (and H during the warm-up); alpha: QSR's alpha for sgd and sgdm,
    H = max(h_base, floor((alpha/eta)^2)); adamw_alpha: QSR's alpha for adamw; seed: the seed (data split,
    initialisation, every rank's batches)."""

    optimizer: str = "sgdm"
    K: int = 2
    width: int = 32
    local_batch: int = 16
    steps: int = 300
    warmup: int = 30
    lr: float = 0.05
    adamw_lr: float = 2e-3
    warmup_start: float = 5e-4
    final_lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    h_base: int = 2
    alpha: float = 0.1
    adamw_alpha: float = 0.004
    seed: int = 0

    def validate(self) -> None:
        from sims.qsr.torch_run import validate_recipe

        if isinstance(self.K, bool) or not isinstance(self.K, int) or self.K < 2:
            raise ConfigError(f"K must be an integer >= 2 (the run compares the ranks with one another), got "
                              f"{self.K!r}.")
        validate.positive("adamw_lr", self.adamw_lr)
        validate_recipe(self, OPTIMIZERS, self.peak_lr(), "adamw_lr" if self.optimizer == "adamw" else "lr")
        validate.positive("adamw_alpha", self.adamw_alpha)

    def peak_lr(self) -> float:
        """The peak learning rate of the chosen optimizer (adamw_lr for adamw, lr otherwise)."""
        return float(self.adamw_lr if self.optimizer == "adamw" else self.lr)

    def qsr_alpha(self) -> float:
        """QSR's alpha for the chosen optimizer (adamw_alpha for adamw, alpha otherwise)."""
        return float(self.adamw_alpha if self.optimizer == "adamw" else self.alpha)

    def schedule(self) -> theory.LRSchedule:
        """Linear warm-up, then a cosine over the remaining steps (as `TorchConfig.schedule`)."""
        return theory.LRSchedule(kind="cosine", peak=self.peak_lr(), total=self.steps, warmup=self.warmup,
                                 warmup_start=self.warmup_start, final=self.final_lr)

    def rule(self) -> theory.SyncRule:
        """The QSR rule of part (b)."""
        return theory.SyncRule.qsr(self.qsr_alpha(), self.h_base)


QUICK = EquivalenceConfig()
# 8 workers, a wider model and ten times the steps; alpha / peak as in quick, so H again grows from 2 to tens
PAPER = EquivalenceConfig(K=8, width=64, local_batch=32, steps=3000, warmup=300)
# for the paper checks' tests: fewer steps (H still grows past h_base), not the quick preset's verdicts
TEST = EquivalenceConfig(steps=120, warmup=12)


@dataclass(frozen=True)
class EquivalenceSummary(Summary):
    """H = 1 Local training against data-parallel, and the ranks' spread inside and after QSR rounds (paper
    checks Q4 of the QSR reading, shared/papers/localsgd_qsr_momentum.md 1.7).

    optimizer: the inner optimizer (sgd, sgdm or adamw); K: workers (processes); steps: steps of each run; n_params:
    parameters of the model; peak_lr: the peak learning rate used (lr, or adamw_lr for adamw); h1_max_abs_diff:
    max over parameters of |theta_local - theta_dp| after the last step, H = 1 Local against data-parallel;
    h1_rel_diff: h1_max_abs_diff / max |theta_dp| (float32 rounding for sgd and sgdm, far more for adamw);
    h1_rel_diff_max_over_steps: the largest of that ratio over all steps; h1_rounds: parameter averages of the
    H = 1 run (one per step); train_loss_init: training loss (with label smoothing, whole training split) of the
    common initialisation; dp_train_loss: the same of the data-parallel model after the last step; qsr_train_loss:
    the same of the QSR model after the last step (identical on every rank, the last step ends a round);
    spread_after_average: the largest over averaging steps of max_ij |theta_i - theta_j| in the QSR run (0: the
    ranks hold bit-identical models); spread_mid_round: the smallest of that spread over the steps inside a round
    (after a step that did not average; > 0 when the ranks took different local steps); spread_mid_round_median:
    its median over those steps; mid_round_points: how many such steps there were; rounds: all-reduces the QSR
    run's optimizer issued; rounds_replay: the rounds `theory.qsr.replay` gives for the rule over the same learning
    rates; lengths_match: whether the QSR run's round lengths (read from the steps that averaged, and the
    optimizer's own list) equal the replay's, round by round; h_max: the longest round."""

    optimizer: str
    K: int
    steps: int
    n_params: int
    peak_lr: float
    h1_max_abs_diff: float
    h1_rel_diff: float
    h1_rel_diff_max_over_steps: float
    h1_rounds: int
    train_loss_init: float
    dp_train_loss: float
    qsr_train_loss: float
    spread_after_average: float
    spread_mid_round: float
    spread_mid_round_median: float
    mid_round_points: int
    rounds: int
    rounds_replay: int
    lengths_match: bool
    h_max: int


# ---------------------------------------------------------------------------------------------------------
# one rank's work
# ---------------------------------------------------------------------------------------------------------


def make_inner(cfg: EquivalenceConfig, params):
    """The inner optimizer (the learning rate is set from the schedule before every step)."""
    import torch

    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.peak_lr(), momentum=0.0, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgdm":
        return torch.optim.SGD(params, lr=cfg.peak_lr(), momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.peak_lr(), betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay)


def _flat(model):
    import torch

    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def rank_spread(model) -> float:
    """max over parameters of (max over ranks - min over ranks), the same on every rank: two all-reduces (MAX,
    MIN) of the flat parameters, outside any optimizer's count. Max and min round nothing, so the result is 0.0
    exactly when every rank holds the same bits."""
    import torch.distributed as dist

    hi = _flat(model).clone()
    lo = hi.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    return float((hi - lo).max())


def _step(model, opt, lr: float, x, y, label_smoothing: float) -> bool:
    from sims.qsr.torch_run import train_objective

    for group in opt.optimizer.param_groups:
        group["lr"] = lr
    opt.zero_grad()
    train_objective(model(x), y, label_smoothing).backward()
    return bool(opt.step())


def _train_loss(model, x, y, label_smoothing: float) -> float:
    import torch

    from sims.qsr.torch_run import train_objective

    with torch.no_grad():
        return float(train_objective(model(x), y, label_smoothing))


def _h1_against_dp(cfg, lrs, xtr, ytr, n_classes, rank) -> dict:
    """Part (a): H = 1 Local and data-parallel in lock step, from one initialisation on the same batches."""
    import torch

    from sims.engine.distributed import LocalOptimizer
    from sims.qsr.torch_run import Batches, build_model

    local = build_model(xtr.shape[1], cfg.width, n_classes, cfg.seed)
    dp = build_model(xtr.shape[1], cfg.width, n_classes, cfg.seed)
    loss0 = _train_loss(dp, xtr, ytr, cfg.label_smoothing)
    opt_local = LocalOptimizer(local, make_inner(cfg, local.parameters()), lambda s: 1, mode="local",
                               time_comm=False)
    opt_dp = LocalOptimizer(dp, make_inner(cfg, dp.parameters()), None, mode="data_parallel", time_comm=False)
    batches = Batches(len(xtr), cfg.local_batch, cfg.seed, rank, torch.device("cpu"))
    abs_diff = np.empty(cfg.steps)
    rel_diff = np.empty(cfg.steps)
    for t in range(cfg.steps):
        idx = batches.next()
        x, y = xtr[idx], ytr[idx]
        _step(local, opt_local, float(lrs[t]), x, y, cfg.label_smoothing)
        _step(dp, opt_dp, float(lrs[t]), x, y, cfg.label_smoothing)
        fl, fd = _flat(local), _flat(dp)
        check_finite("the parameters", fd, t + 1, "lower the peak learning rate")
        abs_diff[t] = float((fl - fd).abs().max())
        rel_diff[t] = abs_diff[t] / float(fd.abs().max())
    return {"abs_diff": abs_diff, "rel_diff": rel_diff, "h1_rounds": int(opt_local.rounds),
            "loss0": loss0, "dp_loss": _train_loss(dp, xtr, ytr, cfg.label_smoothing)}


def _qsr_run(cfg, lrs, xtr, ytr, n_classes, rank) -> dict:
    """Part (b): Local training under QSR from the same initialisation and batches; the ranks' spread after every
    step."""
    import torch

    from sims.engine.distributed import LocalOptimizer
    from sims.qsr.torch_run import Batches, build_model

    model = build_model(xtr.shape[1], cfg.width, n_classes, cfg.seed)
    opt = LocalOptimizer(model, make_inner(cfg, model.parameters()), theory.h_of(cfg.rule(), lrs, cfg.warmup),
                         mode="local", time_comm=False)
    batches = Batches(len(xtr), cfg.local_batch, cfg.seed, rank, torch.device("cpu"))
    spread = np.empty(cfg.steps)
    averaged = np.zeros(cfg.steps, dtype=bool)
    for t in range(cfg.steps):
        idx = batches.next()
        averaged[t] = _step(model, opt, float(lrs[t]), xtr[idx], ytr[idx], cfg.label_smoothing)
        check_finite("the parameters", _flat(model), t + 1, "lower the peak learning rate")
        spread[t] = rank_spread(model)
    return {"spread": spread, "averaged": averaged, "rounds": int(opt.rounds),
            "round_lengths": np.asarray(opt.round_lengths, np.int64), "step_count": int(opt.step_count),
            "loss": _train_loss(model, xtr, ytr, cfg.label_smoothing)}


def rank_work(rank: int, world: int, arg) -> dict:
    """Both parts as one rank runs them inside the process group; every number is the same on every rank."""
    import torch
    import torch.distributed as dist

    cfg, data = arg
    xtr = torch.from_numpy(data["x_train"])
    ytr = torch.from_numpy(data["y_train"])
    lrs = cfg.schedule().rates()
    out = {"h1": _h1_against_dp(cfg, lrs, xtr, ytr, data["n_classes"], rank),
           "qsr": _qsr_run(cfg, lrs, xtr, ytr, data["n_classes"], rank)}
    dist.barrier()  # the ranks leave the group together
    return out


# ---------------------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------------------


def _load(cfg: EquivalenceConfig) -> dict:
    from sims.engine.data import digits

    data = digits(test_fraction=TEST_FRACTION, seed=cfg.seed, standardize=True)
    n_train = int(len(data.x_train))
    if cfg.local_batch > n_train:
        raise ConfigError(f"local_batch must not exceed the {n_train} training points, got {cfg.local_batch}.")
    return {"x_train": np.asarray(data.x_train, np.float32), "y_train": np.asarray(data.y_train, np.int64),
            "n_classes": int(data.n_classes)}


def assemble(cfg: EquivalenceConfig, data: dict, out: dict) -> Result:
    """The Result from rank 0's return of `rank_work`: the QSR run's rounds against the replay."""
    h1, q = out["h1"], out["qsr"]
    lrs = cfg.schedule().rates()
    replayed = theory.replay(cfg.rule(), lrs, cfg.warmup)
    ends = np.flatnonzero(q["averaged"]) + 1  # steps (1-based) at which step() averaged
    observed = np.diff(np.concatenate([[0], ends])).astype(np.int64)
    own = q["round_lengths"]
    lengths_match = bool(observed.shape == replayed.lengths.shape and np.array_equal(observed, replayed.lengths)
                         and np.array_equal(own, replayed.lengths) and int(observed.sum()) == cfg.steps)
    mid = q["spread"][~q["averaged"]]
    after = q["spread"][q["averaged"]]
    n_in = data["x_train"].shape[1]
    n_params = (n_in + 1) * cfg.width + (cfg.width + 1) * cfg.width + (cfg.width + 1) * data["n_classes"]
    summary = EquivalenceSummary(
        optimizer=cfg.optimizer, K=cfg.K, steps=cfg.steps, n_params=int(n_params), peak_lr=cfg.peak_lr(),
        h1_max_abs_diff=float(h1["abs_diff"][-1]), h1_rel_diff=float(h1["rel_diff"][-1]),
        h1_rel_diff_max_over_steps=float(h1["rel_diff"].max()), h1_rounds=int(h1["h1_rounds"]),
        train_loss_init=float(h1["loss0"]), dp_train_loss=float(h1["dp_loss"]), qsr_train_loss=float(q["loss"]),
        spread_after_average=float(after.max()) if after.size else float("nan"),
        spread_mid_round=float(mid.min()) if mid.size else float("nan"),
        spread_mid_round_median=float(np.median(mid)) if mid.size else float("nan"),
        mid_round_points=int(mid.size), rounds=int(q["rounds"]), rounds_replay=int(replayed.count),
        lengths_match=lengths_match, h_max=int(observed.max()))
    arrays = {"lr": lrs, "h1_abs_diff": h1["abs_diff"], "h1_rel_diff": h1["rel_diff"],
              "qsr_spread": q["spread"], "qsr_averaged": q["averaged"], "round_lengths": observed,
              "round_lengths_replay": replayed.lengths}
    return Result("qsr.equivalence", config_dict(cfg), summary, arrays)


def run_equivalence(cfg: EquivalenceConfig) -> Result:
    """Spawn K gloo processes (engine `spawn`), run `rank_work` on each, assemble rank 0's numbers."""
    from sims.engine.distributed import spawn
    from sims.engine.torch_layer import single_thread

    single_thread()
    data = _load(cfg)
    outs = spawn(rank_work, cfg.K, (cfg, data), backend="gloo")
    return assemble(cfg, data, outs[0])


def summarize_equivalence(res: Result) -> str:
    s, c = res.summary, res.config
    yes = {True: "yes", False: "NO"}
    lines = [
        f"digits MLP width {c['width']} ({s.n_params} parameters), {s.optimizer}, K={s.K} gloo processes, "
        f"B_loc={c['local_batch']}, {s.steps} steps, cosine lr peak {s.peak_lr:g} (warm-up {c['warmup']}); "
        f"training loss {s.train_loss_init:.3f} -> {s.dp_train_loss:.3f} (data-parallel), "
        f"{s.qsr_train_loss:.3f} (QSR)",
        f"{'check':<44}{'value':>12}",
        f"{'H=1 local vs data-parallel, max |diff|':<44}{s.h1_max_abs_diff:>12.3e}",
        f"{'  relative to max |theta_dp|, last step':<44}{s.h1_rel_diff:>12.3e}",
        f"{'  relative, largest over steps':<44}{s.h1_rel_diff_max_over_steps:>12.3e}",
        f"{'QSR: rank spread after averages (max)':<44}{s.spread_after_average:>12.3e}",
        f"{'QSR: rank spread mid-round (min)':<44}{s.spread_mid_round:>12.3e}",
        f"{'QSR: rank spread mid-round (median)':<44}{s.spread_mid_round_median:>12.3e}",
        f"{'QSR: mid-round points':<44}{s.mid_round_points:>12}",
        f"{'QSR: all-reduces / replay':<44}{f'{s.rounds} / {s.rounds_replay}':>12}",
        f"{'QSR: round lengths equal the replay':<44}{yes[bool(s.lengths_match)]:>12}",
        f"{'QSR: longest round H':<44}{s.h_max:>12}"]
    return "\n".join(lines)


EQUIVALENCE = Experiment(paper="qsr", name="equivalence",
                         description="K real processes: H = 1 Local against data-parallel (equal for SGD and SGDM, "
                                     "not for AdamW), ranks bit-identical after every QSR average and apart inside "
                                     "rounds, all-reduces against the replay",
                         config_cls=EquivalenceConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST},
                         run=run_equivalence, summarize=summarize_equivalence, summary=EquivalenceSummary)

__all__ = ["EQUIVALENCE", "EquivalenceConfig", "EquivalenceSummary", "OPTIMIZERS", "PAPER", "QUICK", "assemble",
           "make_inner", "rank_spread", "rank_work", "run_equivalence", "summarize_equivalence"]
