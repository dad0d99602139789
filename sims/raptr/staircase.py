"""Increasing against decreasing subnetwork size on a "staircase" target (our instance of the RaPTr paper's
polynomial argument, Panigrahi et al., arXiv 2402.05913, Sec. 3.3 item 1; research notes sec. 3.5 check 3).

The paper argues (its exact toy and statement are UNVERIFIED in our notes) that training short random paths
first lets a residual network fit the low-degree part of a target, and growing the paths afterwards lets it fit
the higher-order interactions, while progressive layer dropping (PLD), which ends training on shallow subnetworks,
leaves those interactions under-fitted. Our instance [ours]:

- inputs x uniform on {-1, +1}^d (d = 20 at the quick preset), fresh mini-batches every step (online training);
- target "staircase": y = x1 + x1 x2 + x1 x2 x3; control target "linear": y = x1 + x2 + x3 (degree one, where
  the order of the sizes should not matter);
- network: x -> linear map to width w -> L pre-LN residual blocks h -> h + W2 gelu(W1 LN(h)) run by
  `subnet.BlockRunner` (the code path of the paper's method) -> LN -> linear read-out;
- schedules, all the same number of steps, built with `sims.raptr.subnet`:
  "full" (every block every step, the reference, more FLOPs); "raptr" (equal stages of increasing active sizes
  `sizes`, ending at L); "pld" (the same sizes in decreasing order); "constant" (one stage with the mean of
  `sizes` active, stochastic depth, mode `constant_mode`). raptr, pld and constant fix the first and last blocks
  when `fix_ends`, use the branch scaling `scale`, and have the same expected block FLOPs
  sum_s (T_s / T) l_s (paper Sec. 3.2; exact when the stages are equal and constant_mode is "subset");
- measurements on the FULL network (every block, no scaling) at `evals` evenly spaced steps: test MSE on fresh
  inputs, and the Fourier coefficient c_S = E[f(x) chi_S(x)], chi_S(x) = prod_{i in S} x_i, on each monomial of
  the target (the target's coefficients are all 1, the others 0).

Fourier estimate [ours]: c_S = E[y chi_S] + E[(f - y) chi_S], where E[y chi_S] is the target's own coefficient
(known exactly: 1), and the second term is a sample mean over the n_test fresh inputs; this is unbiased and its
standard error is about sqrt(E[(f - y)^2] / n_test), the test error's, instead of sqrt(E[f^2] / n_test) for the
plain sample mean of f chi_S (a control variate).

The notes' expectation (not asserted by the code): raptr close to full at the end, pld's degree-3 coefficient well
below 1 and its test MSE higher; constant in between is an open question the paper's reviewers raised.

Measured at the quick preset, seeds 0, 1, 2 [ours]: full training learns the staircase within about 150 steps, so
pld's first stage (all 8 blocks) learns it too. At the end raptr matches full (test MSE 4-9e-4 against 3-4e-4,
degree-3 coefficient 0.999-1.001); pld's full network is 10-40x worse (test MSE 0.009-0.016) and its degree-3
coefficient OVERSHOOTS (1.057-1.086) rather than falling below 1, so raptr - pld on it is negative (-0.057 to
-0.085) while pld's distance from 1 is the larger; constant lies in between (MSE 0.0012-0.0018, 1.021-1.023). On
the linear control pld is equally worse in test MSE (0.012-0.024 against 3-5e-4): what hurts pld here is ending
on subnetworks, not the degree of the target.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.errors import ConfigError
from sims.engine.progress import bar as progress_bar
from sims.engine.torch_layer import generator, resolve_device, seeded, single_thread

from .subnet import MODES, SCALES, BlockRunner, Schedule, full, progressive

SCHEDULES = ("full", "raptr", "pld", "constant")

# Each target: its monomials (0-based input indices), every coefficient 1 (module docstring).
TARGETS: dict[str, tuple[tuple[int, ...], ...]] = {
    "staircase": ((0,), (0, 1), (0, 1, 2)),
    "linear": ((0,), (1,), (2,)),
}


def monomial_name(monomial: tuple[int, ...]) -> str:
    """The name of a monomial from its inputs' 1-based indices: "x1x2x3" for (0, 1, 2)."""
    return "".join(f"x{i + 1}" for i in monomial)


# ---- the target and its Fourier coefficients -----------------------------------------------------------------
def characters(x: torch.Tensor, monomials: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """chi_S(x) = prod_{i in S} x_i for each monomial S: a [n, len(monomials)] tensor, x of shape [n, d]."""
    return torch.stack([x[:, list(s)].prod(dim=1) for s in monomials], dim=1)


def target_values(x: torch.Tensor, monomials: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """y(x) = sum_S chi_S(x), every coefficient 1: shape [n]."""
    return characters(x, monomials).sum(dim=1)


def fourier_coefficients(values: torch.Tensor, x: torch.Tensor,
                         monomials: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """The sample mean of values * chi_S(x) for each monomial S: E[f chi_S] over the points x (exact when x is the
    whole cube {-1, +1}^d, an estimate over a uniform sample); values of shape [n]."""
    return (values[:, None] * characters(x, monomials)).mean(dim=0)


def learned_coefficients(f: torch.Tensor, y: torch.Tensor, x: torch.Tensor,
                         monomials: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """The control-variate estimate of the learned function's coefficients (module docstring, [ours]): 1 (the
    target's own coefficient) plus the sample mean of (f - y) chi_S."""
    return 1.0 + fourier_coefficients(f - y, x, monomials)


def sample_inputs(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    """n points uniform on {-1, +1}^dim, drawn from gen: a float tensor [n, dim]."""
    return torch.randint(0, 2, (n, dim), generator=gen).float() * 2.0 - 1.0


# ---- the network ------------------------------------------------------------------------------------------------
class MLPBlock(nn.Module):
    """One pre-LN residual block h -> h + W2 gelu(W1 LN(h)) (hidden width `hidden`)."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h plus the branch W2 gelu(W1 LN(h))."""
        return h + self.down(torch.nn.functional.gelu(self.up(self.norm(h))))


class ResidualMLP(nn.Module):
    """x -> linear map to width -> n_layers `MLPBlock`s run by a `BlockRunner` -> LN -> linear read-out (a scalar).

    `.runner.executed` counts the blocks run, the FLOPs counter of `subnet`."""

    def __init__(self, dim: int, width: int, hidden: int, n_layers: int, scale: str = "inverse"):
        super().__init__()
        self.embed = nn.Linear(dim, width)
        self.runner = BlockRunner(nn.ModuleList(MLPBlock(width, hidden) for _ in range(n_layers)), scale)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, inclusion: float = 1.0,
                fixed: tuple[int, ...] = ()) -> torch.Tensor:
        """The output [n] with only the blocks in mask active (all when mask is None; see `BlockRunner`)."""
        h = self.runner(self.embed(x), mask, inclusion, fixed)
        return self.head(self.norm(h)).squeeze(-1)


# ---- the config -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaircaseConfig:
    """dim: input dimension d (at least 3: the targets use x1..x3); targets: which of "staircase", "linear" to
    train on; schedules: which of "full", "raptr", "pld", "constant" to compare; width: residual stream width w;
    hidden: hidden width of each block's MLP; n_layers: residual blocks L; sizes: RaPTr's active blocks per stage,
    strictly increasing and ending at L (pld runs them reversed, constant runs their mean); fix_ends: the first and
    last blocks are active at every step of raptr, pld and constant (the paper's choice); scale: branch scaling of
    the subnetworks, "inverse" (1/pi) or "none" (`subnet`); constant_mode: how the constant schedule draws its
    blocks, "bernoulli" (stochastic depth) or "subset" (exactly the mean size every step); steps: Adam steps of
    every run (a multiple of len(sizes), so the stages are equal and the FLOPs match); batch: fresh inputs per step;
    lr: Adam's learning rate (constant); evals: evaluation points, evenly spaced, the last at `steps`; n_test:
    fresh inputs of the test MSE and the Fourier estimates (one sample, reused at every evaluation); seed:
    initialisation (shared by the schedules of one target), training inputs (shared likewise), test inputs and
    layer draws; device: "cpu", "cuda" or "auto"."""

    dim: int = 20
    targets: tuple[str, ...] = ("staircase", "linear")
    schedules: tuple[str, ...] = SCHEDULES
    width: int = 32
    hidden: int = 64
    n_layers: int = 8
    sizes: tuple[int, ...] = (4, 6, 8)
    fix_ends: bool = True
    scale: str = "inverse"
    constant_mode: str = "bernoulli"
    steps: int = 1500
    batch: int = 128
    lr: float = 1e-3
    evals: int = 10
    n_test: int = 8192
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.seed("seed", self.seed)
        if not isinstance(self.fix_ends, bool):
            raise validate.ConfigError(f"fix_ends must be true or false; got {self.fix_ends!r}.")
        validate.positive_int("dim", self.dim, 3)
        _distinct_choices("targets", self.targets, tuple(TARGETS))
        _distinct_choices("schedules", self.schedules, SCHEDULES)
        validate.positive_int("width", self.width)
        validate.positive_int("hidden", self.hidden)
        validate.positive_int("n_layers", self.n_layers)
        self._validate_sizes()
        validate.one_of("scale", self.scale, SCALES)
        validate.one_of("constant_mode", self.constant_mode, MODES)
        if self.constant_mode == "subset" and sum(self.sizes) % len(self.sizes):
            raise ConfigError(f"constant_mode 'subset' needs a whole mean of sizes; {self.sizes} has mean "
                              f"{np.mean(self.sizes):g}.")
        validate.positive_int("steps", self.steps)
        if self.steps % len(self.sizes):
            raise ConfigError(f"steps must be a multiple of len(sizes) ({len(self.sizes)}) so the stages are equal; "
                              f"got {self.steps}.")
        validate.positive_int("batch", self.batch)
        validate.positive("lr", self.lr)
        validate.positive_int("evals", self.evals)
        if self.evals > self.steps:
            raise ConfigError(f"evals must be at most steps ({self.steps}); got {self.evals}.")
        validate.positive_int("n_test", self.n_test, 2)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))

    def _validate_sizes(self) -> None:
        validate.non_empty("sizes", self.sizes)
        validate.each(validate.positive_int, "sizes", self.sizes)
        if any(b <= a for a, b in zip(self.sizes, self.sizes[1:])) or self.sizes[-1] != self.n_layers:
            raise ConfigError(f"sizes must increase strictly and end at n_layers ({self.n_layers}); got {self.sizes}.")
        if self.fix_ends and self.sizes[0] < min(2, self.n_layers):
            raise ConfigError(f"sizes must be at least 2 when fix_ends holds (first and last blocks always run); "
                              f"got {self.sizes}.")

    @property
    def fixed(self) -> tuple[int, ...]:
        """The always-active blocks of the subnetwork schedules: the first and last when fix_ends."""
        return tuple(sorted({0, self.n_layers - 1})) if self.fix_ends else ()


def _distinct_choices(name: str, values: tuple[str, ...], choices: tuple[str, ...]) -> None:
    """Require a non-empty tuple of distinct names from choices."""
    validate.each(lambda n, v: validate.one_of(n, v, choices), name, values)
    if len(set(values)) != len(values):
        raise ConfigError(f"{name} must not repeat a name; got {values}.")


QUICK = StaircaseConfig()
PAPER = StaircaseConfig(width=128, hidden=256, steps=15000, batch=512, lr=3e-4, evals=30, n_test=65536,
                        device="auto")
TEST = StaircaseConfig(dim=6, width=8, hidden=8, n_layers=4, sizes=(2, 3, 4), steps=30, batch=16, evals=2,
                       n_test=256)


def schedule(cfg: StaircaseConfig, name: str) -> Schedule:
    """The `subnet.Schedule` of one of the four schedules (module docstring)."""
    L = cfg.n_layers
    if name == "full":
        return full(L, cfg.steps)
    if name == "raptr":
        return progressive(L, cfg.sizes, cfg.steps, cfg.fixed)
    if name == "pld":
        return progressive(L, tuple(reversed(cfg.sizes)), cfg.steps, cfg.fixed)
    if name == "constant":
        mean = float(np.mean(cfg.sizes))
        active = int(mean) if cfg.constant_mode == "subset" else mean
        return Schedule(L, ((cfg.steps, active),), cfg.fixed, cfg.constant_mode)
    raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}; got {name!r}.")


# ---- one run ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleSummary(Summary):
    """One schedule trained on one target, measured on the full network at the end of training.

    test_mse: mean squared error against the target on the n_test fresh inputs;
    coefficients: the learned function's Fourier coefficient on each monomial of the target, keyed by its name
    ("x1", "x1x2", "x1x2x3" for the staircase; "x1", "x2", "x3" for the linear control); the target's are all 1;
    executed: residual blocks run in training forward passes (BlockRunner.executed; evaluation excluded);
    flops_ratio: executed / (n_layers * steps), the block FLOPs relative to full training;
    expected_active: the schedule's mean active blocks per step, sum_s (T_s / T) l_s (paper Sec. 3.2);
    train_loss: mean training loss (of the subnetworks run) over the last evaluation interval."""

    test_mse: float
    coefficients: dict[str, float]
    executed: int
    flops_ratio: float
    expected_active: float
    train_loss: float


def _evaluate(model: ResidualMLP, x: torch.Tensor, y: torch.Tensor,
              monomials: tuple[tuple[int, ...], ...]) -> tuple[float, np.ndarray]:
    """(test MSE, Fourier coefficients) of the full network on (x, y); the FLOPs counter is left unchanged."""
    counted = model.runner.executed
    with torch.no_grad():
        f = model(x)
    model.runner.executed = counted
    check_finite("the full network's output", f)
    mse = float(((f - y) ** 2).mean())
    return mse, learned_coefficients(f, y, x, monomials).cpu().numpy()


def eval_steps(cfg: StaircaseConfig) -> list[int]:
    """The evaluation steps: `evals` evenly spaced, the last at `steps`."""
    return sorted({round(cfg.steps * (e + 1) / cfg.evals) for e in range(cfg.evals)})


def train_one(cfg: StaircaseConfig, target: str, name: str,
              tick: Callable[[], None] = lambda: None) -> tuple[ScheduleSummary, dict[str, np.ndarray]]:
    """Train the network on `target` under schedule `name`; its summary and its curves (step, test_mse,
    coefficients [evals, monomials], train_loss)."""
    device = resolve_device(cfg.device)
    monomials = TARGETS[target]
    sched = schedule(cfg, name)
    sched.validate()
    with seeded(cfg.seed, "init", target):
        model = ResidualMLP(cfg.dim, cfg.width, cfg.hidden, cfg.n_layers, cfg.scale)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)
    data, layers = generator(cfg.seed, "data", target), generator(cfg.seed, "layers", target, name)
    x_test = sample_inputs(cfg.n_test, cfg.dim, generator(cfg.seed, "test", target)).to(device)
    y_test = target_values(x_test, monomials)
    marks = set(eval_steps(cfg))
    rows: dict[str, list] = {"step": [], "test_mse": [], "coefficients": [], "train_loss": []}
    window: list[float] = []
    for step in range(cfg.steps):
        mask = sched.sample(step, layers)
        x = sample_inputs(cfg.batch, cfg.dim, data).to(device)
        inclusion = sched.inclusion(sched.stage_of(step))
        out = model(x, mask.to(device), inclusion, sched.fixed)
        loss = ((out - target_values(x, monomials)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        window.append(float(loss.detach()))
        check_finite("the training loss", window[-1], step, f"(target {target}, schedule {name}; try a smaller lr)")
        tick()
        if step + 1 in marks:
            mse, coef = _evaluate(model, x_test, y_test, monomials)
            rows["step"].append(step + 1)
            rows["test_mse"].append(mse)
            rows["coefficients"].append(coef)
            rows["train_loss"].append(float(np.mean(window)))
            window.clear()
    arrays = {k: np.asarray(v, dtype=float) for k, v in rows.items()}
    executed = model.runner.executed
    summary = ScheduleSummary(
        test_mse=rows["test_mse"][-1],
        coefficients={monomial_name(s): float(c) for s, c in zip(monomials, rows["coefficients"][-1])},
        executed=int(executed), flops_ratio=executed / (cfg.n_layers * cfg.steps),
        expected_active=sched.expected_active(), train_loss=rows["train_loss"][-1])
    return summary, arrays


# ---- the experiment ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetSummary(Summary):
    """Every schedule on one target.

    schedules: each schedule's `ScheduleSummary`, keyed by its name ("full", "raptr", "pld", "constant");
    top_monomial: the name of the target's last (highest-degree) monomial: "x1x2x3" for the staircase, "x3" for
    the linear control;
    top_raptr_minus_pld: the coefficient on top_monomial of raptr minus that of pld (the degree-3 gap for the
    staircase; NaN when either schedule was not run);
    top_error_pld_minus_raptr: |c_pld - 1| - |c_raptr - 1| for the coefficient on top_monomial: how much farther
    from the target's coefficient pld ends than raptr, whichever side of 1 (NaN when either was not run);
    mse_pld_minus_raptr: test MSE of pld minus that of raptr (NaN when either was not run)."""

    schedules: dict[str, ScheduleSummary]
    top_monomial: str
    top_raptr_minus_pld: float
    top_error_pld_minus_raptr: float
    mse_pld_minus_raptr: float


@dataclass(frozen=True)
class StaircaseSummary(Summary):
    """The comparison of the schedules on each target.

    targets: each target's `TargetSummary`, keyed by its name ("staircase", "linear");
    seconds: wall time of the whole run."""

    targets: dict[str, TargetSummary]
    seconds: float


def _target_summary(target: str, schedules: dict[str, ScheduleSummary]) -> TargetSummary:
    """The schedules of one target with the derived raptr-against-pld differences."""
    top = monomial_name(TARGETS[target][-1])
    if not ("raptr" in schedules and "pld" in schedules):
        nan = float("nan")
        return TargetSummary(schedules=schedules, top_monomial=top, top_raptr_minus_pld=nan,
                             top_error_pld_minus_raptr=nan, mse_pld_minus_raptr=nan)
    raptr, pld = schedules["raptr"].coefficients[top], schedules["pld"].coefficients[top]
    return TargetSummary(schedules=schedules, top_monomial=top, top_raptr_minus_pld=raptr - pld,
                         top_error_pld_minus_raptr=abs(pld - 1.0) - abs(raptr - 1.0),
                         mse_pld_minus_raptr=schedules["pld"].test_mse - schedules["raptr"].test_mse)


def run(cfg: StaircaseConfig) -> Result:
    """Train every schedule on every target (module docstring); arrays "<target>.<schedule>.<curve>"."""
    cfg.validate()
    single_thread()
    start = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    targets: dict[str, TargetSummary] = {}
    with progress_bar(len(cfg.targets) * len(cfg.schedules) * cfg.steps, "raptr.staircase") as bar:
        for target in cfg.targets:
            schedules = {}
            for name in cfg.schedules:
                schedules[name], curves = train_one(cfg, target, name, lambda: bar.update(1))
                arrays.update({f"{target}.{name}.{k}": v for k, v in curves.items()})
            targets[target] = _target_summary(target, schedules)
    summary = StaircaseSummary(targets=targets, seconds=time.perf_counter() - start)
    return Result(STAIRCASE_ID, config_dict(cfg), summary, arrays)


def summarize(res: Result) -> str:
    """One table per target: each schedule's test MSE, Fourier coefficients, FLOPs; then the derived gaps."""
    s: StaircaseSummary = res.summary
    c = res.config
    head = (f"pre-LN residual MLP, d={c['dim']}, width {c['width']}, {c['n_layers']} blocks, sizes "
            f"{tuple(c['sizes'])}, {c['steps']} Adam steps (lr {c['lr']:g}, batch {c['batch']}), scale "
            f"{c['scale']}, seed {c['seed']}, {s.seconds:.1f} s")
    lines = [head]
    for target, t in s.targets.items():
        names = list(next(iter(t.schedules.values())).coefficients)
        lines.append(f"target {target}: y = {' + '.join(names)}  (every coefficient 1)")
        lines.append(f"  {'schedule':<9} {'test MSE':>9} " + " ".join(f"{n:>8}" for n in names)
                     + f" {'FLOPs':>6} {'blocks run':>10}")
        for name, r in t.schedules.items():
            lines.append(f"  {name:<9} {r.test_mse:>9.4f} " + " ".join(f"{r.coefficients[n]:>8.3f}" for n in names)
                         + f" {r.flops_ratio:>6.3f} {r.executed:>10d}")
        lines.append(f"  coefficient on {t.top_monomial}, raptr - pld: {t.top_raptr_minus_pld:+.3f}; its distance "
                     f"to 1, pld - raptr: {t.top_error_pld_minus_raptr:+.3f}; test MSE, pld - raptr: "
                     f"{t.mse_pld_minus_raptr:+.4f}")
    return "\n".join(lines)


STAIRCASE_ID = "raptr.staircase"
STAIRCASE = Experiment(paper="raptr", name="staircase",
                       description="[ours] increasing (RaPTr) vs decreasing (PLD) vs constant subnetwork size at "
                                   "equal FLOPs on a staircase target x1 + x1x2 + x1x2x3: Fourier coefficients",
                       config_cls=StaircaseConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST},
                       run=run, summarize=summarize, summary=StaircaseSummary)
