"""Small networks shared by the papers that train sequence models (knapsack, retrieval).

`CausalTransformer` is a decoder-only, pre-LayerNorm Transformer with learned positions, sized for
CPU-scale experiments and unchanged on a GPU. Build it inside `torch_layer.seeded(...)` for a
deterministic initialisation. `CausalTransformer.forward_cached` is the incremental path used by the language-model
decoders (`sims.engine.lm`): it keeps each layer's keys and values, takes explicit positions and a mask of padded
positions, and leaves `forward` (the training path of the knapsack and retrieval papers) untouched.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError


def n_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention over the past (position t attends to positions <= t)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, d = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, d))

    def forward_cached(self, h: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None,
                       attn_mask: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Attention of the new positions h [B, T, d] over the cached keys/values `past` ([B, heads, L0, d_head]
        each, or None) and their own; attn_mask [B, 1, T, L0 + T] is True where a query may attend a key.
        Returns the output [B, T, d] and the extended (keys, values)."""
        b, t, d = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).reshape(b, t, d)), (k, v)


class Block(nn.Module):
    """Pre-LN residual block: h + attn(LN(h)), then h + MLP(LN(h))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.ln1(h))
        return h + self.mlp(self.ln2(h))

    def forward_cached(self, h: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None,
                       attn_mask: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The block on new positions only, attending over cached keys/values (see CausalSelfAttention)."""
        a, kv = self.attn.forward_cached(self.ln1(h), past, attn_mask)
        h = h + a
        return h + self.mlp(self.ln2(h)), kv


class CausalTransformer(nn.Module):
    """Decoder-only Transformer: tokens [B, T] (long) -> next-token logits [B, T, vocab_size].

    vocab_size: number of token ids; d_model: width; n_layers: blocks; n_heads: attention heads
    (must divide d_model); max_len: longest sequence; d_ff: MLP width (default 4 * d_model).
    """

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, max_len: int,
                 d_ff: int | None = None):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("n_layers", n_layers),
                            ("n_heads", n_heads), ("max_len", max_len)):
            if int(value) < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value}.")
        if d_model % n_heads:
            raise ConfigError(f"n_heads must divide d_model; got d_model={d_model}, n_heads={n_heads}.")
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.max_len = max_len
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        """GPT-style initialisation: N(0, 0.02) weights, zero biases."""
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, T, vocab_size]; with a boolean `select` [B, T], only the selected positions' logits
        [n_selected, vocab_size] (in row-major order), skipping the output layer elsewhere."""
        t = tokens.shape[1]
        if t > self.max_len:
            raise ConfigError(f"sequence length {t} exceeds max_len={self.max_len}.")
        h = self.tok(tokens) + self.pos(torch.arange(t, device=tokens.device))
        for block in self.blocks:
            h = block(h)
        if select is not None:
            h = h[select]
        return self.head(self.ln_f(h))

    def forward_cached(self, tokens: torch.Tensor, cache: list | None = None,
                       positions: torch.Tensor | None = None, key_mask: torch.Tensor | None = None,
                       keep: int | None = None) -> tuple[torch.Tensor, list]:
        """Incremental forward: logits of the new tokens [B, T] given the keys/values of earlier ones.

        cache: what the previous call returned (one (keys, values) pair per block), or None to start;
        positions [B, T]: position ids of the new tokens (default: continuing 0, 1, ... after the cache);
        key_mask [B, L0 + T]: False at padding positions, which no other position attends to (default: all True);
        keep: return only the last `keep` positions' logits. Returns (logits [B, T or keep, vocab], new cache).
        Computes the same function as `forward` up to float rounding (the attention mask is explicit here).
        """
        b, t = tokens.shape
        past_len = 0 if cache is None else cache[0][0].shape[2]
        if positions is None:
            positions = torch.arange(past_len, past_len + t, device=tokens.device).expand(b, t)
        if t == 0:
            raise ConfigError("tokens must hold at least one new position; got none.")
        if int(positions.max()) >= self.max_len:
            raise ConfigError(f"position {int(positions.max())} exceeds max_len={self.max_len}.")
        total = past_len + t
        if key_mask is None:
            key_mask = torch.ones(b, total, dtype=torch.bool, device=tokens.device)
        if key_mask.shape != (b, total):
            raise ConfigError(f"key_mask must have shape {(b, total)}; got {tuple(key_mask.shape)}.")
        query_at = torch.arange(past_len, total, device=tokens.device)[:, None]
        key_at = torch.arange(total, device=tokens.device)[None, :]
        # a query sees earlier real tokens and always itself (so a padding query is never fully masked)
        allowed = (key_at <= query_at) & (key_mask[:, None, :] | (key_at == query_at))
        attn_mask = allowed[:, None, :, :]
        h = self.tok(tokens) + self.pos(positions)
        new_cache = []
        for i, block in enumerate(self.blocks):
            h, kv = block.forward_cached(h, None if cache is None else cache[i], attn_mask)
            new_cache.append(kv)
        if keep is not None:
            h = h[:, t - keep:]
        return self.head(self.ln_f(h)), new_cache
