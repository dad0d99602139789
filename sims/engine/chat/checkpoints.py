"""Tiny chat models of the chat world: building, full fine-tuning and a checkpoint cache for trained stages.

A paper's models are a chain of stages (e.g. base -> aligned -> augmented), each trained from the previous one
with the engine's fine-tuning loop (`sims.engine.lm.finetune`, loss on response tokens). Each stage is stored as
`<folder>/<stage>.pt` (weights, network shape, losses, wall time; written atomically), loaded if present, so an
interrupted chain resumes at the stage it was in. `checkpoint_dir` names the folder by a key that hashes what the
weights depend on: the paper's preset (as a dict), the seed, the device kind, the torch version, and the source of
this subpackage, the engine's top-level modules, its language-model subpackage and the paper's own model file.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .. import cache
from ..lm.finetune import FinetuneConfig, finetune
from ..lm.model import TinyLM
from ..nets import CausalTransformer
from ..results import atomic_write
from ..seeding import int_seed
from ..torch_layer import resolve_device, seeded
from .world import ChatWorld

_ENGINE = Path(__file__).resolve().parent.parent


def source_hash(extra: Sequence[Path] = ()) -> str:
    """Hash of the code trained chat models depend on: this subpackage, every top-level engine module, the
    language-model subpackage, and `extra` files (the paper's own model file)."""
    files = [*sorted(Path(__file__).parent.glob("*.py")), *sorted(_ENGINE.glob("*.py")),
             *sorted((_ENGINE / "lm").glob("*.py")), *(Path(f) for f in extra)]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def checkpoint_dir(namespace: str, spec: dict[str, Any], seed: int, device: str = "cpu",
                   root: Path | None = None, extra: Sequence[Path] = ()) -> Path:
    """<root>/<namespace>/<key> for a preset `spec` trained with `seed` on `device` (root: the cache of the cached
    run in progress, else the default cache)."""
    payload = json.dumps({"spec": spec, "seed": int(seed), "v": cache.CACHE_VERSION,
                          "device": resolve_device(device).type, "torch": torch.__version__,
                          "code": source_hash(extra)}, sort_keys=True, default=str)
    if root is None:
        active = cache.active()
        root = active[0] if active is not None else cache.default_root()
    return Path(root).joinpath(*namespace.split("/")) / hashlib.sha256(payload.encode()).hexdigest()[:16]


def net_kwargs(world: ChatWorld, d_model: int, n_layers: int, n_heads: int) -> dict[str, int]:
    """The shape of a network for the world (its vocabulary and longest conversation)."""
    return {"vocab_size": world.tokenizer.vocab_size, "d_model": d_model, "n_layers": n_layers,
            "n_heads": n_heads, "max_len": world.max_len}


def as_lm(net: CausalTransformer, world: ChatWorld, name: str) -> TinyLM:
    """A network of the world behind the decoding protocol, with the world's end token."""
    lm = TinyLM(net, world.tokenizer, name=name)
    lm.eos_ids = (world.eos_id,)
    return lm


def fresh_lm(world: ChatWorld, kwargs: dict[str, int], seed: int, name: str, device: str = "cpu",
             stream: Sequence[str] = ("chat", "init")) -> TinyLM:
    """A randomly initialised network of the given shape, seeded by (seed, stream)."""
    with seeded(seed, *stream):
        net = CausalTransformer(**kwargs)
    return as_lm(net.to(resolve_device(device)), world, name)


def save_lm(path: Path, kwargs: dict[str, int], lm: TinyLM, losses: list[float], wall_s: float) -> None:
    """Write a trained stage atomically."""
    state = {k: v.detach().cpu() for k, v in lm.module.state_dict().items()}
    blob = {"net": kwargs, "state": state, "losses": losses, "wall_s": wall_s}
    atomic_write(path, lambda fh: torch.save(blob, fh))


def load_lm(path: Path, world: ChatWorld, name: str, device: str = "cpu") -> tuple[TinyLM, dict]:
    """A stored stage and its history ({"losses": [...], "wall_s": ...})."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = CausalTransformer(**blob["net"])
    net.load_state_dict(blob["state"])
    net.eval()
    return as_lm(net.to(resolve_device(device)), world, name), {"losses": blob["losses"], "wall_s": blob["wall_s"]}


def train_full(lm: TinyLM, data, steps: int, lr: float, batch: int, warmup: int, seed: int
               ) -> tuple[list[float], float]:
    """Full fine-tuning of `lm` in place on (prompt ids, response ids) pairs; returns the losses and wall time."""
    cfg = FinetuneConfig(method="full", steps=steps, batch_size=batch, lr=lr, warmup=warmup, seed=seed)
    start = time.perf_counter()
    res = finetune(lm, data, cfg)
    return res.losses, time.perf_counter() - start


# A stage of a chain: (stage name, builder of its training data, steps, lr, batch size, warm-up steps).
Stage = tuple[str, Callable[[], list], int, float, int, int]


def train_chain(where: Path, world: ChatWorld, kwargs: dict[str, int], stages: Sequence[Stage], seed: int,
                paper: str, device: str = "cpu") -> tuple[dict[str, TinyLM], dict[str, dict]]:
    """Train (or load from `where`) a chain of stages: the first from a fresh network seeded by (seed, paper,
    "base-init"), each next one from a copy of the previous, each with the batch order of (seed, paper, "batches",
    stage). Returns the models (eval mode) and each stage's history."""
    models: dict[str, TinyLM] = {}
    history: dict[str, dict] = {}
    previous: TinyLM | None = None
    for stage, make, steps, lr, batch, warmup in stages:
        path = Path(where) / f"{stage}.pt"
        if path.is_file():
            models[stage], history[stage] = load_lm(path, world, stage, device)
        else:
            lm = (fresh_lm(world, kwargs, seed, stage, device, stream=(paper, "base-init")) if previous is None
                  else as_lm(copy.deepcopy(previous.module), world, stage))
            losses, wall = train_full(lm, make(), steps, lr, batch, warmup, int_seed(seed, paper, "batches", stage))
            save_lm(path, kwargs, lm, losses, wall)
            models[stage], history[stage] = lm, {"losses": losses, "wall_s": wall}
        previous = models[stage]
    return models, history
