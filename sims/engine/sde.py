"""A batched fixed-step SDE integrator: Euler-Maruyama and Milstein, numpy and torch backends.

The Ito SDE  dX = b(t, X) dt + S(t, X) dW  is advanced for many paths at once; the state is an array
x of shape [n_paths, d] and each step costs one call of the drift and one of the diffusion on the
whole batch. Three noise structures are understood (the names follow torchsde):

- ``"diagonal"``: diffusion(t, x) -> [n_paths, d]; dX_i = b_i dt + s_i dW_i with m = d Brownian motions.
  For Milstein, s_i must depend on x_i only (the usual meaning of diagonal noise); otherwise the
  Milstein correction would need Levy areas.
- ``"general"``: diffusion(t, x) -> [n_paths, d, m]; dX = b dt + S dW with dW in R^m.
- ``"additive"``: diffusion is constant in (t, x); it is called once, at (t0, x0), and must return
  [d] (diagonal, one Brownian motion per coordinate) or [d, m] (general). The noise term of a whole
  block of steps is then formed in one vectorised operation.

Schemes (Kloeden & Platen, *Numerical Solution of Stochastic Differential Equations*, 1992):

- Euler-Maruyama (K&P section 10.2, eq. 10.2.2): X_{n+1} = X_n + b dt + S dW_n; strong order 1/2,
  weak order 1.
- Milstein for diagonal noise (K&P section 10.3, eq. 10.3.3):
  X_{n+1} = X_n + b dt + s dW + 1/2 s s' (dW^2 - dt), with s' = d s_i / d x_i from ``diffusion_dx``,
  or, without it, the derivative-free Runge-Kutta form of K&P section 11.1 (eq. 11.1.7):
  s s' is replaced by (s(t, Y) - s(t, X)) / sqrt(dt) with the support value Y = X + b dt + s sqrt(dt).
  Strong order 1. With additive noise the correction vanishes and Milstein equals Euler.

Brownian increments are drawn in blocks of steps from ``sims.engine.seeding.rng`` (numpy) or
``sims.engine.torch_layer.generator`` (torch); ``brownian_increments`` draws the very same numbers,
so ``integrate(..., seed=s)`` equals ``integrate(..., dW=brownian_increments(..., seed=s))``.
Pass ``dW`` to share one Brownian path between runs (order tests, ``coarsen``).

The torch backend updates the state in place and is not meant for autograd through the solver.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import validate
from .divergence import check_finite
from .errors import ConfigError

METHODS = ("euler", "milstein")
NOISES = ("diagonal", "general", "additive")

# Increments are generated in blocks of about this many numbers (2 MiB in float64): large enough
# to amortise the generator call, small enough to stay in cache and never hold a whole path.
_BLOCK_ELEMS = 1 << 18


@dataclass
class SDESolution:
    """Result of `integrate`.

    t: recorded times (numpy, float64); [t1] alone when nothing was recorded.
    x: the final state [n_paths, d], numpy or torch like x0.
    records: recorded values stacked along a new first axis [len(t), ...] (numpy), or None.
    """

    t: np.ndarray
    x: Any
    records: np.ndarray | None


# --------------------------------------------------------------------------------------------
# Brownian increments


def _is_torch(value) -> bool:
    return type(value).__module__.split(".")[0] == "torch"


def _steps_per_block(n_steps: int, n_paths: int, m: int) -> int:
    return max(1, min(n_steps, _BLOCK_ELEMS // max(1, n_paths * m)))


def _increment_blocks(n_steps, n_paths, m, dt, seed, stream, like):
    """Yield arrays [k, n_paths, m] of N(0, dt) increments whose concatenation has n_steps rows."""
    sq = math.sqrt(dt)
    k = _steps_per_block(n_steps, n_paths, m)
    if like is None:
        from .seeding import rng

        gen = rng(seed, *stream)
        done = 0
        while done < n_steps:
            j = min(k, n_steps - done)
            z = gen.standard_normal((j, n_paths, m))
            z *= sq
            yield z
            done += j
    else:
        import torch

        from .torch_layer import generator

        g = generator(seed, *stream, device=like.device)
        done = 0
        while done < n_steps:
            j = min(k, n_steps - done)
            z = torch.randn((j, n_paths, m), generator=g, device=like.device, dtype=like.dtype)
            z.mul_(sq)
            yield z
            done += j


def brownian_increments(n_steps: int, n_paths: int, m: int, dt: float, *, seed: int = 0,
                        stream=("sde",), like=None):
    """N(0, dt) Brownian increments of shape [n_steps, n_paths, m], deterministic per (seed, stream).

    numpy float64 by default; a torch tensor on like's device and dtype when `like` is a torch tensor.
    They are the same numbers that `integrate(..., seed=seed)` draws internally.
    """
    _check_int("n_steps", n_steps)
    _check_int("n_paths", n_paths)
    _check_int("m", m)
    validate.positive("dt", dt)
    stream = tuple(stream)
    if like is not None and not _is_torch(like):
        raise ConfigError("like must be a torch tensor (or None for numpy increments).")
    blocks = list(_increment_blocks(n_steps, n_paths, m, float(dt), seed, stream, like))
    if like is None:
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)
    import torch

    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=0)


def coarsen(dW, factor: int):
    """Sum consecutive groups of `factor` increments: the same Brownian path on a grid `factor` times coarser.

    dW: [n_steps, ...] numpy array or torch tensor with n_steps divisible by factor.
    """
    _check_int("factor", factor)
    n = dW.shape[0]
    if n % factor:
        raise ConfigError(f"factor must divide the number of steps {n}; got {factor}.")
    return dW.reshape(n // factor, factor, *dW.shape[1:]).sum(1)


# --------------------------------------------------------------------------------------------
# validation helpers


def _check_int(name, value, minimum=1):
    """validate.positive_int that also accepts numpy integers (shapes and counts often are)."""
    validate.positive_int(name, int(value) if isinstance(value, np.integer) else value, minimum)


def _shape(v):
    return tuple(getattr(v, "shape", ()))


def _broadcasts_to(shape, target) -> bool:
    try:
        return tuple(np.broadcast_shapes(tuple(shape), tuple(target))) == tuple(target)
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# backends: the few in-place kernels the step needs


class _NumpyOps:
    def __init__(self, x):
        self.buf = np.empty_like(x)

    def add_scaled(self, x, a, y):  # x += a * y
        np.multiply(y, a, out=self.buf)
        x += self.buf

    def add_prod(self, x, s, w):  # x += s * w (elementwise)
        np.multiply(s, w, out=self.buf)
        x += self.buf

    @staticmethod
    def matvec(S, w):  # [.., d, m] @ [P, m] -> [P, d]
        return np.matmul(S, w[..., None])[..., 0]

    @staticmethod
    def to_numpy(v):
        return np.array(v, copy=True)


class _TorchOps:
    def __init__(self, x):
        pass

    @staticmethod
    def add_scaled(x, a, y):
        x.add_(y, alpha=a)

    @staticmethod
    def add_prod(x, s, w):
        x.addcmul_(s, w)

    @staticmethod
    def matvec(S, w):
        return (S @ w.unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def to_numpy(v):
        if _is_torch(v):
            return v.detach().cpu().numpy().copy()
        return np.array(v, copy=True)


def _converted(fn, as_backend):
    def wrapped(t, x):
        return as_backend(fn(t, x))

    return wrapped


# --------------------------------------------------------------------------------------------
# the integrator


@dataclass
class _Noise:
    """What the first evaluation fixes: the drift and diffusion as the backend needs them, their values at t0,
    the number m of Brownian motions, and for additive noise the constant noise matrix (None otherwise)."""

    drift: Callable
    diffusion: Callable
    diffusion_dx: Callable | None
    b: Any
    s: Any
    m: int
    const_noise: Any = None
    additive_general: bool = False

    @property
    def zero(self) -> bool:
        """An identically zero additive noise: a pure flow, no increments drawn."""
        return self.const_noise is not None and not bool((self.const_noise != 0).any())


class _Schedule:
    """When the loop records the state (every `record_every` steps and at the end) and checks it is finite
    (every `check_every` steps, at record points and at the end); `due` is the next step where either happens."""

    HINT = "Reduce the step size (increase n_steps) or check the drift and diffusion."

    def __init__(self, t0, t1, n_steps, record_every, check_every, record_fn, to_numpy):
        self.t0, self.t1, self.n_steps = t0, t1, n_steps
        self.dt = (t1 - t0) / n_steps
        self.record_every, self.check_every = record_every, check_every
        self.record_fn, self.to_numpy = record_fn, to_numpy
        self.times: list[float] = []
        self.records: list = []
        self.next_rec = record_every if record_every is not None else n_steps
        self.next_chk = check_every if check_every is not None else n_steps
        self.due = min(self.next_rec, self.next_chk, n_steps)

    def start(self, x) -> None:
        if self.record_every is not None:
            self._record(self.t0, x)
            check_finite("the SDE state", x, step=0, hint=self.HINT)

    def _record(self, t, x) -> None:
        self.times.append(t)
        self.records.append(self.to_numpy(self.record_fn(x) if self.record_fn is not None else x))

    def reached(self, n: int, x) -> None:
        """Step n == self.due: check, record when it is a record point, and move `due` on."""
        n_steps = self.n_steps
        check_finite("the SDE state", x, step=n, hint=self.HINT)
        if self.record_every is not None and (n == self.next_rec or n == n_steps):
            self._record(self.t1 if n == n_steps else self.t0 + n * self.dt, x)
            self.next_rec += self.record_every
        if n == self.next_chk:
            self.next_chk += self.check_every if self.check_every is not None else n_steps
        self.due = min(self.next_rec, self.next_chk, n_steps)
        if self.due <= n:  # only possible once n == n_steps
            self.due = n_steps + 1

    def solution(self, x) -> SDESolution:
        if self.record_every is None:
            return SDESolution(t=np.array([self.t1]), x=x, records=None)
        return SDESolution(t=np.array(self.times), x=x, records=np.stack(self.records))


def _arguments(method, noise, t0, t1, n_steps, record_every, check_every, record_fn):
    """Validate the scalar arguments; returns (t0, t1, n_steps, record_every) as the loop uses them."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    if noise not in NOISES:
        raise ConfigError(f"noise must be one of {', '.join(NOISES)}; got {noise!r}.")
    if method == "milstein" and noise == "general":
        raise ConfigError("method 'milstein' needs noise 'diagonal' (or 'additive'); "
                          "general noise would need Levy areas, use method 'euler'.")
    _check_int("n_steps", n_steps)
    for name, v in (("t0", t0), ("t1", t1)):
        try:
            ok = math.isfinite(float(v))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"{name} must be a finite number, got {v!r}.")
    t0, t1 = float(t0), float(t1)
    if t1 <= t0:
        raise ConfigError(f"t1 must be greater than t0 = {t0}, got {t1}.")
    if record_every is not None:
        _check_int("record_every", record_every)
    if check_every is not None:
        _check_int("check_every", check_every)
    if record_fn is not None and record_every is None:
        record_every = n_steps
    return t0, t1, int(n_steps), record_every


def _backend(x0):
    """The state as a float copy of x0, the in-place kernels of its backend, and a converter to that backend."""
    if _is_torch(x0):
        import torch

        x = x0.detach().clone()
        if not x.is_floating_point():
            x = x.to(torch.float64)

        def as_backend(v):
            return torch.as_tensor(v, dtype=x.dtype, device=x.device)

        ops = _TorchOps(x)
    else:
        x = np.array(x0, copy=True)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)

        def as_backend(v):
            if _is_torch(v):
                v = v.detach().cpu().numpy()
            return np.asarray(v, dtype=x.dtype)

        ops = _NumpyOps(x)
    if x.ndim != 2:
        raise ConfigError(f"x0 must have shape [n_paths, d]; got shape {_shape(x0)}.")
    return x, ops, as_backend


def _first_evaluation(drift, diffusion, diffusion_dx, noise, t0, x, as_backend) -> _Noise:
    """Evaluate drift and diffusion at (t0, x0): check their shapes, fix m, and wrap numpy-returning functions
    of a torch run so that every later call returns the backend's type."""
    n_paths, d = x.shape
    torch_backend = _is_torch(x)
    b = drift(t0, x)
    if torch_backend and not _is_torch(b):  # numbers or numpy from a torch run: convert each call
        drift = _converted(drift, as_backend)
        b = as_backend(b)
    if not _broadcasts_to(_shape(b), (n_paths, d)):
        raise ConfigError(f"drift must return shape [n_paths, d] = [{n_paths}, {d}]; got {_shape(b)}.")
    if noise == "additive":
        s_const = as_backend(diffusion(t0, x))
        if s_const.ndim <= 1 and _broadcasts_to(_shape(s_const), (d,)):
            return _Noise(drift, diffusion, diffusion_dx, b, None, d, s_const, False)
        if s_const.ndim == 2 and s_const.shape[0] == d:
            return _Noise(drift, diffusion, diffusion_dx, b, None, s_const.shape[1], s_const.T, True)
        raise ConfigError(f"diffusion must return shape [d] or [d, m] with d = {d} for additive noise; "
                          f"got {_shape(s_const)}.")
    s = diffusion(t0, x)
    if torch_backend and not _is_torch(s):
        diffusion = _converted(diffusion, as_backend)
        s = as_backend(s)
    if diffusion_dx is not None and torch_backend:
        diffusion_dx = _converted(diffusion_dx, as_backend)
    if noise == "diagonal":
        if not _broadcasts_to(_shape(s), (n_paths, d)):
            raise ConfigError(f"diffusion must return shape [n_paths, d] = [{n_paths}, {d}] for diagonal "
                              f"noise; got {_shape(s)}.")
        return _Noise(drift, diffusion, diffusion_dx, b, s, d)
    sh = _shape(s)
    if len(sh) != 3 or not _broadcasts_to(sh, (n_paths, d, sh[-1])):
        raise ConfigError(f"diffusion must return shape [n_paths, d, m] = [{n_paths}, {d}, m] for general "
                          f"noise; got {sh}.")
    return _Noise(drift, diffusion, diffusion_dx, b, s, sh[-1])


def _blocks(dW, noise: _Noise, n_steps, n_paths, dt, seed, stream, x, as_backend):
    """The Brownian increments in blocks of steps: drawn from (seed, stream), or cut from a given dW; for an
    identically zero additive noise, placeholders (nothing is drawn)."""
    m = noise.m
    k = _steps_per_block(n_steps, n_paths, m)
    if dW is None and noise.zero:
        return (range(min(k, n_steps - i)) for i in range(0, n_steps, k))
    if dW is None:
        return _increment_blocks(n_steps, n_paths, m, dt, seed, stream, x if _is_torch(x) else None)
    if _shape(dW) != (n_steps, n_paths, m):
        raise ConfigError(f"dW must have shape [n_steps, n_paths, m] = [{n_steps}, {n_paths}, {m}]; "
                          f"got {_shape(dW)}.")
    dW = as_backend(dW)
    return (dW[i:i + k] for i in range(0, n_steps, k))


def _step_loop(x, ops, noise: _Noise, blocks, schedule: _Schedule, noise_kind: str, milstein: bool) -> None:
    """Advance x in place through every block of increments (the hot loop: one drift and one diffusion call per
    step, kernels bound to locals)."""
    t0, dt = schedule.t0, schedule.dt
    sqdt = math.sqrt(dt)
    drift, diffusion, diffusion_dx = noise.drift, noise.diffusion, noise.diffusion_dx
    b, s = noise.b, noise.s
    const_noise, zero_noise, additive_general = noise.const_noise, noise.zero, noise.additive_general
    add_scaled, add_prod, matvec = ops.add_scaled, ops.add_prod, ops.matvec
    nxt = schedule.due
    n = 0
    # overflow shows up as inf/NaN, which the schedule's check turns into a DivergenceError naming the step
    with np.errstate(over="ignore", invalid="ignore"):
        for block in blocks:
            if const_noise is not None and not zero_noise:
                # additive: the noise term of the whole block in one operation
                block = block @ const_noise if additive_general else block * const_noise
            for w in block:
                if n:
                    t = t0 + n * dt
                    b = drift(t, x)
                    if s is not None:
                        s = diffusion(t, x)
                else:
                    t = t0
                if milstein:
                    if diffusion_dx is not None:
                        ss = s * diffusion_dx(t, x)
                    else:
                        ss = (diffusion(t, x + b * dt + s * sqdt) - s) / sqdt
                    corr = 0.5 * ss * (w * w - dt)
                add_scaled(x, dt, b)
                if const_noise is not None:
                    if not zero_noise:
                        x += w
                elif noise_kind == "diagonal":
                    add_prod(x, s, w)
                else:
                    x += matvec(s, w)
                if milstein:
                    x += corr
                n += 1
                if n == nxt:
                    schedule.reached(n, x)
                    nxt = schedule.due


def integrate(drift: Callable, diffusion: Callable, x0, t0: float, t1: float, n_steps: int, *,
              method: str = "euler", noise: str = "diagonal", dW=None, seed: int = 0,
              diffusion_dx: Callable | None = None, record_every: int | None = None,
              record_fn: Callable | None = None, check_every: int | None = None,
              stream=("sde",)) -> SDESolution:
    """Integrate the Ito SDE dX = drift(t, X) dt + diffusion(t, X) dW on [t0, t1] in n_steps equal steps.

    x0: [n_paths, d] numpy array or torch tensor; the backend (and device) follows x0.
    drift(t, x) -> [n_paths, d] (anything broadcasting to it). diffusion(t, x) -> [n_paths, d]
    (noise="diagonal"), [n_paths, d, m] (noise="general"), or a constant [d] / [d, m] called once
    (noise="additive"). method: "euler" or "milstein" (diagonal or additive noise only), the latter
    using diffusion_dx(t, x) = d s_i / d x_i when given and a derivative-free variant otherwise.
    dW: optional increments [n_steps, n_paths, m]; else drawn from (seed, stream).
    record_every=k records x (or record_fn(x), e.g. a per-path statistic) at steps 0, k, 2k, ... and
    at n_steps; record_fn alone records at t0 and t1; the records come back as numpy copies.
    check_every=k checks finiteness every k steps (default: at record points and at the end) and
    raises DivergenceError naming the step.
    """
    t0, t1, n_steps, record_every = _arguments(method, noise, t0, t1, n_steps, record_every, check_every,
                                               record_fn)
    x, ops, as_backend = _backend(x0)
    parts = _first_evaluation(drift, diffusion, diffusion_dx, noise, t0, x, as_backend)
    schedule = _Schedule(t0, t1, n_steps, record_every, check_every, record_fn, ops.to_numpy)
    blocks = _blocks(dW, parts, n_steps, x.shape[0], schedule.dt, seed, tuple(stream), x, as_backend)
    schedule.start(x)
    _step_loop(x, ops, parts, blocks, schedule, noise, milstein=method == "milstein" and noise == "diagonal")
    return schedule.solution(x)
