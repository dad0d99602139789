"""R3: trained models on associative recall (Thm 4.6 and Thm 5.6 of arXiv 2402.18510).

A Transformer (the shared `CausalTransformer`), the hybrid (RNN + one attention layer, Def. 5.5) and RNNs of
several state sizes are trained on associative recall with a random number of pairs m in 1..m_max and
evaluated at each m of a grid. The RNN state is quantised to `bits` bits per entry at the boundary between the
pairs and the queries, so with s = state entries * bits the Fano bound P*(s, m, V) of
`theory.retrieval.ar_success_upper_bound` is a hard ceiling on its accuracy; the crossover m* (the first m at
which accuracy falls below `threshold`) is compared with the bound's m* = s / f_V(threshold).

Token format [ours]: each pair is one token (key, value) -> id key * V + value, followed by queries "q a" with
query ids and answer ids in their own ranges. Folding the pair into a token removes the previous-token step
that a Transformer needs before an induction head, so all models learn in a few hundred CPU steps; the
information a state must carry (the values of m keys) and hence the bound are unchanged. The RNN is a
pure-torch linear RNN with matrix state (or a GRU), standing in for the paper's Mamba (CUDA-only).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.curves import first_crossing
from sims.engine.divergence import check_finite
from sims.engine.nets import n_params
from sims.engine.progress import bar
from sims.engine.torch_layer import resolve_device, seeded, single_thread
from theory.retrieval import ar_success_upper_bound, critical_pairs

from .models import Hybrid, LinearRNN, QuantisedGRU, Transformer
from .tasks import associative_recall


@dataclass(frozen=True)
class RecallConfig:
    """n_keys / n_values: key and value alphabets (V = n_values); m_eval: numbers of pairs evaluated (the
    training draws m uniformly from 1..max(m_eval)); n_queries: most queries per training sequence;
    rnn: "linear" (matrix-state linear RNN, state d_key x d_value) or "gru" (state = hidden units);
    state_sizes: d_key (linear) or hidden (gru) values trained; d_value: value width of the linear RNN;
    bits: quantisation bits per state entry; rnn_steps / attn_steps: Adam steps for RNNs and for the
    Transformer and hybrid; d_model, n_layers, n_heads: Transformer size; hybrid_hidden: the hybrid's GRU
    width; n_eval: evaluation sequences per m; threshold: accuracy defining the crossover."""

    n_keys: int = 16
    n_values: int = 16
    m_eval: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
    n_queries: int = 8
    rnn: str = "linear"
    state_sizes: tuple[int, ...] = (2, 4, 8)
    d_value: int = 8
    bits: int = 2
    rnn_steps: int = 800
    attn_steps: int = 800
    batch: int = 64
    lr: float = 3e-3
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    hybrid_hidden: int = 16
    n_eval: int = 1000
    threshold: float = 0.6
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.positive_int("n_keys", self.n_keys, 2)
        validate.positive_int("n_values", self.n_values, 2)
        validate.each(validate.positive_int, "m_eval", self.m_eval, 1)
        if max(self.m_eval) > self.n_keys:
            raise validate.ConfigError(f"m_eval must not exceed n_keys={self.n_keys}; got {max(self.m_eval)}.")
        if list(self.m_eval) != sorted(set(self.m_eval)):
            raise validate.ConfigError("m_eval must be strictly increasing.")
        validate.positive_int("n_queries", self.n_queries, 1)
        validate.one_of("rnn", self.rnn, ("linear", "gru"))
        validate.each(validate.positive_int, "state_sizes", self.state_sizes, 1)
        validate.positive_int("d_value", self.d_value, 1)
        validate.positive_int("bits", self.bits, 1)
        validate.positive_int("rnn_steps", self.rnn_steps, 1)
        validate.positive_int("attn_steps", self.attn_steps, 1)
        validate.positive_int("batch", self.batch, 1)
        validate.positive("lr", self.lr)
        validate.positive_int("d_model", self.d_model, 1)
        validate.positive_int("n_layers", self.n_layers, 1)
        validate.positive_int("n_heads", self.n_heads, 1)
        if self.d_model % self.n_heads:
            raise validate.ConfigError(f"n_heads must divide d_model; got d_model={self.d_model}, "
                                       f"n_heads={self.n_heads}.")
        validate.positive_int("hybrid_hidden", self.hybrid_hidden, 1)
        validate.positive_int("n_eval", self.n_eval, 1)
        validate.probability("threshold", self.threshold, open_low=True, open_high=True)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))

    @property
    def m_max(self) -> int:
        return max(self.m_eval)

    @property
    def vocab_size(self) -> int:
        return self.n_keys * self.n_values + self.n_keys + self.n_values


QUICK = RecallConfig()
PAPER = RecallConfig(n_keys=64, n_values=16, m_eval=(1, 2, 4, 8, 12, 16, 24, 32, 48, 64), n_queries=16,
                     state_sizes=(2, 4, 8, 16, 32), rnn_steps=6000, attn_steps=3000, batch=128, n_eval=4000,
                     device="auto")


def recall_batch(cfg: RecallConfig, gen: np.random.Generator, batch: int, m: int, n_queries: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Tokens [B, m + 2r] (pair tokens, then query/answer tokens) and the positions whose logits predict the
    answers (the query positions)."""
    b = associative_recall(gen, batch, m, cfg.n_keys, cfg.n_values, n_queries)
    K, V = cfg.n_keys, cfg.n_values
    pairs = b.keys * V + b.values
    qa = np.stack([K * V + b.query_keys, K * V + K + b.answers], axis=2).reshape(batch, 2 * n_queries)
    return np.concatenate([pairs, qa], axis=1), m + 2 * np.arange(n_queries)


def build(cfg: RecallConfig, kind: str, size: int = 0) -> torch.nn.Module:
    """One model: "rnn" of the given state size, "transformer" or "hybrid", initialised from the seed."""
    with seeded(cfg.seed, "init", kind, size):
        if kind == "rnn" and cfg.rnn == "linear":
            return LinearRNN(cfg.vocab_size, size, cfg.d_value, cfg.bits)
        if kind == "rnn":
            return QuantisedGRU(cfg.vocab_size, size, cfg.bits)
        if kind == "transformer":
            return Transformer(cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.m_max + 2 * cfg.n_queries)
        return Hybrid(cfg.vocab_size, cfg.hybrid_hidden, cfg.d_model, cfg.n_heads)


def state_bits(cfg: RecallConfig, size: int) -> int:
    """s: bits of the RNN state at the boundary (entries times bits per entry)."""
    entries = size * cfg.d_value if cfg.rnn == "linear" else size
    return entries * cfg.bits


def train(cfg: RecallConfig, model: torch.nn.Module, steps: int, name: str, device) -> float:
    """Adam on cross-entropy at the answer positions, m uniform in 1..m_max per step. Returns the last loss."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: min(1.0, (t + 1) / 50) * 0.5 * (1 + np.cos(np.pi * t / steps)))
    gen = rng(cfg.seed, "train", name)
    loss_value = float("nan")
    with bar(steps, f"recall {name}") as pbar:
        for step in range(steps):
            m = int(gen.integers(1, cfg.m_max + 1))
            r = min(cfg.n_queries, m)
            toks, pos = recall_batch(cfg, gen, cfg.batch, m, r)
            toks = torch.from_numpy(toks).to(device)
            logits = model(toks[:, :-1], m)
            loss = F.cross_entropy(logits[:, pos].reshape(-1, cfg.vocab_size), toks[:, pos + 1].reshape(-1))
            check_finite(f"{name} loss", loss.detach(), step, "lower lr")
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            loss_value = float(loss.detach())
            pbar.update(1)
    return loss_value


@torch.no_grad()
def evaluate(cfg: RecallConfig, model: torch.nn.Module, device, reset: bool = False) -> np.ndarray:
    """First-query accuracy at each m of m_eval on a fixed evaluation set (the same for every model).
    reset=True zeroes an RNN's state at the boundary (the no-memory control)."""
    model.eval()
    out = []
    for m in cfg.m_eval:
        toks, pos = recall_batch(cfg, rng(cfg.seed, "eval", m), cfg.n_eval, m, 1)
        toks = torch.from_numpy(toks).to(device)
        if reset:
            toks = toks[:, m:]          # the state after the pairs is the initial (zero) state
            pos = pos - m
            logits = model(toks[:, :-1])
        else:
            logits = model(toks[:, :-1], m)
        out.append(float((logits[:, pos[0]].argmax(-1) == toks[:, pos[0] + 1]).float().mean()))
    return np.array(out)


def crossover(m_eval, acc: np.ndarray, threshold: float) -> float:
    """First m (linearly interpolated on the grid) at which accuracy falls below `threshold`; inf if never,
    m_eval[0] if it starts below."""
    x = first_crossing(np.asarray(m_eval, dtype=float), np.asarray(acc), threshold, rising=False)
    return float(x) if np.isfinite(x) else float("inf")


@dataclass(frozen=True)
class RnnRecall(Summary):
    """One quantised-state RNN of the recall run (one row of the arrays acc, acc_reset and bound).

    name: the model's name, "rnn<state size>"; state_size: d_key (linear RNN) or hidden units (GRU), one of the
    config's state_sizes; state_bits: s, the bits of its state at the boundary (entries times bits per entry);
    n_params: trainable parameters; final_loss: training cross-entropy at the last step (nats);
    crossover: m*, the first number of pairs (interpolated on the m grid) at which its accuracy falls below the
    threshold; inf when it never does, the grid's first m when it starts below; crossover_reset: the same with
    its state zeroed at the boundary (the no-memory control); crossover_bound: the Fano bound's m* =
    s / f_V(threshold), beyond which no s-bit state does better (inf when the threshold is at chance)."""

    name: str
    state_size: int
    state_bits: int
    n_params: int
    final_loss: float
    crossover: float
    crossover_reset: float
    crossover_bound: float


@dataclass(frozen=True)
class AttentionRecall(Summary):
    """A model whose memory grows with the context (the Transformer or the hybrid): no state size, no bound.

    n_params: trainable parameters; final_loss: training cross-entropy at the last step (nats);
    crossover: m*, the first number of pairs at which its accuracy falls below the threshold (inf when it never
    does)."""

    n_params: int
    final_loss: float
    crossover: float


@dataclass(frozen=True)
class RecallSummary(Summary):
    """R3: trained models on associative recall against the Fano bound.

    rnns: one RnnRecall per state size, in the config's order (rows 0..k-1 of the arrays);
    transformer: the Transformer (the row after the RNNs); hybrid: the RNN with one attention layer (the last
    row); max_excess_over_bound: max over the RNNs and m of accuracy minus the Fano ceiling P*(s, m, V) for that
    RNN's state bits (<= 0 up to sampling noise)."""

    rnns: tuple[RnnRecall, ...]
    transformer: AttentionRecall
    hybrid: AttentionRecall
    max_excess_over_bound: float

    @property
    def rows(self) -> list[tuple[str, RnnRecall | AttentionRecall]]:
        """(name, summary) of every trained model in the row order of the arrays acc: the RNNs by state size,
        then "transformer" and "hybrid"."""
        return [(r.name, r) for r in self.rnns] + [("transformer", self.transformer), ("hybrid", self.hybrid)]

    @property
    def models(self) -> list[str]:
        """The names of the rows of the arrays acc (see `rows`)."""
        return [name for name, _ in self.rows]

    @property
    def state_bits(self) -> list[int]:
        """s of each RNN, in row order."""
        return [r.state_bits for r in self.rnns]


def _rnn_summary(cfg: RecallConfig, size: int, model: torch.nn.Module, loss: float, acc: np.ndarray,
                 acc_reset: np.ndarray) -> RnnRecall:
    """The RNN of state size `size` after training: its bits, crossovers and the bound's crossover."""
    m, bits = np.array(cfg.m_eval, dtype=float), state_bits(cfg, size)
    return RnnRecall(name=f"rnn{size}", state_size=size, state_bits=bits, n_params=n_params(model),
                     final_loss=loss, crossover=crossover(m, acc, cfg.threshold),
                     crossover_reset=crossover(m, acc_reset, cfg.threshold),
                     crossover_bound=float(critical_pairs(bits, cfg.n_values, cfg.threshold)))


def run_recall(cfg: RecallConfig) -> Result:
    single_thread()
    device = resolve_device(cfg.device)
    m = np.array(cfg.m_eval, dtype=float)
    rnns, acc, acc_reset = [], [], []
    for size in cfg.state_sizes:
        model = build(cfg, "rnn", size)
        loss = train(cfg, model, cfg.rnn_steps, f"rnn{size}", device)
        acc.append(evaluate(cfg, model, device))
        acc_reset.append(evaluate(cfg, model, device, reset=True))
        rnns.append(_rnn_summary(cfg, size, model, loss, acc[-1], acc_reset[-1]))
    attention = {}
    for kind in ("transformer", "hybrid"):
        model = build(cfg, kind)
        loss = train(cfg, model, cfg.attn_steps, kind, device)
        acc.append(evaluate(cfg, model, device))
        attention[kind] = AttentionRecall(n_params=n_params(model), final_loss=loss,
                                          crossover=crossover(m, acc[-1], cfg.threshold))
    acc_arr = np.array(acc)
    bound = np.array([ar_success_upper_bound(r.state_bits, m, cfg.n_values) for r in rnns])
    summary = RecallSummary(rnns=tuple(rnns), transformer=attention["transformer"], hybrid=attention["hybrid"],
                            max_excess_over_bound=float(np.max(acc_arr[:len(rnns)] - bound)))
    arrays = {"m": m, "acc": acc_arr, "acc_reset": np.array(acc_reset), "bound": bound}
    return Result("retrieval.recall", config_dict(cfg), summary, arrays)


def _fmt(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{x:.1f}"


def summarize_recall(res: Result) -> str:
    s, a, cfg = res.summary, res.arrays, res.config
    m = a["m"].astype(int)
    lines = [f"Associative recall (pair tokens), V={cfg['n_values']} values, {cfg['n_keys']} keys, "
             f"RNN={cfg['rnn']} with {cfg['bits']}-bit state entries, seed={cfg['seed']}",
             "", "first-query accuracy by number of pairs m:",
             f"{'model':>12} {'params':>7} " + " ".join(f"{x:>5d}" for x in m)]
    for (name, model), row in zip(s.rows, a["acc"]):
        lines.append(f"{name:>12} {model.n_params:>7d} " + " ".join(f"{v:>5.2f}" for v in row))
    for rnn, row in zip(s.rnns, a["bound"]):
        lines.append(f"{'P*(s=' + str(rnn.state_bits) + ')':>12} {'':>7} " + " ".join(f"{v:>5.2f}" for v in row))
    thr = cfg["threshold"]
    lines += ["", f"crossover table: m* = first number of pairs with accuracy < {thr} "
              f"(bound: s / f_V({thr}) = no s-bit state can do better beyond it)",
              f"{'model':>12} {'state bits':>10} {'m* measured':>12} {'m* bound':>9} {'m* state reset':>15}"]
    for r in s.rnns:
        lines.append(f"{r.name:>12} {r.state_bits:>10d} {_fmt(r.crossover):>12} "
                     f"{r.crossover_bound:>9.1f} {_fmt(r.crossover_reset):>15}")
    for name, model in s.rows[len(s.rnns):]:
        lines.append(f"{name:>12} {'context':>10} {_fmt(model.crossover):>12} {'-':>9} {'-':>15}")
    lines.append(f"\nlargest RNN accuracy minus its bound over all m: {s.max_excess_over_bound:+.3f} "
                 "(must be <= 0 up to sampling noise)")
    return "\n".join(lines)


RECALL = Experiment(paper="retrieval", name="recall",
                    description="R3: Transformer, hybrid and quantised-state RNNs trained on associative recall; "
                                "crossover number of pairs per state size against the Fano bound",
                    config_cls=RecallConfig, presets={"quick": QUICK, "paper": PAPER},
                    run=run_recall, summarize=summarize_recall, summary=RecallSummary)
