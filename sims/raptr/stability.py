"""Stability of deep residual stacks to the removal of one layer, against depth (RaPTr, Panigrahi et al.,
arXiv 2402.05913, Sec. 3 "stability at stage transitions": Theorem 1 and Lemma 1; research notes sec. 3.3 and
the table of sec. 3.5, check 1).

Theorem 1 (paraphrased) bounds the jump of the loss when a stage that trained random (L-1)-layer subnetworks
hands over to the full network by the network's stability: how far its output moves when one random layer is
removed. Lemma 1 (paraphrased) says that for linear residual networks at random initialisation residual
connections *together with* layer normalisation make that change O(1/sqrt(L)), while removing either gives an
Omega(1) change. Which exact block variant the lemma uses is UNVERIFIED; we measure five [ours]:

- "preln_scaled": h <- h + g(LN(h)) / sqrt(L)  (pre-LN residual, branch scaled by 1/sqrt(L));
- "preln":        h <- h + g(LN(h))            (pre-LN residual);
- "no_ln":        h <- h + g(h)                (residual, no normalisation in the branch);
- "post_ln":      h <- LN(h + g(h))            (post-LN residual);
- "no_residual":  h <- g(LN(h))                (a plain stack: no residual path).

F(x) = LN(h_L) (a final parameter-free layer norm on the output, LN(z) = (z - mean z) / sqrt(var z + eps)) with
h_0 = x in {-1, +1}^d. The branch g of block l is a random linear map z -> W_l z (`branch="linear"`) or a small
MLP z -> V_l relu(U_l z) (`branch="mlp"`), W_l, V_l with i.i.d. N(0, 1/d) entries, U_l with N(0, 2/d) entries
(so that relu keeps the second moment of its input) [ours]. F_{-l} is the same network with block l skipped (the
identity; for "no_residual" the layer is simply left out of the product) and every other weight, and the
1/sqrt(L) factor, unchanged. The gap is

    gap(L) = mean over l, x and draws of ||F(x) - F_{-l}(x)|| / sqrt(d)

(the notes' measurement, sec. 3.5 [ours]); two unit-variance outputs in general position give sqrt(2).

Measured twice per (variant, depth): at initialisation and after a short training of the full network (Adam on
a small regression task [ours]: x uniform on {-1, +1}^d, y = sum_i x_i / sqrt(d) + x_1 x_2 x_3 (the low-degree
target of the notes' check 2, linear part normalised), prediction <F(x), w_out> with a trainable readout w_out,
squared loss). Every (variant, depth) holds `draws` independent networks, run as one batched computation (a
leading draw axis on every weight; Adam is elementwise, so the draws train exactly as separate models would).
The log-log slope of gap against L is a least-squares line of ln gap on ln L (`theory.raptr.loglog_slope`);
`theory.raptr.mean_field_gap` is our [ours] infinite-width prediction of the gap at initialisation, reported
beside the measurement.

The notes' own numpy measurement (d = 256, linear branches, at initialisation) found slopes of about -0.48
(preln_scaled), -0.39 (preln) and about 0 for no_ln, post_ln and no_residual [ours, notes sec. 3.5]; this module
reports what it measures and is not tuned to those numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sims.engine import Experiment, Result, Summary, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.errors import ConfigError
from sims.engine.progress import bar
from sims.engine.torch_layer import generator, resolve_device, single_thread
from theory import raptr as theory

VARIANTS = ("preln_scaled", "preln", "no_ln", "post_ln", "no_residual")
BRANCHES = ("linear", "mlp")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
LN_EPS = 1e-5
# float32 holds the no_ln stack's activations (they grow like 2^(L/2) for linear branches) up to about this depth
NO_LN_FLOAT32_MAX_DEPTH = 128


@dataclass(frozen=True)
class StabilityConfig:
    """variants: the block variants measured (module docstring; any of preln_scaled, preln, no_ln, post_ln,
    no_residual); depths: the depths L (at least two, distinct); width: d, the width of every block; branch:
    "linear" or "mlp"; draws: independent networks per (variant, depth); inputs: inputs x per network for each
    gap measurement; train_steps: Adam steps of the short training; batch: fresh examples per step; lr: Adam
    learning rate; dtype: "float32" or "float64" (no_ln with float32 is limited to depths <= 128, where its
    growing activations still fit); seed: drives every draw (weights, inputs, batches); device: "cpu", "cuda" or
    "auto"."""

    variants: tuple[str, ...] = VARIANTS
    depths: tuple[int, ...] = (4, 8, 16, 32, 64)
    width: int = 64
    branch: str = "linear"
    draws: int = 4
    inputs: int = 32
    train_steps: int = 100
    batch: int = 32
    lr: float = 1e-3
    dtype: str = "float32"
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.seed("seed", self.seed)
        validate.non_empty("variants", self.variants)
        for v in self.variants:
            validate.one_of("variants", v, VARIANTS)
        if len(set(self.variants)) != len(self.variants):
            raise ConfigError(f"variants must not repeat a name; got {', '.join(self.variants)}.")
        validate.each(validate.positive_int, "depths", self.depths)
        if len(self.depths) < 2 or len(set(self.depths)) != len(self.depths):
            raise ConfigError(f"depths must hold at least two distinct depths (a slope needs two); got {self.depths}.")
        validate.positive_int("width", self.width, 4)
        validate.one_of("branch", self.branch, BRANCHES)
        validate.positive_int("draws", self.draws)
        validate.positive_int("inputs", self.inputs)
        validate.positive_int("train_steps", self.train_steps)
        validate.positive_int("batch", self.batch)
        validate.positive("lr", self.lr)
        validate.one_of("dtype", self.dtype, tuple(DTYPES))
        if "no_ln" in self.variants and self.dtype == "float32" and max(self.depths) > NO_LN_FLOAT32_MAX_DEPTH:
            raise ConfigError(f"depths above {NO_LN_FLOAT32_MAX_DEPTH} need dtype float64 when no_ln is measured "
                              f"(its activations grow like 2^(L/2)); got depth {max(self.depths)}.")
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = StabilityConfig()
PAPER = StabilityConfig(depths=(4, 8, 16, 32, 64, 128, 256), width=256, draws=8, inputs=64, train_steps=500,
                        batch=64, dtype="float64", device="auto")
TEST = StabilityConfig(depths=(2, 4, 8), width=8, draws=2, inputs=4, train_steps=5, batch=8)


# ---- the networks -------------------------------------------------------------------------------------------
def layer_norm(h: torch.Tensor) -> torch.Tensor:
    """Parameter-free layer norm over the last axis: (h - mean) / sqrt(var + eps), eps = 1e-5, biased variance
    (torch's fused `layer_norm` without affine parameters)."""
    return torch.nn.functional.layer_norm(h, h.shape[-1:], eps=LN_EPS)


def output_norm(h: torch.Tensor) -> torch.Tensor:
    """The final layer norm of F, equal to `layer_norm(h)` but computed on h / c, c the largest absolute entry of
    each row, with eps / c^2 in place of eps (the same number in exact arithmetic); this keeps the variance
    finite for the fast-growing no_ln stack, the only variant whose activations reach the final norm
    unnormalised."""
    peak = h.detach().abs().amax(-1, keepdim=True)
    peak = torch.where(peak > 0, peak, torch.ones_like(peak))
    scaled = h / peak
    centred = scaled - scaled.mean(-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + LN_EPS / peak.pow(2))


def init_branches(draws: int, depth: int, width: int, branch: str, gen: torch.Generator,
                  dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """The branch weights of `draws` networks of `depth` blocks, each [draws, depth, d, d] (module docstring):
    (W,) for "linear", (U, V) for "mlp"."""
    validate.one_of("branch", branch, BRANCHES)
    shape = (draws, depth, width, width)
    if branch == "linear":
        return (torch.randn(shape, generator=gen, dtype=dtype) / math.sqrt(width),)
    u = torch.randn(shape, generator=gen, dtype=dtype) * math.sqrt(2.0 / width)
    v = torch.randn(shape, generator=gen, dtype=dtype) / math.sqrt(width)
    return u, v


def per_layer(weights: tuple[torch.Tensor, ...]) -> list[tuple[torch.Tensor, ...]]:
    """The weights of `init_branches` split by block: entry l holds block l's matrices, each [draws, d, d]."""
    return [tuple(w[:, layer] for w in weights) for layer in range(weights[0].shape[1])]


def branch_out(z: torch.Tensor, mats: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """g_l(z) for every draw: z [..., draws, n, d] -> [..., draws, n, d]; mats: block l's matrices, each
    [draws, d, d] (one matrix for a linear branch; U then V of a relu MLP)."""
    out = z
    for i, w in enumerate(mats):
        if i:
            out = torch.relu(out)
        out = torch.matmul(out, w.transpose(-1, -2))
    return out


def block(variant: str, h: torch.Tensor, mats: tuple[torch.Tensor, ...], depth: int) -> torch.Tensor:
    """One block of the given variant (module docstring) applied to h [..., draws, n, d]; depth: the network's
    L (for the 1/sqrt(L) factor of preln_scaled)."""
    if variant == "preln_scaled":
        return h + branch_out(layer_norm(h), mats) / math.sqrt(depth)
    if variant == "preln":
        return h + branch_out(layer_norm(h), mats)
    if variant == "no_ln":
        return h + branch_out(h, mats)
    if variant == "post_ln":
        return layer_norm(h + branch_out(h, mats))
    if variant == "no_residual":
        return branch_out(layer_norm(h), mats)
    raise ConfigError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}.")


def network(variant: str, x: torch.Tensor, layers: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    """F(x) = LN(h_L), the full network of every draw: x [draws, n, d] -> [draws, n, d]; layers as `per_layer`."""
    h = x
    for mats in layers:
        h = block(variant, h, mats, len(layers))
    return output_norm(h)


def drop_gaps(variant: str, weights: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
    """gap[draw, l] = mean over the inputs of ||F(x) - F_{-l}(x)|| / sqrt(d), for every dropped block l:
    weights as `init_branches`, x [draws, n, d]. The L networks with one block skipped and the full one run as
    one batch (a leading axis of L + 1 copies; copy l skips block l, copy L is the full network)."""
    layers = per_layer(weights)
    depth = len(layers)
    h = x.unsqueeze(0).expand(depth + 1, *x.shape).clone()
    with torch.no_grad():
        for layer, mats in enumerate(layers):
            new = block(variant, h, mats, depth)
            new[layer] = h[layer]
            h = new
        out = output_norm(h)
        diff = out[:depth] - out[depth:]
        gaps = diff.norm(dim=-1).mean(-1) / math.sqrt(x.shape[-1])  # [L, draws]
    return gaps.transpose(0, 1)


# ---- the regression task and the short training -------------------------------------------------------------
def teacher(width: int, gen: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The teacher direction a, uniform on {-1, +1}^d (drawn once per run; every network learns the same task)."""
    return torch.randint(0, 2, (width,), generator=gen).to(dtype) * 2 - 1


def task(a: torch.Tensor, draws: int, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x uniform on {-1, +1}^d, [draws, n, d], and y = <a, x> / sqrt(d) + x_1 x_2 x_3, [draws, n] [ours]: the
    notes' low-degree target (sec. 3.5, check 2) with a random direction a in place of the all-ones one, which
    the layer norm's centring would remove; y has mean 0 and variance 2."""
    width = a.shape[0]
    x = torch.randint(0, 2, (draws, n, width), generator=gen).to(a.dtype).to(a.device) * 2 - 1
    y = x @ a / math.sqrt(width) + x[..., 0] * x[..., 1] * x[..., 2]
    return x, y


def train(variant: str, weights: tuple[torch.Tensor, ...], a: torch.Tensor, cfg: StabilityConfig,
          gen: torch.Generator, progress=None) -> tuple[tuple[torch.Tensor, ...], np.ndarray]:
    """Adam on the full network's branch weights and a readout w_out (init N(0, 1/d)), prediction
    <F(x), w_out>, for `cfg.train_steps` steps on fresh batches of `task(a, ...)`; returns the trained branch
    weights (detached, shaped as `init_branches`) and each draw's mean squared loss over the last tenth of the
    steps. A NaN or infinite loss raises DivergenceError."""
    draws, _, width, _ = weights[0].shape
    layers = [tuple(m.clone().requires_grad_(True) for m in mats) for mats in per_layer(weights)]
    readout = (torch.randn(draws, width, 1, generator=gen, dtype=a.dtype) / math.sqrt(width)).to(a.device)
    readout.requires_grad_(True)
    opt = torch.optim.Adam([m for mats in layers for m in mats] + [readout], lr=cfg.lr)
    tail = max(1, cfg.train_steps // 10)
    last = torch.zeros(draws, dtype=a.dtype, device=a.device)
    for step in range(cfg.train_steps):
        x, y = task(a, draws, cfg.batch, gen)
        pred = torch.matmul(network(variant, x, layers), readout).squeeze(-1)
        per_draw = (pred - y).pow(2).mean(-1)
        check_finite(f"{variant} training loss", per_draw.detach(), step)
        opt.zero_grad()
        per_draw.sum().backward()
        opt.step()
        if step >= cfg.train_steps - tail:
            last += per_draw.detach() / tail
        if progress is not None:
            progress.update(1)
    trained = tuple(torch.stack([mats[i].detach() for mats in layers], 1) for i in range(len(weights)))
    return trained, last.cpu().double().numpy()


# ---- the experiment -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VariantSummary(Summary):
    """One block variant of the `stability` experiment.

    depths: the depths L measured, in the config's order;
    gaps_init: gap(L) at initialisation, mean over dropped layers, inputs and draws (module docstring), per depth;
    gaps_trained: the same gap after the short training of the full network, per depth;
    loss_trained: squared loss of the trained networks (mean over draws of each draw's mean loss over the last
    tenth of the steps), per depth; the target's variance is 2, so a value well below 2 means the networks
    learned something;
    slope_init: least-squares slope of ln gaps_init against ln L (Lemma 1: about -1/2 with residual + LN, about 0
    without either);
    slope_init_se: the standard error of slope_init (`theory.raptr.loglog_slope`; NaN with two depths);
    slope_trained: the same slope for gaps_trained;
    slope_trained_se: its standard error;
    gaps_mean_field: `theory.raptr.mean_field_gap` per depth, our [ours] infinite-width prediction of gaps_init
    for linear branches (not derived for "mlp" branches);
    slope_mean_field: the log-log slope of gaps_mean_field over the same depths [ours]."""

    depths: tuple[int, ...]
    gaps_init: tuple[float, ...]
    gaps_trained: tuple[float, ...]
    loss_trained: tuple[float, ...]
    slope_init: float
    slope_init_se: float
    slope_trained: float
    slope_trained_se: float
    gaps_mean_field: tuple[float, ...]
    slope_mean_field: float


@dataclass(frozen=True)
class StabilitySummary(Summary):
    """The `stability` experiment: the one-layer-removal gap against depth, per block variant.

    variants: one VariantSummary per measured variant, keyed by its name (preln_scaled, preln, no_ln, post_ln,
    no_residual)."""

    variants: dict[str, VariantSummary]


def _slope(depths, gaps) -> theory.SlopeFit:
    """`theory.raptr.loglog_slope` of the gaps against depth; every number NaN when a gap is not positive and
    finite (the log is undefined)."""
    gaps = np.asarray(gaps, dtype=float)
    if not np.all(np.isfinite(gaps) & (gaps > 0)):
        nan = float("nan")
        return theory.SlopeFit(nan, nan, nan, int(gaps.size))
    return theory.loglog_slope(depths, gaps)


def _measure(variant: str, depth: int, cfg: StabilityConfig, device, progress) -> dict[str, np.ndarray]:
    """Per-draw gaps at init and after training, and the trained loss, of one (variant, depth)."""
    dtype = DTYPES[cfg.dtype]
    weights = init_branches(cfg.draws, depth, cfg.width, cfg.branch, generator(cfg.seed, "weights", depth),
                            dtype)
    weights = tuple(w.to(device) for w in weights)
    a = teacher(cfg.width, generator(cfg.seed, "teacher"), dtype).to(device)
    x, _ = task(a, cfg.draws, cfg.inputs, generator(cfg.seed, "inputs", depth))
    init = drop_gaps(variant, weights, x)
    trained_w, loss = train(variant, weights, a, cfg, generator(cfg.seed, "batches", depth), progress)
    trained = drop_gaps(variant, trained_w, x)
    check_finite(f"{variant} gap at depth {depth}", init)
    check_finite(f"{variant} trained gap at depth {depth}", trained)
    return {"init": init.mean(-1).cpu().double().numpy(), "trained": trained.mean(-1).cpu().double().numpy(),
            "loss": loss.astype(float)}


def _variant_summary(variant: str, depths: tuple[int, ...], arrays: dict[str, np.ndarray]) -> VariantSummary:
    """The summary of one variant from its per-draw arrays."""
    gi = arrays[f"{variant}/gaps_init"].mean(-1)
    gt = arrays[f"{variant}/gaps_trained"].mean(-1)
    fit_i, fit_t = _slope(depths, gi), _slope(depths, gt)
    return VariantSummary(depths=tuple(int(d) for d in depths), gaps_init=tuple(float(g) for g in gi),
                          gaps_trained=tuple(float(g) for g in gt),
                          loss_trained=tuple(float(v) for v in arrays[f"{variant}/loss_trained"].mean(-1)),
                          slope_init=fit_i.slope, slope_init_se=fit_i.slope_se, slope_trained=fit_t.slope,
                          slope_trained_se=fit_t.slope_se,
                          gaps_mean_field=tuple(theory.mean_field_gap(int(d), variant) for d in depths),
                          slope_mean_field=theory.mean_field_slope(variant, depths))


def run_stability(cfg: StabilityConfig) -> Result:
    """Measure every (variant, depth) of the config; arrays hold the per-draw numbers behind the summary:
    "<variant>/gaps_init", "<variant>/gaps_trained", "<variant>/loss_trained", each [n_depths, draws]."""
    cfg.validate()
    single_thread()
    device = resolve_device(cfg.device)
    arrays: dict[str, np.ndarray] = {}
    variants = {}
    with bar(len(cfg.variants) * len(cfg.depths) * cfg.train_steps, "raptr.stability") as progress:
        for variant in cfg.variants:
            rows = [_measure(variant, depth, cfg, device, progress) for depth in cfg.depths]
            for key in ("init", "trained", "loss"):
                name = {"init": "gaps_init", "trained": "gaps_trained", "loss": "loss_trained"}[key]
                arrays[f"{variant}/{name}"] = np.stack([r[key] for r in rows])
            variants[variant] = _variant_summary(variant, cfg.depths, arrays)
    return Result("raptr.stability", config_dict(cfg), StabilitySummary(variants=variants), arrays)


def summarize_stability(res: Result) -> str:
    """A table: per variant, the gap at each depth (init / trained / mean-field prediction for linear branches),
    the slopes and the trained losses."""
    s: StabilitySummary = res.summary
    c = res.config
    depths = list(c["depths"])
    head = (f"one-layer-removal gap ||F - F_-l|| / sqrt(d), width {c['width']}, {c['branch']} branches, "
            f"{c['draws']} draws x {c['inputs']} inputs, training {c['train_steps']} Adam steps (lr {c['lr']:g}), "
            f"seed {c['seed']}")
    lines = [head,
             f"{'variant':<13} {'':>7} " + " ".join(f"{'L=' + str(d):>7}" for d in depths) + f" {'slope':>7}"]
    for name, v in s.variants.items():
        lines.append(f"{name:<13} {'init':>7} " + " ".join(f"{g:>7.3f}" for g in v.gaps_init)
                     + f" {v.slope_init:>7.3f}")
        lines.append(f"{'':<13} {'trained':>7} " + " ".join(f"{g:>7.3f}" for g in v.gaps_trained)
                     + f" {v.slope_trained:>7.3f}")
        if c["branch"] == "linear":  # the mean-field prediction is derived for linear branches only
            lines.append(f"{'':<13} {'m-field':>7} " + " ".join(f"{g:>7.3f}" for g in v.gaps_mean_field)
                         + f" {v.slope_mean_field:>7.3f}")
        lines.append(f"{'':<13} {'loss':>7} " + " ".join(f"{g:>7.3f}" for g in v.loss_trained))
    return "\n".join(lines)


STABILITY = Experiment(paper="raptr", name="stability",
                       description="[ours] gap between a network with one random layer removed and the full one, "
                                   "against depth, for residual/LN variants (Lemma 1), at init and after training",
                       config_cls=StabilityConfig, presets={"quick": QUICK, "paper": PAPER, "test": TEST},
                       run=run_stability, summarize=summarize_stability, summary=StabilitySummary)
