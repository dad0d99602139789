"""Training small causal Transformers on the biography / web mixture (paper Sec. 3, Figs. 1-2, Table 1).

One run = one (model size, mixing ratio) point trained for a fixed number of sequences (the total-token budget is
fixed, as in the paper). After training we measure the memorised fraction of biography facts (exact match of the
greedy next token at every attribute-value position, averaged over people x attributes x renders) and the web loss
weighted exactly by the key frequencies. Runs are done one after another in one process: on CPU the shared
attention kernel has no batching rule under `torch.func.vmap`, so an ensemble is not faster than a loop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from sims.engine import Experiment, Result, Summary, cache, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.executor import shared_pool
from sims.engine.nets import CausalTransformer, n_params
from sims.engine.seeding import rng
from sims.engine.torch_layer import resolve_device, seeded, single_thread

from .data import BIO, World, eval_bio, eval_web, make_world, mixed_batch
from .design import DESIGNS, choose_runs
from .fits import PowerLawFit, power_law_fit


def build_model(world: World, d_model: int, n_layers: int, n_heads: int, seed: int, tag: str):
    """The shared CausalTransformer sized for this world, initialised from (seed, tag)."""
    with seeded(seed, "model", tag):
        return CausalTransformer(world.vocab_size, d_model, n_layers, n_heads, world.seq_len)


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Warmup-stable-decay schedule (the paper's WSD): linear warmup, constant, linear cooldown over the last 10%."""
    if step < warmup:
        return lr * (step + 1) / warmup
    cool = max(1, steps // 10)
    if step >= steps - cool:
        return lr * (steps - step) / cool
    return lr


def _logits_at(model, tokens, mask, torch):
    logits = model(torch.as_tensor(tokens))
    return logits[torch.as_tensor(mask)]


def evaluate(model, world: World, seed: int, renders: int, device) -> dict[str, float | np.ndarray]:
    """Memorised fraction (per person) and the exact Zipf-weighted web loss (nats) of a trained model."""
    import torch

    model.eval()
    with torch.no_grad():
        toks, mask, people = eval_bio(world, renders, rng(seed, "eval-bio"))
        m = torch.as_tensor(mask, device=device)
        logits = model(torch.as_tensor(toks, device=device), m)
        nxt = torch.as_tensor(np.roll(toks, -1, axis=1), device=device)[m]
        # exact match: every token of the attribute's value right (teacher-forced argmax = greedy generation)
        correct = (logits.argmax(-1) == nxt).view(len(people), world.n_attrs, world.value_tokens).all(-1)
        correct = correct.float().cpu().numpy()
        per_person = np.zeros(world.n_people)
        np.add.at(per_person, people, correct.mean(axis=1))
        per_person /= renders

        wt, wm, wkeys = eval_web(world, rng(seed, "eval-web"))
        m = torch.as_tensor(wm, device=device)
        logits = model(torch.as_tensor(wt, device=device), m)
        nxt = torch.as_tensor(np.roll(wt, -1, axis=1), device=device)[m]
        ce = torch.nn.functional.cross_entropy(logits, nxt, reduction="none").cpu().numpy()
        flat_keys = wkeys.reshape(-1)
        ok = flat_keys >= 0
        per_key = np.zeros(world.n_keys)
        per_key[flat_keys[ok]] = ce[ok]
        web_loss = float(per_key @ world.key_probs)
        web_acc_keys = float(np.mean((logits.argmax(-1) == nxt).cpu().numpy()[ok]))
    model.train()
    return {"memorized": float(per_person.mean()), "per_person": per_person, "web_loss": web_loss,
            "web_key_loss": per_key, "web_key_acc": web_acc_keys}


def batch_loss(logits, targets, bio_positions, silent_web: bool):
    """Mean cross-entropy over the batch's target positions. With silent_web (a diagnostic) the web positions
    count zero: the web is seen but never learned, and the sum is still divided by all target positions, so a
    biography fact gets the gradient it has in the mixed batch."""
    import torch

    if not silent_web:
        return torch.nn.functional.cross_entropy(logits, targets)
    ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    return (ce * bio_positions).sum() / ce.numel()


def train_one(world: World, ratio: float, d_model: int, n_layers: int, n_heads: int, steps: int, batch: int,
              lr: float, warmup: int, seed: int, device, tag: str, eval_renders: int = 2,
              bar=None, weight_decay: float = 0.0, silent_web: bool = False) -> dict:
    """Train one model on the mixture with mixing ratio `ratio` and return its final measurements."""
    import torch

    model = build_model(world, d_model, n_layers, n_heads, seed, tag).to(device)
    # torch's fused AdamW: the same update in one kernel per step, 8-10 % of a quick step saved on one CPU thread
    # (benchmarks/knapsack_sweep.py)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=weight_decay, fused=True)
    data_rng = rng(seed, "data", tag)
    loss = torch.zeros(())
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warmup)
        toks, mask = mixed_batch(world, ratio, batch, data_rng)
        x = torch.as_tensor(toks, device=device)
        m = torch.as_tensor(mask, device=device)
        bio = torch.as_tensor(toks[:, 0] == BIO, device=device)[:, None].expand_as(m)[m] if silent_web else None
        loss = batch_loss(model(x, m), torch.roll(x, -1, dims=1)[m], bio, silent_web)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0:
            check_finite("training loss", loss.detach(), step, "lower lr.")
        if bar is not None:
            bar.update(1)
    out = evaluate(model, world, seed, eval_renders, device)
    out["n_params"] = n_params(model)
    out["final_train_loss"] = float(loss.detach())
    return out


def non_embedding_params(d_model: int, n_layers: int) -> int:
    """Parameters of the Transformer blocks (attention + MLP + LayerNorms), the usual 'model size'."""
    per_block = 4 * d_model + (d_model * 3 * d_model + 3 * d_model) + (d_model * d_model + d_model) \
        + (d_model * 4 * d_model + 4 * d_model) + (4 * d_model * d_model + d_model)
    return n_layers * per_block




# ---------------------------------------------------------------------------------------------------------
# the sweep: model sizes x mixing ratios
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """sizes: d_model of each model (n_layers blocks, n_heads heads, MLP 4 d_model); ratios: mixing ratios r
    (fraction of training sequences that are biographies); steps x batch: the fixed training budget (sequences);
    lr, warmup, weight_decay: AdamW with the WSD schedule; world: n_people people, n_attrs attributes with
    n_templates templates each, an attribute's value being value_tokens value tokens (exact match of all of them
    counts as recalled); web: n_keys keys; names and keys are distinct pairs of n_alphabet tokens, and attribute
    and key values share n_values value tokens; zipf: Zipf exponent (0: uniform keys, a web loss linear in
    capacity: see `linear_web`); facts_per_web: facts per web sequence; random_values: (control) biographies
    re-draw their values on every exposure, so there is nothing to memorise; random_web: (diagnostic) web facts
    re-draw their values on every exposure, so the web has nothing to learn and its loss is the same for every
    size; silent_web: (diagnostic) web sequences stay in every batch but carry no loss (no web gradient at
    all); web_only: also train a model on the web alone (r = 0) per size;
    web_ratio_max: the web loss of a size at full web allocation (F2 of the knapsack model) is the median over
    its runs with mixing ratio at most web_ratio_max (always including the lowest ratio, and the web-only run
    when there is one): one run's web loss is noisy, and these runs give nearly all capacity to the web;
    threshold: memorised fraction that defines the critical ratio; eval_renders: renders per person at
    evaluation; design: which runs of the sizes x ratios grid are trained, "grid" (all of them) or "bisect" (per
    size the lowest, second-lowest (when <= web_ratio_max) and highest ratio and a bisection for the bracket of the
    critical ratio: `sims.knapsack.design`;
    the runs not trained are NaN in the result's per-run arrays); workers: processes that train the runs in
    parallel (one torch thread each; the numbers do not depend on it)."""

    sizes: tuple[int, ...] = (6, 8, 10, 12)
    n_layers: int = 1
    n_heads: int = 1
    ratios: tuple[float, ...] = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256)
    steps: int = 1500
    batch: int = 512
    lr: float = 1e-2
    warmup: int = 50
    weight_decay: float = 0.1
    n_people: int = 16
    n_attrs: int = 2
    n_templates: int = 2
    n_values: int = 16
    value_tokens: int = 2
    n_keys: int = 1000
    n_alphabet: int = 32
    zipf: float = 1.5
    facts_per_web: int = 3
    random_values: bool = False
    random_web: bool = False
    silent_web: bool = False
    web_only: bool = False
    web_ratio_max: float = 0.02
    threshold: float = 0.5
    eval_renders: int = 2
    design: str = "bisect"
    workers: int = 2
    seed: int = 0
    device: str = "cpu"

    # how many processes train the sweep's runs changes nothing in the results, so it is not in the cache key
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("workers",)

    def validate(self) -> None:
        validate.each(lambda n, v: validate.positive_int(n, v, 2), "sizes", self.sizes)
        validate.positive_int("n_heads", self.n_heads)
        for d in self.sizes:
            if d % self.n_heads:
                raise validate.ConfigError(f"n_heads must divide every size; {self.n_heads} does not divide {d}.")
        validate.positive_int("n_layers", self.n_layers)
        validate.positive_int("n_heads", self.n_heads)
        validate.each(validate.probability, "ratios", self.ratios)
        if list(self.ratios) != sorted(self.ratios):
            raise validate.ConfigError("ratios must be increasing.")
        validate.positive_int("steps", self.steps)
        validate.positive_int("batch", self.batch)
        validate.positive("lr", self.lr)
        validate.positive_int("warmup", self.warmup)
        validate.non_negative("weight_decay", self.weight_decay)
        validate.positive_int("n_people", self.n_people)
        validate.positive_int("n_attrs", self.n_attrs)
        validate.positive_int("n_templates", self.n_templates)
        validate.positive_int("n_values", self.n_values, 2)
        validate.positive_int("value_tokens", self.value_tokens)
        validate.positive_int("n_keys", self.n_keys)
        validate.positive_int("n_alphabet", self.n_alphabet, 2)
        if self.n_people + self.n_keys > self.n_alphabet ** 2:
            raise validate.ConfigError(f"n_people + n_keys must be at most n_alphabet**2 = {self.n_alphabet ** 2} "
                                       f"(names and web keys are distinct pairs of the alphabet).")
        validate.non_negative("zipf", self.zipf)
        validate.positive_int("facts_per_web", self.facts_per_web)
        validate.probability("web_ratio_max", self.web_ratio_max)
        validate.probability("threshold", self.threshold, open_low=True, open_high=True)
        validate.positive_int("eval_renders", self.eval_renders)
        validate.positive_int("workers", self.workers)
        validate.one_of("design", self.design, DESIGNS)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


QUICK = TrainConfig()
PAPER = TrainConfig(sizes=(16, 32, 64, 128), n_layers=2, n_heads=4,
                    ratios=(0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256),
                    steps=20000, batch=256, lr=2e-3, warmup=500, n_people=256, n_values=32,
                    n_keys=16000, n_alphabet=128, facts_per_web=8, workers=1, device="auto")


BITS_PER_PARAM = 2.0   # knowledge stored per parameter by a language model (Allen-Zhu & Li; notes Part 2)


def linear_web(cfg: TrainConfig) -> TrainConfig:
    """The negative control of the size laws: `cfg` with a web whose loss is linear in capacity [ours].

    Uniform key frequencies make every stored web bit worth the same, so the web's marginal value -F2'(M) does
    not fall with capacity and the knapsack model puts the critical ratio at the same r/(1-r) = P F/K for every
    size (Thm 4.3 with a linear F2). Linear only below the web's entropy K log2(n_values): a model that can
    hold nearly the whole web faces little competition from it (the uniform 1000-key quick web is 77% learned
    at d_model 12). So the control's web has at least twice the preset's keys and at least twice the largest
    model's capacity at BITS_PER_PARAM bits per non-embedding parameter, and twice the facts per sequence. For
    the quick preset that is 2000 keys and 6 facts: each key's exposure F/K, and with it the predicted
    threshold (r = 0.046), stays where a uniform web of the preset's own size puts it. The alphabet grows to fit
    the keys."""
    capacity = BITS_PER_PARAM * non_embedding_params(max(cfg.sizes), cfg.n_layers)
    n_keys = max(2 * cfg.n_keys, int(np.ceil(2 * capacity / np.log2(cfg.n_values))))
    alphabet = max(cfg.n_alphabet, int(np.ceil(np.sqrt(cfg.n_people + n_keys))))
    return replace(cfg, zipf=0.0, n_keys=n_keys, facts_per_web=2 * cfg.facts_per_web, n_alphabet=alphabet)


def world_of(cfg: TrainConfig) -> World:
    return make_world(rng(cfg.seed, "world"), cfg.n_people, cfg.n_attrs, cfg.n_templates, cfg.n_values,
                      cfg.n_keys, cfg.n_alphabet, cfg.zipf, cfg.facts_per_web, cfg.random_values, cfg.value_tokens,
                      cfg.random_web)


def chance_corrected(acc, chance: float):
    """(acc - c) / (1 - c), c the recall of the best person-blind guess (World.chance): 0 for guessing,
    1 for perfect recall."""
    c = float(chance)
    return (np.asarray(acc, dtype=float) - c) / (1 - c)


def critical_ratio_from_curve(ratios, mem, threshold: float) -> float:
    """First mixing ratio at which the memorised fraction reaches `threshold`, interpolated in ln r;
    NaN when it never does, the lowest ratio when it already does there. Ratios whose run was not trained
    (NaN: a bisection's sweep) are skipped."""
    ratios, mem = np.asarray(ratios, float), np.asarray(mem, float)
    ratios, mem = ratios[np.isfinite(mem)], mem[np.isfinite(mem)]
    hit = np.nonzero(mem >= threshold)[0]
    if hit.size == 0:
        return float("nan")
    i = int(hit[0])
    if i == 0:
        return float(ratios[0])
    x0, x1 = np.log(ratios[i - 1]), np.log(ratios[i])
    y0, y1 = mem[i - 1], mem[i]
    return float(np.exp(x0 + (threshold - y0) / (y1 - y0) * (x1 - x0)))


def f2_estimate(ratios, web_loss_rows, web_only_loss=None, web_ratio_max: float = 0.02) -> np.ndarray:
    """Per size, the median web loss over the runs with mixing ratio <= web_ratio_max (the lowest ratio always
    counts; the web-only run, when given, joins the pool): the knapsack model's F2 at this size. Runs not trained
    (NaN, a bisection's sweep) do not count."""
    ratios = np.asarray(ratios, float)
    pool = ratios <= web_ratio_max
    pool[0] = True
    rows = np.asarray(web_loss_rows, float)[:, pool]
    if web_only_loss is not None:
        rows = np.concatenate([rows, np.asarray(web_only_loss, float)[:, None]], axis=1)
    return np.nanmedian(rows, axis=1)


def knapsack_ratio_from_web_loss(f2, key_probs, n_values: int, n_people: int, facts_per_web: int) -> np.ndarray:
    """The critical ratio the knapsack argument predicts for a model from its web loss alone [ours].

    A model whose web loss is f2 holds, in the all-or-nothing picture, the n most frequent keys with
    ln(V) sum_{k>n} q_k = f2. A biography fact (one person's attribute) is seen r/P times per sequence, the n-th
    key (1-r) F q_n times; per bit stored, each exposure saves the same loss in both domains (ln V per value
    token of log2 V bits), so facts start to be stored when r/(1-r) = P F q_n. No parameter is fitted: this
    tests the mechanism per model, free of how capacity scales with parameter count."""
    q = np.asarray(key_probs, float)
    tail = np.log(n_values) * (1.0 - np.cumsum(q))     # loss with the n = 1..K most frequent keys stored
    out = []
    for f in np.atleast_1d(np.asarray(f2, float)):
        n = int(np.searchsorted(-tail, -f))            # first n (0-based index) whose tail loss <= f
        qn = q[min(n, q.size - 1)]
        odds = n_people * facts_per_web * qn
        out.append(odds / (1.0 + odds))
    return np.asarray(out)


POINT = "knapsack.train_point"


@dataclass(frozen=True)
class TrainPointSummary(Summary):
    """One trained model of a sweep (one size, one mixing ratio), measured after training.

    memorized: the fraction of biography facts recalled exactly (the greedy next token right at every value
    position), averaged over people x attributes x eval_renders renders; raw, not chance-corrected;
    web_loss: the web's cross-entropy (nats per key), each key weighted exactly by its frequency;
    n_params: trainable parameters of the model, embeddings included."""

    memorized: float
    web_loss: float
    n_params: int


def _point_config(cfg: "TrainConfig", d: int, ratio: float) -> "TrainConfig":
    """One run of a sweep as a config of its own: the sweep's config with its grids narrowed to (d, ratio) and the
    fields that only shape the sweep reset, so the same run in two sweeps is one cache entry."""
    return replace(cfg, sizes=(d,), ratios=(ratio,), web_only=False, web_ratio_max=QUICK.web_ratio_max,
                   threshold=QUICK.threshold, design="grid", workers=1)


def _tag(d: int, ratio: float) -> str:
    """The name a run's random streams (initialisation, data) are drawn under: a function of (d, ratio)."""
    return f"d{d}-web" if ratio == 0 else f"d{d}-r{ratio:g}"


def _run_point(point: "TrainConfig") -> Result:
    """Train the one model of `point`; a function of the point alone, so it gives the same numbers in this
    process or in a worker."""
    single_thread()
    d, ratio = point.sizes[0], point.ratios[0]
    out = train_one(world_of(point), ratio, d, point.n_layers, point.n_heads, point.steps, point.batch, point.lr,
                    point.warmup, point.seed, resolve_device(point.device), _tag(d, ratio), point.eval_renders,
                    None, point.weight_decay, point.silent_web)
    summary = TrainPointSummary(memorized=out["memorized"], web_loss=out["web_loss"], n_params=out["n_params"])
    return Result(POINT, config_dict(point), summary, {"web_key_loss": out["web_key_loss"]})


def _run_points(cfg: "TrainConfig", configs: list["TrainConfig"]) -> list[Result]:
    """Every point's result, trained over cfg.workers processes. Inside a cached run (`Experiment.cached`) the
    points go through the cache as a sweep of their own (`knapsack.train_point`): each is stored as soon as it
    finishes and reused when present, so an interrupted sweep keeps its finished runs. A bare `run(config)`
    trains every point and stores nothing."""
    return cache.sweep_in_run(POINT, configs, _run_point, cfg.workers, TrainPointSummary, "knapsack.train",
                              cfg.steps)


@dataclass(frozen=True)
class ModelSize(Summary):
    """One model size of the sweep, over its mixing ratios.

    d_model: the model's width (one of the config's sizes); n_nonembedding: N, the parameters of its Transformer
    blocks (attention, MLP, LayerNorms), the model size of the size laws; n_params: all its trainable
    parameters, embeddings included; r_thres: its critical mixing ratio, where the chance-corrected memorised
    fraction first reaches the threshold (interpolated in ln r; NaN when it never does on the grid, the lowest
    ratio when it already does there); r_thres_knapsack: the critical ratio the knapsack argument predicts from
    web_loss_f2 alone (`knapsack_ratio_from_web_loss`); web_loss_r0: the web loss (nats) of its web-only run when
    the sweep has one, else of its run at the lowest ratio; web_loss_f2: F2, its median web loss (nats) over
    the runs with ratio <= web_ratio_max (the lowest ratio always, and the web-only run when there is one)."""

    d_model: int
    n_nonembedding: float
    n_params: int
    r_thres: float
    r_thres_knapsack: float
    web_loss_r0: float
    web_loss_f2: float


@dataclass(frozen=True)
class TrainSummary(Summary):
    """The training sweep (Sec. 3): every size's critical ratio and web loss, and the two size laws over N.

    sizes: one ModelSize per d_model, in the config's order (the rows of the arrays); web_fit: the power law of
    web_loss_f2 against n_nonembedding (F2 ~ N^-alpha; NaN with fewer than two sizes); alpha_web: alpha =
    -web_fit.slope; slope_odds: the power law of the critical odds r_thres/(1-r_thres) against n_nonembedding,
    over the sizes with 0 < r_thres < 1 (Eq. 5: slope -(alpha+1)); predicted_slope: -(alpha_web + 1);
    bits_per_person: the bits of one person's attributes; sequences: training sequences per run (steps x batch);
    exposures_per_person: per mixing ratio, the times each person's biography is seen in training (r x
    sequences / n_people); runs: the (size, ratio) runs the design trained, web-only runs not counted (the grid:
    sizes x ratios); train_wall_s: wall time of the whole sweep (s), cached points included (with several seeds
    sharing the workers, `Experiment.seeds`, the seeds' wall times overlap)."""

    sizes: tuple[ModelSize, ...]
    web_fit: PowerLawFit
    alpha_web: float
    slope_odds: PowerLawFit
    predicted_slope: float
    bits_per_person: float
    sequences: int
    exposures_per_person: list[float]
    runs: int
    train_wall_s: float


def run_train(cfg: TrainConfig) -> Result:
    """Train every (size, ratio) model (plus a web-only model per size when asked); measure memorisation and
    web loss."""
    single_thread()
    start = time.perf_counter()
    world = world_of(cfg)
    S, R = len(cfg.sizes), len(cfg.ratios)
    mem_raw = np.full((S, R), np.nan)
    web = np.full((S, R), np.nan)
    web0 = np.zeros(S)
    key_loss0 = np.zeros((S, world.n_keys))
    total = np.zeros(S, dtype=np.int64)

    def measure(keys: list[tuple[int, int | None]]) -> list[float]:
        """Train one round of the design's runs; record them; their chance-corrected memorised fractions."""
        configs = [_point_config(cfg, cfg.sizes[i], 0.0 if j is None else cfg.ratios[j]) for i, j in keys]
        for (i, j), got in zip(keys, _run_points(cfg, configs)):
            point, arr = got.summary, got.arrays
            total[i] = point.n_params
            if j is None:                               # the size's web-only run
                web0[i], key_loss0[i] = point.web_loss, arr["web_key_loss"]
                continue
            mem_raw[i, j], web[i, j] = point.memorized, point.web_loss
            if j == 0 and not cfg.web_only:
                web0[i], key_loss0[i] = point.web_loss, arr["web_key_loss"]
        return [float(chance_corrected(mem_raw[i, j], world.chance)) if j is not None else np.nan
                for i, j in keys]

    web_only_runs = [(i, None) for i in range(S)] if cfg.web_only else []
    # F2 is a median over the web-heavy runs: the second-lowest ratio gives it a third one at every size
    also = [1] if R > 2 and cfg.ratios[1] <= cfg.web_ratio_max else []
    with shared_pool(cfg.workers):              # the design's rounds share one set of worker processes
        choose_runs(cfg.design, S, R, cfg.threshold, measure, first=web_only_runs, also=also)
    mem = chance_corrected(mem_raw, world.chance)
    N = np.array([non_embedding_params(d, cfg.n_layers) for d in cfg.sizes], dtype=float)
    r_thres = np.array([critical_ratio_from_curve(cfg.ratios, mem[i], cfg.threshold) for i in range(S)])
    f2 = f2_estimate(cfg.ratios, web, web0 if cfg.web_only else None, cfg.web_ratio_max)
    r_knap = knapsack_ratio_from_web_loss(f2, world.key_probs, cfg.n_values, cfg.n_people, cfg.facts_per_web)
    web_fit = power_law_fit(N, f2)
    alpha = -web_fit.slope
    # Eq. 5 is a law for the odds r/(1-r) (the solver's critical_ratio_law fits the same), not for r: at the
    # smallest size r_thres ~0.2 and ln r and ln r/(1-r) differ by ~0.2 there
    with np.errstate(divide="ignore"):          # r_thres = 1 (a sweep at r = 1 only): infinite odds, not fitted
        odds = r_thres / (1.0 - r_thres)
    sizes = tuple(ModelSize(d_model=int(d), n_nonembedding=float(N[i]), n_params=int(total[i]),
                            r_thres=float(r_thres[i]), r_thres_knapsack=float(r_knap[i]),
                            web_loss_r0=float(web0[i]), web_loss_f2=float(f2[i]))
                  for i, d in enumerate(cfg.sizes))
    summary = TrainSummary(sizes=sizes, web_fit=web_fit, alpha_web=alpha, slope_odds=power_law_fit(N, odds),
                           predicted_slope=-(alpha + 1), bits_per_person=world.bits_per_person,
                           sequences=cfg.steps * cfg.batch,
                           exposures_per_person=[r * cfg.steps * cfg.batch / cfg.n_people for r in cfg.ratios],
                           runs=int(np.isfinite(mem_raw).sum()),
                           train_wall_s=time.perf_counter() - start)
    arrays = {"memorized": mem, "memorized_raw": mem_raw, "web_loss": web, "web_loss_r0": web0,
              "web_loss_f2": f2, "r_thres_knapsack": r_knap, "web_key_loss_r0": key_loss0,
              "key_probs": world.key_probs, "ratios": np.asarray(cfg.ratios),
              "n_nonembedding": N, "r_thres": r_thres}
    return Result("knapsack.train", config_dict(cfg), summary, arrays)


def _f(x: float, spec: str = ".3g") -> str:
    return "n/a" if not np.isfinite(x) else format(x, spec)


def summarize_train(res: Result) -> str:
    s, a, c = res.summary, res.arrays, res.config
    lines = [f"Transformers on biographies ({c['n_people']} people x {c['n_attrs']} attributes, "
             f"{s.bits_per_person:.0f} bits each) mixed with a Zipf({c['zipf']}) web stream; "
             f"{s.sequences} sequences per run, seed {c['seed']}",
             "memorised fraction (chance-corrected) by mixing ratio r:",
             "  " + f"{'d_model':>8} {'N':>7} " + " ".join(f"{r:>7g}" for r in c["ratios"])
             + f" {'r_thres':>8} {'F2':>7} {'r_knap':>8}"]
    for size, memorized in zip(s.sizes, a["memorized"]):
        lines.append("  " + f"{size.d_model:>8} {int(size.n_nonembedding):>7} "
                     + " ".join(f"{m:>7.3f}" if np.isfinite(m) else f"{'.':>7}" for m in memorized)
                     + f" {_f(size.r_thres):>8} {size.web_loss_f2:>7.4f} {_f(size.r_thres_knapsack):>8}")
    sl = s.slope_odds
    lines += [f"r_thres: ratio where the memorised fraction crosses {c['threshold']}; F2: web loss (nats, median "
              f"over runs with r <= {c['web_ratio_max']}); r_knap: the knapsack threshold predicted from F2 alone",
              f"web loss F2 ~ N^-alpha: alpha = {_f(s.alpha_web, '.3f')} "
              f"(CI [{_f(-s.web_fit.high, '.3f')}, {_f(-s.web_fit.low, '.3f')}])",
              f"critical odds r_thres/(1-r_thres) ~ N^slope: slope = {_f(sl.slope, '.3f')} "
              f"(CI [{_f(sl.low, '.3f')}, {_f(sl.high, '.3f')}]); knapsack prediction -(alpha+1) = "
              f"{_f(s.predicted_slope, '.3f')}",
              f"design {c.get('design', 'grid')}: {s.runs} of {len(s.sizes) * len(c['ratios'])} (size, ratio) runs "
              f"trained ('.': not trained); training wall time {s.train_wall_s:.0f} s"]
    return "\n".join(lines)


TRAIN = Experiment(paper="knapsack", name="train",
                   description="small Transformers on biographies + power-law web: memorisation vs mixing ratio",
                   config_cls=TrainConfig, presets={"quick": QUICK, "paper": PAPER},
                   run=run_train, summarize=summarize_train, summary=TrainSummary)
