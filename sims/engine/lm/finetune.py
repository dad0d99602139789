"""Fine-tuning any `CausalLM` on (prompt, response) pairs: all weights, or low-rank adapters (LoRA).

The loss is the mean negative log-likelihood of the response tokens given the prompt (prompt tokens are context
only), computed through the decoding protocol (`decode.continuation_logprobs` with gradients), so the same loop
trains a tiny model on the CPU and a Hugging Face model on a GPU.

LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", Eq. 3): a frozen linear map W gets a
trainable low-rank update, h = W x + (alpha / r) B A x with A [r, in] random and B [out, r] zero at the start,
so the adapted model starts equal to the original. Written here on plain nn.Linear layers (no extra dependency);
adapters are kept in float32 whatever the model's dtype.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import validate
from ..divergence import check_finite
from ..errors import ConfigError
from ..progress import bar
from ..torch_layer import generator, seeded
from .decode import continuation_logprobs
from .model import CausalLM

METHODS = ("lora", "full")


class LoRALinear(nn.Module):
    """nn.Linear `base` (frozen) plus the trainable update (alpha / rank) * lora_b @ lora_a."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.rank = rank
        self.scale = alpha / rank
        dev = base.weight.device
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=dev, dtype=torch.float32))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=dev, dtype=torch.float32))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W x + b + scale * B A x."""
        update = (x.to(torch.float32) @ self.lora_a.T) @ self.lora_b.T
        return self.base(x) + (self.scale * update).to(x.dtype)

    def merged(self) -> nn.Linear:
        """An nn.Linear computing the same map, with the update folded into its weight."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                        device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            delta = self.scale * (self.lora_b @ self.lora_a)
            out.weight.copy_((self.base.weight.float() + delta).to(out.weight.dtype))
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


def _replace(module: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(module.get_submodule(parent_name) if parent_name else module, child, new)


def add_lora(module: nn.Module, targets: Sequence[str], rank: int = 8, alpha: float = 16.0,
             seed: int = 0) -> list[str]:
    """Freeze every parameter of `module` and wrap each nn.Linear whose own name is in `targets` (e.g. "q_proj")
    in a LoRALinear; returns the wrapped layers' full names. Adapter initialisation is seeded by `seed`."""
    validate.positive_int("rank", rank)
    validate.positive("alpha", alpha)
    targets = tuple(targets)
    validate.non_empty("targets", targets)
    for p in module.parameters():
        p.requires_grad_(False)
    names = [n for n, m in module.named_modules()
             if isinstance(m, nn.Linear) and n.rpartition(".")[2] in targets]
    if not names:
        raise ConfigError(f"targets {list(targets)} name no nn.Linear layer of the model.")
    with seeded(seed, "lora"):
        for n in names:
            _replace(module, n, LoRALinear(module.get_submodule(n), rank, alpha))
    return names


def merge_lora(module: nn.Module) -> int:
    """Fold every LoRALinear of `module` back into a plain nn.Linear; returns how many were merged."""
    names = [n for n, m in module.named_modules() if isinstance(m, LoRALinear)]
    for n in names:
        _replace(module, n, module.get_submodule(n).merged())
    return len(names)


@dataclass(frozen=True)
class FinetuneConfig:
    """method: "lora" or "full"; steps, batch_size, lr, weight_decay, grad_clip, adam_beta1, adam_beta2: AdamW on
    the response loss (constant lr after a linear warm-up of `warmup` steps); rank, alpha, targets: LoRA (targets
    default to the model's `lora_targets`); seed: batch order and adapter initialisation."""

    method: str = "lora"
    steps: int = 50
    batch_size: int = 4
    lr: float = 2e-4
    warmup: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ()
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        validate.one_of("method", self.method, METHODS)
        validate.positive_int("steps", self.steps)
        validate.positive_int("batch_size", self.batch_size)
        validate.positive("lr", self.lr)
        validate.positive_int("warmup", self.warmup, 0)
        validate.non_negative("weight_decay", self.weight_decay)
        validate.positive("grad_clip", self.grad_clip)
        validate.probability("adam_beta1", self.adam_beta1, open_high=True)
        validate.probability("adam_beta2", self.adam_beta2, open_high=True)
        validate.positive_int("rank", self.rank)
        validate.positive("alpha", self.alpha)
        validate.positive_int("seed", self.seed, 0)


@dataclass
class FinetuneResult:
    """losses: the batch loss at every step; trainable: number of trained parameters; adapted: LoRA-wrapped
    layers (empty for full fine-tuning); seconds: wall time."""

    losses: list[float] = field(default_factory=list)
    trainable: int = 0
    adapted: list[str] = field(default_factory=list)
    seconds: float = 0.0


# A token-wise objective: (values [B, C] log-probabilities of the batch's response tokens, with gradients; mask
# [B, C] true at real tokens; the batch's example indices) -> the scalar loss to minimise.
Objective = Callable[[torch.Tensor, torch.Tensor, list[int]], torch.Tensor]


def mean_nll(values: torch.Tensor, mask: torch.Tensor, batch: list[int]) -> torch.Tensor:
    """The default objective: the mean negative log-likelihood of the batch's response tokens."""
    return -values.sum() / mask.sum()


def finetune(lm: CausalLM, examples: Sequence[tuple[Sequence[int], Sequence[int]]],
             config: FinetuneConfig = FinetuneConfig(), objective: Objective = mean_nll,
             on_step: Callable[[int, float], None] | None = None) -> FinetuneResult:
    """Fine-tune `lm` in place on (prompt ids, response ids) pairs; with method "lora" the model keeps its
    adapters afterwards (see `merge_lora`). Batches are drawn without replacement, epoch after epoch, in a seeded
    order. objective: the loss of a batch (see `Objective`; default `mean_nll`); on_step(step, loss): called after
    every update (step counts from 1), e.g. to evaluate the model along the way (it runs in eval mode there)."""
    config.validate()
    if len(examples) == 0:
        raise ConfigError("examples must hold at least one (prompt, response) pair.")
    for i, ex in enumerate(examples):
        if len(ex) != 2 or len(ex[1]) == 0:
            raise ConfigError(f"examples[{i}] must be a (prompt ids, non-empty response ids) pair.")
    module = lm.module
    adapted: list[str] = []
    if config.method == "lora":
        adapted = add_lora(module, config.targets or lm.lora_targets, config.rank, config.alpha, config.seed)
    else:
        for p in module.parameters():
            p.requires_grad_(True)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                            betas=(config.adam_beta1, config.adam_beta2))
    order = generator(config.seed, "finetune-batches")
    queue: list[int] = []
    out = FinetuneResult(trainable=sum(p.numel() for p in params), adapted=adapted)
    start = time.perf_counter()
    module.train()
    progress = bar(config.steps, f"finetune {lm.name}")
    try:
        for step in range(config.steps):
            if len(queue) < config.batch_size:
                queue += torch.randperm(len(examples), generator=order).tolist()
            batch, queue = queue[:config.batch_size], queue[config.batch_size:]
            values, mask = continuation_logprobs(lm, [examples[i][0] for i in batch],
                                                 [examples[i][1] for i in batch], grad=True)
            loss = objective(values, mask, batch)
            check_finite("fine-tuning loss", loss.detach(), step=step)
            for group in opt.param_groups:
                group["lr"] = config.lr * min(1.0, (step + 1) / config.warmup) if config.warmup else config.lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            out.losses.append(float(loss.detach()))
            progress.update(1)
            if on_step is not None:
                module.eval()
                on_step(step + 1, out.losses[-1])
                module.train()
    finally:
        progress.close()
        module.eval()
    out.seconds = time.perf_counter() - start
    return out
