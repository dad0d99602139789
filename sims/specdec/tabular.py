"""Speculative decoding on tabular Markov chains: exact laws and a sampler vectorised over many sequences.

A first-order Markov chain over V tokens (`Chain`: an initial law and a V x V transition table) stands in for a
language model whose next-token law depends on the previous token only. `sequence_law` gives the exact law of the
first k tokens; `speculative` runs speculative decoding (Leviathan et al. 2023, Algorithm 1; research notes
section 4.1) with a draft chain and a target chain on many sequences at once, and counts what the theory in
`theory.specdec` predicts: accept/reject decisions, their expected number, tokens per target call. Besides the
exact sampler it has the lossy variant (a lenience function in the acceptance test, DistillSpec) and two broken
samplers used as negative controls of the exactness tests (notes T4.1):

* "no_correction": a rejected draft token is replaced by a fresh DRAFT sample instead of a residual sample;
* "draft_bonus": the bonus token after gamma acceptances is drawn from the draft instead of the target. It
  leaves the first gamma tokens of a sequence exact (the bonus token comes at position gamma + 1 at the
  earliest), so a test of the first k tokens catches it only when k > gamma [ours, the notes' blind spot].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine import validate
from sims.engine.errors import ConfigError
from theory import specdec as sd

MODES = ("exact", "no_correction", "draft_bonus")


@dataclass(frozen=True)
class Chain:
    """A first-order Markov chain over V tokens: init [V] is the law of the first token, trans[a, b] the
    probability of token b after token a (each row a law)."""

    init: np.ndarray
    trans: np.ndarray

    def __post_init__(self):
        init = np.asarray(self.init, dtype=float)
        trans = np.asarray(self.trans, dtype=float)
        if init.ndim != 1 or init.size < 2:
            raise ConfigError(f"init must be a vector of at least 2 probabilities, got shape {init.shape}.")
        if trans.shape != (init.size, init.size):
            raise ConfigError(f"trans must have shape {(init.size, init.size)}, got {trans.shape}.")
        for name, law in (("init", init), ("trans", trans)):
            if not np.all(np.isfinite(law)) or np.any(law < 0):
                raise ConfigError(f"{name} must hold finite non-negative probabilities.")
            if np.any(np.abs(law.sum(axis=-1) - 1.0) > 1e-9):
                raise ConfigError(f"{name} must sum to 1 (each row of trans) within 1e-9.")
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "trans", trans)

    @property
    def vocab(self) -> int:
        """The number of tokens V."""
        return int(self.init.size)

    def table(self) -> np.ndarray:
        """[V + 1, V]: the next-token law given the previous token, with row V (no previous token) = init."""
        return np.vstack([self.trans, self.init])


def random_chain(vocab: int, concentration: float, gen: np.random.Generator, context_free: bool = False) -> Chain:
    """A chain whose initial law and transition rows are independent Dirichlet(concentration) draws; with
    context_free, one draw serves as init and as every row (the tokens are then i.i.d.)."""
    validate.positive_int("vocab", vocab, minimum=2)
    validate.positive("concentration", concentration)
    alpha = np.full(vocab, float(concentration))
    if context_free:
        row = gen.dirichlet(alpha)
        return Chain(row, np.tile(row, (vocab, 1)))
    return Chain(gen.dirichlet(alpha), gen.dirichlet(alpha, size=vocab))


def sequence_law(chain: Chain, k: int) -> np.ndarray:
    """Exact probability of each of the V^k sequences of the first k tokens, flattened row-major (the sequence
    (t_0, ..., t_{k-1}) at index sum_i t_i V^(k-1-i))."""
    validate.positive_int("k", k)
    law = chain.init
    for _ in range(k - 1):
        law = law[..., None] * chain.trans          # (..., previous) x trans[previous, next]
    return law.ravel()


def sequence_index(tokens: np.ndarray, vocab: int) -> np.ndarray:
    """The row-major index of each row of tokens [n, k] among the V^k sequences (as in `sequence_law`)."""
    tokens = np.asarray(tokens)
    return tokens @ (vocab ** np.arange(tokens.shape[1] - 1, -1, -1))


@dataclass
class TabularRun:
    """What a speculative run emitted and counted.

    tokens [n_seqs, n_tokens]: the emitted tokens. accepted [n_blocks_total]: accepted draft tokens in each
    (sequence, block), block by block (the blocks of all sequences interleaved in the order they ran); full
    [n_blocks_total]: whether the block started with room for gamma + 1 tokens, so that the end of the sequence
    could not cut it. attempts, accepts: accept/reject decisions made and passed, counting only decisions on
    draft tokens that fall inside the sequence (sum(accepted) == accepts). predicted_accepts: the sum over those
    decisions of their acceptance probability given the prefix (theory.specdec.acceptance, or
    lossy_acceptance with a lenience), whose expectation equals that of accepts. blocks [n_seqs]: target calls
    (blocks) per sequence.
    """

    tokens: np.ndarray
    accepted: np.ndarray
    full: np.ndarray
    attempts: int
    accepts: int
    predicted_accepts: float
    blocks: np.ndarray

    @property
    def acceptance_rate(self) -> float:
        """accepts / attempts: the empirical acceptance rate of draft tokens."""
        return self.accepts / self.attempts

    @property
    def block_efficiency(self) -> float:
        """Mean tokens per block, accepted + 1, over the `full` blocks only. Blocks are selected on where they
        started, not on what they emitted, so the mean is not biased by the cut at the end of the sequence."""
        full = self.accepted[self.full]
        if full.size == 0:
            raise ValueError("no block started with room for gamma + 1 tokens; use n_tokens > gamma.")
        return float(np.mean(full + 1))


def _sample_rows(probs: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """One token per row of probs [n, V] (rows non-negative with positive sum); a token of probability 0 is never
    drawn."""
    cdf = np.cumsum(probs, axis=1)
    threshold = gen.random(probs.shape[0]) * cdf[:, -1]
    return np.sum(cdf <= threshold[:, None], axis=1)


def _check_args(target: Chain, draft: Chain, gamma, n_seqs, n_tokens, mode, lenience, epsilon) -> None:
    if target.vocab != draft.vocab:
        raise ConfigError(f"draft must have the target's vocabulary {target.vocab}, got {draft.vocab}.")
    validate.positive_int("gamma", gamma)
    validate.positive_int("n_seqs", n_seqs)
    validate.positive_int("n_tokens", n_tokens)
    validate.one_of("mode", mode, MODES)
    validate.probability("epsilon", epsilon, open_low=True)
    if lenience is not None:
        validate.one_of("lenience", lenience, sd.LENIENCE)
    elif epsilon != 1.0:
        raise ConfigError(f"epsilon must be 1 without a lenience function, got {epsilon!r}.")


def _draft_block(ptab, qtab, prev, gamma, gen):
    """The draft proposes gamma tokens after `prev` [n]; returns tokens x [n, gamma], the draft laws q and target
    laws p at the gamma positions [n, gamma, V], and both laws at the bonus position [n, V]."""
    xs, qs, ps = [], [], []
    ctx = prev
    for _ in range(gamma):
        q, p = qtab[ctx], ptab[ctx]
        ctx = _sample_rows(q, gen)
        xs.append(ctx)
        qs.append(q)
        ps.append(p)
    return np.stack(xs, 1), np.stack(qs, 1), np.stack(ps, 1), ptab[ctx], qtab[ctx]


def _accept_probabilities(p, q, lenience, epsilon):
    """The acceptance test's threshold f(p) (p itself when lossless) and the acceptance probability of each
    position, sum_x min(q, f)."""
    f = p if lenience is None else sd.lenience(p, epsilon, lenience)
    return f, np.minimum(q, f).sum(axis=-1)


def _replacement(p, q, mode, gen):
    """The token that replaces a rejected draft token: a residual sample, or a fresh draft sample
    ("no_correction")."""
    return _sample_rows(q if mode == "no_correction" else sd.residual(p, q), gen)


def speculative(target: Chain, draft: Chain, gamma: int, n_seqs: int, n_tokens: int, gen: np.random.Generator,
                mode: str = "exact", lenience: str | None = None, epsilon: float = 1.0) -> TabularRun:
    """Speculative decoding of n_seqs sequences of n_tokens tokens from the chains' initial laws.

    Each block (one target call): the draft proposes gamma tokens; the i-th is kept with probability
    min(1, f(p(x))/q(x)), f(p) = p (lossless) or the lenience function `lenience` at `epsilon`
    (theory.specdec.lenience); the first rejected one is replaced by a residual sample norm(max(0, p - q))
    (mode "exact" and "draft_bonus") or by a fresh draft sample ("no_correction"); when all gamma are kept a
    bonus token comes from the target ("exact", "no_correction") or from the draft ("draft_bonus"). The last
    block of a sequence is truncated to n_tokens. Vectorised over the sequences still running.
    """
    _check_args(target, draft, gamma, n_seqs, n_tokens, mode, lenience, epsilon)
    ptab, qtab = target.table(), draft.table()
    tokens = np.zeros((n_seqs, n_tokens), dtype=np.int64)
    pos = np.zeros(n_seqs, dtype=np.int64)
    blocks = np.zeros(n_seqs, dtype=np.int64)
    accepted, full = [], []
    attempts = accepts = 0
    predicted = 0.0
    cols = np.arange(gamma)
    while True:
        rows = np.nonzero(pos < n_tokens)[0]
        if rows.size == 0:
            break
        start = pos[rows]
        prev = np.where(start > 0, tokens[rows, np.maximum(start - 1, 0)], target.vocab)
        x, q, p, p_bonus, q_bonus = _draft_block(ptab, qtab, prev, gamma, gen)
        f, beta = _accept_probabilities(p, q, lenience, epsilon)
        fx = np.take_along_axis(f, x[..., None], -1)[..., 0]
        qx = np.take_along_axis(q, x[..., None], -1)[..., 0]
        keep = gen.random(x.shape) * qx < fx
        n_acc = np.cumprod(keep, axis=1).sum(axis=1)
        # the emitted block: the accepted prefix, then the replacement or the bonus token
        last = np.empty(rows.size, dtype=np.int64)
        cut = n_acc < gamma
        idx = np.nonzero(cut)[0]
        last[idx] = _replacement(p[idx, n_acc[idx]], q[idx, n_acc[idx]], mode, gen)
        idx = np.nonzero(~cut)[0]
        last[idx] = _sample_rows(q_bonus[idx] if mode == "draft_bonus" else p_bonus[idx], gen)
        emitted = np.concatenate([x, np.zeros((rows.size, 1), dtype=np.int64)], axis=1)
        emitted[np.arange(rows.size), n_acc] = last
        room = n_tokens - start
        n_emit = np.minimum(n_acc + 1, room)
        for j in range(gamma + 1):
            write = np.nonzero(j < n_emit)[0]
            tokens[rows[write], start[write] + j] = emitted[write, j]
        # decisions on draft tokens inside the sequence: positions i < min(n_acc + 1, room)
        decided = cols[None, :] < np.minimum(n_acc + 1, room)[:, None]
        attempts += int(decided.sum())
        kept_in = np.minimum(n_acc, room)
        accepts += int(kept_in.sum())
        predicted += float((beta * decided).sum())
        accepted.append(kept_in)
        full.append(room >= gamma + 1)
        pos[rows] += n_emit
        blocks[rows] += 1
    return TabularRun(tokens, np.concatenate(accepted), np.concatenate(full), attempts, accepts, predicted, blocks)
