"""The decoding protocol every causal language model of the package implements, and its tiny-model side.

A `CausalLM` turns a batch of new token ids into next-token logits given what it has already read:

    logits, cache = lm.logits(tokens, mask, cache=None, keep=None)

tokens [B, T] are the new ids; mask [B, L] (bool) says which of all L = (cached + T) positions hold real tokens
(False marks left padding, so prompts of different lengths share a batch); cache is what the previous call
returned (None to start); keep asks for the last `keep` positions' logits only. Position ids follow the mask:
a row's first real token has position 0 whatever padding precedes it. The decoding functions in
`sims.engine.lm.decode` use nothing else, so they run unchanged on the tiny `TinyLM` below and on a Hugging Face
model (`sims.engine.lm.pretrained.HFCausalLM`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..nets import CausalTransformer
from .tokenizer import Tokenizer


def positions_from_mask(mask: torch.Tensor, new: int) -> torch.Tensor:
    """Position ids [B, new] of the last `new` columns of a padding mask [B, L]: the count of real tokens before
    each one (padding positions get 0)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)[:, mask.shape[1] - new:]


class CausalLM:
    """What decoding needs from a causal language model (see the module docstring for `logits`).

    Attributes: module (the torch nn.Module, for training), vocab_size, max_len (longest sequence, positions
    included), eos_ids (ids that end a generation), pad_id (id used for padding; never attended to),
    lora_targets (names of the nn.Linear layers LoRA adapts by default), name.
    """

    module: nn.Module
    vocab_size: int
    max_len: int
    eos_ids: tuple[int, ...] = ()
    pad_id: int = 0
    lora_targets: tuple[str, ...] = ()
    name: str = "lm"

    @property
    def device(self) -> torch.device:
        """Where the model's parameters live (inputs are moved there)."""
        return next(self.module.parameters()).device

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no special tokens added)."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids (special tokens dropped)."""
        raise NotImplementedError

    def logits(self, tokens: torch.Tensor, mask: torch.Tensor, cache: Any = None,
               keep: int | None = None) -> tuple[torch.Tensor, Any]:
        """Next-token logits (float32) of the new tokens and the extended cache."""
        raise NotImplementedError


class TinyLM(CausalLM):
    """A `CausalTransformer` with its tokenizer behind the decoding protocol; the cache is the transformer's
    per-block (keys, values) list."""

    lora_targets = ("qkv", "out")

    def __init__(self, net: CausalTransformer, tokenizer: Tokenizer, name: str = "tiny"):
        if net.head.out_features != tokenizer.vocab_size:
            raise ConfigError(f"the tokenizer has {tokenizer.vocab_size} ids but the network predicts "
                              f"{net.head.out_features}.")
        self.module = net
        self.tokenizer = tokenizer
        self.vocab_size = tokenizer.vocab_size
        self.max_len = net.max_len
        self.name = name

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (characters or bytes)."""
        return self.tokenizer.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids."""
        return self.tokenizer.decode(ids)

    def logits(self, tokens: torch.Tensor, mask: torch.Tensor, cache: Any = None,
               keep: int | None = None) -> tuple[torch.Tensor, Any]:
        """See `CausalLM.logits`; runs `CausalTransformer.forward_cached`."""
        positions = positions_from_mask(mask, tokens.shape[1])
        return self.module.forward_cached(tokens, cache, positions=positions, key_mask=mask, keep=keep)
