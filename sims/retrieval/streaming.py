"""R1: exact bounded-memory streaming agents on associative recall (Thm 4.6 of arXiv 2402.18510, in the Fano
form of `theory.retrieval`).

An s-bit agent stores the first pairs that fit in its state and guesses otherwise; the full-context agent
(what attention can do) keeps every pair. For each s and number of pairs m we measure the accuracy and compare
it with the Fano ceiling P*(s, m, V) and with the agent's exact formula. The "cheating" agent stores
`cheat_factor` * s bits while being checked against s bits: the bound check must flag it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from theory.retrieval import ar_prefix_store_success, ar_success_upper_bound

from .agents import full_context_recall, pair_bits, prefix_store_recall
from .tasks import associative_recall


@dataclass(frozen=True)
class StreamingConfig:
    """n_keys / n_values: alphabets (V = n_values); s_bits: state sizes of the bounded agent; m_eval: numbers
    of pairs; n_eval: instances per (s, m); cheat_factor: how many times s the cheating agent really stores."""

    n_keys: int = 64
    n_values: int = 16
    s_bits: tuple[int, ...] = (64, 128, 256)
    m_eval: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    n_eval: int = 20000
    cheat_factor: int = 4
    seed: int = 0

    def validate(self) -> None:
        validate.positive_int("n_keys", self.n_keys, 2)
        validate.positive_int("n_values", self.n_values, 2)
        validate.each(validate.positive_int, "s_bits", self.s_bits, 0)
        validate.each(validate.positive_int, "m_eval", self.m_eval, 1)
        if max(self.m_eval) > self.n_keys:
            raise validate.ConfigError(f"m_eval must not exceed n_keys={self.n_keys}; got {max(self.m_eval)}.")
        validate.positive_int("n_eval", self.n_eval, 1)
        validate.positive_int("cheat_factor", self.cheat_factor, 2)


QUICK = StreamingConfig()
PAPER = StreamingConfig(n_keys=256, s_bits=(64, 128, 256, 512, 1024), m_eval=(2, 4, 8, 16, 32, 64, 128, 256),
                        n_eval=100_000)


@dataclass(frozen=True)
class StreamingSummary(Summary):
    """R1: exact s-bit streaming agents over the grid of state sizes s (config s_bits) and numbers of pairs m
    (config m_eval), each point over n_eval sampled instances.

    max_excess_over_bound: max over (s, m) of the s-bit agent's accuracy minus the Fano ceiling P*(s, m, V)
    (<= 0 up to sampling noise); cheat_max_excess_over_bound: the same for the agent that stores
    cheat_factor * s bits while checked against s (the control: must exceed the ceiling);
    max_z_excess_over_bound: max over (s, m) of the s-bit agent's excess in standard errors of an n_eval-sample
    mean at the ceiling; max_formula_gap: max over (s, m) of |accuracy - the agent's exact success formula|;
    full_context_min_acc: the full-context agent's lowest accuracy over m (1 when it keeps every pair);
    pair_bits: bits one stored (key, value) pair takes, ceil(log2 n_keys) + ceil(log2 V)."""

    max_excess_over_bound: float
    cheat_max_excess_over_bound: float
    max_z_excess_over_bound: float
    max_formula_gap: float
    full_context_min_acc: float
    pair_bits: int


def run_streaming(cfg: StreamingConfig) -> Result:
    S, M, V = len(cfg.s_bits), len(cfg.m_eval), cfg.n_values
    acc, cheat, used = np.zeros((S, M)), np.zeros((S, M)), np.zeros((S, M), dtype=np.int64)
    full = np.zeros(M)
    for j, m in enumerate(cfg.m_eval):
        batch = associative_recall(rng(cfg.seed, "pairs", m), cfg.n_eval, m, cfg.n_keys, V)
        full[j] = full_context_recall(batch)[0].mean()
        for i, s in enumerate(cfg.s_bits):
            ok, bits = prefix_store_recall(batch, s, cfg.n_keys, V, rng(cfg.seed, "guess", m, s))
            if bits > s:
                raise AssertionError(f"agent used {bits} > {s} bits")
            acc[i, j], used[i, j] = ok.mean(), bits
            cheat[i, j] = prefix_store_recall(batch, cfg.cheat_factor * s, cfg.n_keys, V,
                                              rng(cfg.seed, "cheat", m, s))[0].mean()
    m = np.array(cfg.m_eval, dtype=float)
    s = np.array(cfg.s_bits, dtype=float)[:, None]
    bound = ar_success_upper_bound(s * np.ones_like(m), m * np.ones_like(s), V)
    formula = ar_prefix_store_success(s, m, V, key_bits=pair_bits(cfg.n_keys, V) - int(np.ceil(np.log2(V))))
    se = np.sqrt(np.clip(bound * (1 - bound), 1e-12, None) / cfg.n_eval)
    summary = StreamingSummary(
        max_excess_over_bound=float(np.max(acc - bound)), cheat_max_excess_over_bound=float(np.max(cheat - bound)),
        max_z_excess_over_bound=float(np.max((acc - bound) / np.maximum(se, 1.0 / cfg.n_eval))),
        max_formula_gap=float(np.max(np.abs(acc - formula))),
        full_context_min_acc=float(full.min()), pair_bits=pair_bits(cfg.n_keys, V))
    arrays = {"m": m, "s_bits": s[:, 0], "acc": acc, "acc_cheat": cheat, "acc_full": full, "bound": bound,
              "formula": formula, "bits_used": used}
    return Result("retrieval.streaming", config_dict(cfg), summary, arrays)


def summarize_streaming(res: Result) -> str:
    a, s, cfg = res.arrays, res.summary, res.config
    head = f"{'agent':>24} " + " ".join(f"{int(x):>6d}" for x in a["m"])
    lines = [f"R1 streaming agents on associative recall: V={cfg['n_values']}, {cfg['n_keys']} keys, "
             f"{cfg['n_eval']} instances per point, {s.pair_bits} bits per stored pair", "",
             "accuracy by number of pairs m:", head,
             f"{'full context':>24} " + " ".join(f"{v:>6.3f}" for v in a["acc_full"])]
    for i, sb in enumerate(a["s_bits"]):
        lines.append(f"{f'{int(sb)}-bit agent':>24} " + " ".join(f"{v:>6.3f}" for v in a["acc"][i]))
        lines.append(f"{f'  Fano bound P*({int(sb)})':>24} " + " ".join(f"{v:>6.3f}" for v in a["bound"][i]))
        cheat_label = f"  cheat ({cfg['cheat_factor']}x bits)"
        lines.append(f"{cheat_label:>24} "
                     + " ".join(f"{v:>6.3f}" for v in a["acc_cheat"][i]))
    lines += ["", f"max accuracy - bound: {s.max_excess_over_bound:+.4f} (must be <= 0 up to noise); "
              f"cheating agent: {s.cheat_max_excess_over_bound:+.4f} (must trip the check)",
              f"max |accuracy - exact formula|: {s.max_formula_gap:.4f}"]
    return "\n".join(lines)


STREAMING = Experiment(paper="retrieval", name="streaming",
                       description="R1: exact s-bit streaming agents vs the full-context agent on associative "
                                   "recall, against the Fano bound",
                       config_cls=StreamingConfig, presets={"quick": QUICK, "paper": PAPER},
                       run=run_streaming, summarize=summarize_streaming,
                       summary=StreamingSummary)
