"""R4: IsTree learned three ways (Sec. 6 experiments of arXiv 2402.18510, official `rnn-icrag` setup scaled down):
a Transformer, an RNN (GRU, the pure-torch stand-in for Mamba) and the hybrid (GRU + one attention layer) are
trained on the official token formats `no_cot`, `cot` (DFS Euler tour) and `retrieval` (CoT with retrieval
calls whose answers come from the non-learned retriever and are excluded from the loss), on the `binary`
(two_star) family with random edge order.

Metric (the paper's): accuracy of the final IsTree answer under FREE-RUNNING greedy generation on fresh
instances. The model is given only the input `[BOS] edges [EOS]` and writes its own chain of thought; in the
`retrieval` format every [ENDSEARCH] it emits is answered by the non-learned retriever (`tasks.retrieve`), whose
answer token is appended before generation continues; the answer is the token after the chain of thought's
closing [EOS] (for `no_cot`, the first generated token). A run that exceeds the length limit counts as wrong.
Test graphs whose input also occurred in training are removed (the removed fraction is recorded).

Also recorded, as diagnostics only (NOT the paper's metric): `gen_exact`, the fraction of free runs whose whole
generated continuation equals the reference; and `tf_seq_acc`, teacher-forced sequence accuracy (every
supervised token right when the reference prefix is fed in). With greedy decoding the two agree up to
floating-point ties (a free run reproduces the reference iff every forced prediction is right), so `tf_seq_acc`
is a consistency check of the decoder. Neither is the answer accuracy: a model can answer right with a wrong
chain of thought and vice versa. (Teacher-forced accuracy of the answer token alone, given the reference chain
of thought, is not recorded: the forced chain of thought gives the answer away.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sims.engine import Experiment, Result, Summary, rng, validate
from sims.engine.cache import config_dict
from sims.engine.divergence import check_finite
from sims.engine.progress import bar
from sims.engine.torch_layer import resolve_device, seeded, single_thread

from .models import Hybrid, QuantisedGRU, Transformer
from .tasks import FAMILIES, FORMATS, Graph, StreamRetriever, Vocab, encode_istree, graphs

MODELS = ("transformer", "rnn", "hybrid")


@dataclass(frozen=True)
class IsTreeTrainConfig:
    """ns: graph sizes (training draws n uniformly from them); family: graph family; formats / models: what is
    trained (one model per format and architecture); hidden: GRU width of the RNN and the hybrid; d_model,
    n_layers, n_heads: Transformer size; steps, batch, lr: Adam training; n_eval: test graphs drawn per n (shared by all models; those
    whose input occurred in any model's training are dropped)."""

    ns: tuple[int, ...] = (6, 8)
    family: str = "two_star"
    formats: tuple[str, ...] = FORMATS
    models: tuple[str, ...] = MODELS
    hidden: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    steps: int = 150
    batch: int = 32
    lr: float = 2e-3
    n_eval: int = 100
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> None:
        validate.each(validate.positive_int, "ns", self.ns, 5)
        validate.one_of("family", self.family, tuple(FAMILIES))
        validate.each(lambda name, v: validate.one_of(name, v, FORMATS), "formats", self.formats)
        validate.each(lambda name, v: validate.one_of(name, v, MODELS), "models", self.models)
        validate.positive_int("hidden", self.hidden, 1)
        validate.positive_int("d_model", self.d_model, 1)
        validate.positive_int("n_layers", self.n_layers, 1)
        validate.positive_int("n_heads", self.n_heads, 1)
        if self.d_model % self.n_heads:
            raise validate.ConfigError(f"n_heads must divide d_model; got d_model={self.d_model}, "
                                       f"n_heads={self.n_heads}.")
        validate.positive_int("steps", self.steps, 1)
        validate.positive_int("batch", self.batch, 1)
        validate.positive("lr", self.lr)
        validate.positive_int("n_eval", self.n_eval, 1)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


# Quick: a ~2-3 CPU-minute check of the whole pipeline (training, free generation with the retriever in the
# loop, fresh-instance filtering) on small graphs; 150 steps are far too few to learn IsTree, so its accuracies
# sit near chance (0.5) and no claim rests on them. Paper: the official sizes (n = 16, 32, 64), for a GPU.
QUICK = IsTreeTrainConfig()
PAPER = IsTreeTrainConfig(ns=(16, 32, 64), hidden=128, d_model=128, n_layers=4, steps=20_000, batch=64, lr=1e-3,
                          n_eval=2000, device="auto")


def batch_tensors(gs, fmt: str, vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded tokens [B, T] and the loss mask [B, T-1] over next-token targets: every token after the
    first [EOS], except the retriever's answers (the token after each [ENDSEARCH]) and padding."""
    enc = [encode_istree(g, fmt, vocab) for g in gs]
    T = max(len(t) for t, _ in enc)
    toks = np.full((len(gs), T), vocab["[PAD]"], dtype=np.int64)
    mask = np.zeros((len(gs), T), dtype=bool)
    es = vocab["[ENDSEARCH]"]
    for i, (t, first) in enumerate(enc):
        toks[i, :len(t)] = t
        mask[i, first:len(t)] = True
        after_es = np.nonzero(t[:-1] == es)[0] + 1
        mask[i, after_es] = False
    return torch.from_numpy(toks), torch.from_numpy(mask[:, 1:])


def max_length(cfg: IsTreeTrainConfig) -> int:
    """A safe upper bound on sequence length over the sizes and formats (measured on sample graphs x 1.5)."""
    n = max(cfg.ns)
    vocab = Vocab(n)
    sample = graphs(cfg.family, n, 50, rng(cfg.seed, "len"))
    return int(1.5 * max(len(encode_istree(g, f, vocab)[0]) for g in sample for f in cfg.formats)) + 8


def build(cfg: IsTreeTrainConfig, kind: str, fmt: str, vocab_size: int, max_len: int) -> torch.nn.Module:
    with seeded(cfg.seed, "init", kind, fmt):
        if kind == "transformer":
            return Transformer(vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, max_len)
        if kind == "rnn":
            return QuantisedGRU(vocab_size, cfg.hidden, bits=0)
        return Hybrid(vocab_size, cfg.hidden, cfg.d_model, cfg.n_heads)


def _key(g: Graph) -> bytes:
    return g.n.to_bytes(4, "little") + g.edges.tobytes()


class Stepper:
    """Incremental (cached) next-token logits for the three R4 models, one token per sequence per call:
    `step(tokens[B]) -> logits[B, V]` equals `model(prefix)[:, -1]` for the prefix fed so far (the GRU state
    is carried, attention keys/values are cached). Any other module falls back to re-running the prefix."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.t, self.h, self.kv, self.fed = model, 0, None, {}, []

    def _attend(self, qkv, out, n_heads: int, x: torch.Tensor, layer: int) -> torch.Tensor:
        b, d = x.shape
        q, k, v = qkv(x).view(b, 3, n_heads, d // n_heads).unbind(1)            # each [B, H, dh]
        if layer in self.kv:
            K, V = self.kv[layer]
            K, V = torch.cat([K, k[:, :, None]], 2), torch.cat([V, v[:, :, None]], 2)
        else:
            K, V = k[:, :, None], v[:, :, None]
        self.kv[layer] = (K, V)
        y = F.scaled_dot_product_attention(q[:, :, None], K, V)                 # the past and itself
        return out(y.reshape(b, d))

    @torch.no_grad()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        m = self.model
        if isinstance(m, Transformer):
            net = m.net
            if self.t >= net.max_len:
                raise ValueError(f"position {self.t} exceeds max_len={net.max_len}.")
            x = net.tok(tokens) + net.pos.weight[self.t]
            for li, blk in enumerate(net.blocks):
                x = x + self._attend(blk.attn.qkv, blk.attn.out, blk.attn.n_heads, blk.ln1(x), li)
                x = x + blk.mlp(blk.ln2(x))
            logits = net.head(net.ln_f(x))
        elif isinstance(m, QuantisedGRU) and m.bits == 0:
            r, self.h = m.gru(m.emb(tokens)[:, None], self.h)
            logits = m.head(r[:, 0])
        elif isinstance(m, Hybrid):
            e = m.emb(tokens)
            r, self.h = m.gru(e[:, None], self.h)
            x = m.proj(torch.cat([r[:, 0], e], dim=-1))
            x = x + self._attend(m.qkv, m.out, m.n_heads, m.ln1(x), 0)
            x = x + m.mlp(m.ln2(x))
            logits = m.head(m.ln_f(x))
        else:
            self.fed.append(tokens)
            logits = m(torch.stack(self.fed, dim=1))[:, -1]
        self.t += 1
        return logits


@torch.no_grad()
def generate(model: torch.nn.Module, gs: list[Graph], fmt: str, vocab: Vocab, max_len: int,
             device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Batched free-running greedy decoding from the input `[BOS] edges [EOS]` of each graph (module docstring).

    All graphs must have the same n (equal prompt lengths), so the batch advances in lockstep, one token per
    sequence per step, through a cached `Stepper`: the next token is the argmax of the model's logits, except
    right after an emitted [ENDSEARCH] in the `retrieval` format, where it is the retriever's answer
    (`tasks.StreamRetriever`, equal to `tasks.retrieve` on the sequence so far). Returns (answer_right[B], exact[B]): whether the token after the
    closing [EOS] (for `no_cot`, the first generated token) equals the label, and whether the whole generated
    continuation equals the reference encoding. A run longer than twice the longest reference (or than max_len)
    is stopped and counts as wrong."""
    EOS, ES, PAD = vocab["[EOS]"], vocab["[ENDSEARCH]"], vocab["[PAD]"]
    refs = [encode_istree(g, fmt, vocab) for g in gs]
    prompts = np.array([t[:first] for t, first in refs])                      # ValueError if lengths differ
    limit = min(max_len, 2 * max(len(t) for t, _ in refs) + 8)
    B, P = prompts.shape
    seqs = [list(map(int, row)) for row in prompts]
    answer = np.full(B, -1, dtype=np.int64)
    done = np.zeros(B, dtype=bool)
    cot_closed = np.full(B, fmt == "no_cot")
    forced = np.full(B, -1, dtype=np.int64)
    retrievers = [StreamRetriever(row, vocab) for row in prompts] if fmt == "retrieval" else None
    stepper = Stepper(model)
    for p in range(P - 1):
        stepper.step(torch.from_numpy(prompts[:, p]).to(device))
    last = prompts[:, -1].copy()
    while not done.all():
        nxt = stepper.step(torch.from_numpy(last).to(device)).argmax(-1).cpu().numpy()
        for i in np.nonzero(~done)[0]:
            t = int(forced[i]) if forced[i] >= 0 else int(nxt[i])
            forced[i] = -1
            seqs[i].append(t)
            if retrievers is not None:
                retrievers[i].push(t)
            if cot_closed[i]:
                answer[i], done[i] = t, True
            elif t == EOS:
                cot_closed[i] = True
            elif fmt == "retrieval" and t == ES:
                forced[i] = retrievers[i].answer()
            if len(seqs[i]) >= limit - 1:
                done[i] = True
        last = np.array([seq[-1] if not d else PAD for seq, d in zip(seqs, done)], dtype=np.int64)
    labels = np.array([vocab["[TRUE]"] if g.label else vocab["[FALSE]"] for g in gs])
    exact = np.array([len(seqs[i]) == len(refs[i][0]) and bool(np.array_equal(seqs[i], refs[i][0]))
                      for i in range(B)])
    return answer == labels, exact


@dataclass(frozen=True)
class IsTreeTestSet(Summary):
    """The fresh test graphs of one size, shared by every trained model.

    n: nodes; count: test graphs kept (drawn n_eval, minus those whose input occurred in any model's training);
    seen_fraction: fraction of the drawn graphs dropped as seen in training; tree_fraction: fraction of the kept
    graphs that are trees (what answering "tree" always would score)."""

    n: int
    count: int
    seen_fraction: float
    tree_fraction: float


@dataclass(frozen=True)
class IsTreeTrainSummary(Summary):
    """R4: Transformer, RNN and hybrid trained on IsTree in each token format. The accuracies are the arrays acc,
    gen_exact and tf_seq_acc, indexed [format, model, n] in the config's order of formats, models and ns.

    tests: one IsTreeTestSet per n of the config's ns, in its order."""

    tests: tuple[IsTreeTestSet, ...]


def _test_sets(cfg: IsTreeTrainConfig, seen: set[bytes]) -> tuple[list[list[Graph]], tuple[IsTreeTestSet, ...]]:
    """Fresh test graphs per n (the same set for every model, minus any input seen by any model in training)
    and their description."""
    tests, sets = [], []
    for n in cfg.ns:
        gs = graphs(cfg.family, n, cfg.n_eval, rng(cfg.seed, "eval", n))
        fresh = [g for g in gs if _key(g) not in seen]
        if not fresh:
            raise validate.ConfigError(f"every test graph at n={n} also occurred in training; raise ns or n_eval.")
        tests.append(fresh)
        sets.append(IsTreeTestSet(n=n, count=len(fresh), seen_fraction=1 - len(fresh) / len(gs),
                                  tree_fraction=float(np.mean([g.label for g in fresh]))))
    return tests, tuple(sets)


def run_istree_train(cfg: IsTreeTrainConfig) -> Result:
    single_thread()
    device = resolve_device(cfg.device)
    vocab = Vocab(max(cfg.ns))
    max_len = max_length(cfg)
    F_, M_, N_ = len(cfg.formats), len(cfg.models), len(cfg.ns)
    acc, exact, tf_seq = np.zeros((F_, M_, N_)), np.zeros((F_, M_, N_)), np.zeros((F_, M_, N_))
    seen: set[bytes] = set()
    trained = {}
    with bar(F_ * M_ * cfg.steps, "istree training") as pbar:
        for i, fmt in enumerate(cfg.formats):
            for j, kind in enumerate(cfg.models):
                model = build(cfg, kind, fmt, vocab.size, max_len).to(device)
                opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
                sched = torch.optim.lr_scheduler.LambdaLR(
                    opt, lambda t: min(1.0, (t + 1) / 50) * 0.5 * (1 + np.cos(np.pi * t / cfg.steps)))
                gen = rng(cfg.seed, "train", fmt, kind)
                model.train()
                for step in range(cfg.steps):
                    n = int(cfg.ns[gen.integers(len(cfg.ns))])
                    gs = graphs(cfg.family, n, cfg.batch, gen)
                    seen.update(_key(g) for g in gs)
                    toks, mask = batch_tensors(gs, fmt, vocab)
                    toks, mask = toks.to(device), mask.to(device)
                    logits = model(toks[:, :-1])
                    loss = F.cross_entropy(logits[mask], toks[:, 1:][mask])
                    check_finite(f"{kind}/{fmt} loss", loss.detach(), step, "lower lr")
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    sched.step()
                    pbar.update(1)
                trained[i, j] = model.eval()
    tests, test_sets = _test_sets(cfg, seen)
    with bar(F_ * M_ * N_, "istree free generation") as pbar:
        for (i, j), model in trained.items():
            fmt = cfg.formats[i]
            for k, gs in enumerate(tests):
                right, same = generate(model, gs, fmt, vocab, max_len, device)
                acc[i, j, k], exact[i, j, k] = right.mean(), same.mean()
                with torch.no_grad():
                    toks, mask = batch_tensors(gs, fmt, vocab)
                    toks, mask = toks.to(device), mask.to(device)
                    ok = model(toks[:, :-1]).argmax(-1) == toks[:, 1:]
                    tf_seq[i, j, k] = float((ok | ~mask).all(dim=1).float().mean())
                pbar.update(1)
    arrays = {"acc": acc, "gen_exact": exact, "tf_seq_acc": tf_seq, "n": np.array(cfg.ns, dtype=float)}
    return Result("retrieval.istree_train", config_dict(cfg), IsTreeTrainSummary(tests=test_sets), arrays)


def summarize_istree_train(res: Result) -> str:
    a, tests, cfg = res.arrays, res.summary.tests, res.config
    lines = [f"R4 IsTree learned three ways: family {cfg['family']}, {cfg['steps']} steps per model, seed {cfg['seed']}",
             "test graphs per n (after removing inputs seen in training): "
             + ", ".join(f"n={t.n}: {t.count} ({100 * t.seen_fraction:.0f}% removed, {100 * t.tree_fraction:.0f}% "
                         "trees)" for t in tests),
             "free-running greedy generation (retriever answers the model's own queries): answer accuracy "
             "[whole continuation = reference] {teacher-forced sequence accuracy, diagnostic only}",
             f"{'format':>10} {'model':>12} " + " ".join(f"{'n=' + str(t.n):>20}" for t in tests)]
    for i, fmt in enumerate(cfg["formats"]):
        for j, kind in enumerate(cfg["models"]):
            cells = " ".join(f"{a['acc'][i, j, k]:>6.3f} [{a['gen_exact'][i, j, k]:.2f}] "
                             f"{{{a['tf_seq_acc'][i, j, k]:.2f}}}" for k in range(len(tests)))
            lines.append(f"{fmt:>10} {kind:>12} {cells}")
    return "\n".join(lines)


ISTREE_TRAIN = Experiment(paper="retrieval", name="istree_train",
                          description="R4: Transformer, RNN and hybrid trained on IsTree without CoT, with CoT and "
                                      "with retrieval-augmented CoT",
                          config_cls=IsTreeTrainConfig, presets={"quick": QUICK, "paper": PAPER},
                          run=run_istree_train, summarize=summarize_istree_train,
                          summary=IsTreeTrainSummary)
