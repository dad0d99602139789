"""E copies of the shared `CausalTransformer` trained as one computation, and the AdamW step that drives them.

`EnsembleTransformer` holds E models of one shape, every weight with a leading model axis [E, ...]: each member
keeps its own initialisation (stack members built separately, `from_members`), sees its own batch (tokens
[E, B, T]) and computes exactly the function its `CausalTransformer` computes, up to float rounding (the same
pre-LN blocks, the same attention kernel over the members' batches merged). `member(i)` gives member i back as
a plain `CausalTransformer` (for evaluation code written for one model).

`EnsembleAdamW` is AdamW applied to every member at once with a learning rate per member (a tensor [E], set
each step) and an `active` mask: a member masked out takes no step (weights, moments and step count untouched),
so members that finish early stop while the rest go on. Per member it is torch.optim.AdamW's update (decoupled
weight decay, bias-corrected moments).

On a GPU a whole sweep (every ratio and seed of one model size) becomes one computation per step; on a 2-core
CPU the work per element is the same as in a loop over the members, so use it there only where
`benchmarks/ensemble_transformer.py` measures it faster.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError
from .nets import CausalTransformer

def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Per-member x [E, ..., d_in] @ w [E, d_in, d_out] (+ b [E, d_out])."""
    e, d_in = x.shape[0], x.shape[-1]
    flat = x.reshape(e, -1, d_in)
    y = torch.bmm(flat, w) if b is None else torch.baddbmm(b[:, None, :], flat, w)
    return y.reshape(*x.shape[:-1], w.shape[-1])


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-member LayerNorm over the last axis with weight and bias [E, d]."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
    return F.layer_norm(x, x.shape[-1:], eps=eps) * w.view(shape) + b.view(shape)


class EnsembleTransformer(nn.Module):
    """E decoder-only Transformers of one shape: tokens [E, B, T] (long) -> logits [E, B, T, vocab_size].

    Build it from E separately initialised `CausalTransformer`s of the same sizes (`from_members`); every
    parameter is the members' parameters stacked on a new leading axis (linear weights stored as [E, in, out]).
    """

    def __init__(self, members: list[CausalTransformer]):
        super().__init__()
        if not members:
            raise ConfigError("an ensemble needs at least one member; got none.")
        first = members[0]
        shape = _shape(first)
        for i, m in enumerate(members[1:], 1):
            if _shape(m) != shape:
                raise ConfigError(f"every member must have the shape of member 0 {shape}; member {i} has "
                                  f"{_shape(m)}.")
        self.n_members = len(members)
        self.vocab_size, self.d_model, self.n_layers, self.n_heads, self.max_len, self.d_ff = shape

        def stack(get) -> nn.Parameter:
            return stack_of(members, get)

        self.tok = stack(lambda m: m.tok.weight)                        # [E, V, d]
        self.pos = stack(lambda m: m.pos.weight)                        # [E, max_len, d]
        self.layers = nn.ModuleList()
        for li in range(self.n_layers):
            blocks = [m.blocks[li] for m in members]
            layer = nn.ParameterDict({
                "ln1_w": stack_of(blocks, lambda b: b.ln1.weight), "ln1_b": stack_of(blocks, lambda b: b.ln1.bias),
                "qkv_w": stack_of(blocks, lambda b: b.attn.qkv.weight.t()),
                "qkv_b": stack_of(blocks, lambda b: b.attn.qkv.bias),
                "out_w": stack_of(blocks, lambda b: b.attn.out.weight.t()),
                "out_b": stack_of(blocks, lambda b: b.attn.out.bias),
                "ln2_w": stack_of(blocks, lambda b: b.ln2.weight), "ln2_b": stack_of(blocks, lambda b: b.ln2.bias),
                "fc_w": stack_of(blocks, lambda b: b.mlp[0].weight.t()),
                "fc_b": stack_of(blocks, lambda b: b.mlp[0].bias),
                "proj_w": stack_of(blocks, lambda b: b.mlp[2].weight.t()),
                "proj_b": stack_of(blocks, lambda b: b.mlp[2].bias),
            })
            self.layers.append(layer)
        self.lnf_w = stack(lambda m: m.ln_f.weight)
        self.lnf_b = stack(lambda m: m.ln_f.bias)
        self.head = stack(lambda m: m.head.weight.t())                  # [E, d, V]

    @classmethod
    def from_members(cls, members: list[CausalTransformer]) -> "EnsembleTransformer":
        """The ensemble of these models (their current weights, copied)."""
        return cls(list(members))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [E, B, T, vocab_size] of every member on its own tokens [E, B, T]."""
        if tokens.dim() != 3 or tokens.shape[0] != self.n_members:
            raise ConfigError(f"tokens must have shape [n_members={self.n_members}, batch, length]; "
                              f"got {tuple(tokens.shape)}.")
        e, b, t = tokens.shape
        if t > self.max_len:
            raise ConfigError(f"sequence length {t} exceeds max_len={self.max_len}.")
        idx = tokens.reshape(e, b * t)
        h = torch.gather(self.tok, 1, idx[..., None].expand(e, b * t, self.d_model)).view(e, b, t, self.d_model)
        h = h + self.pos[:, None, :t, :]
        heads, dh = self.n_heads, self.d_model // self.n_heads
        for p in self.layers:
            qkv = _linear(_layer_norm(h, p["ln1_w"], p["ln1_b"]), p["qkv_w"], p["qkv_b"])
            q, k, v = qkv.view(e * b, t, 3, heads, dh).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            h = h + _linear(y.transpose(1, 2).reshape(e, b, t, self.d_model), p["out_w"], p["out_b"])
            a = F.gelu(_linear(_layer_norm(h, p["ln2_w"], p["ln2_b"]), p["fc_w"], p["fc_b"]))
            h = h + _linear(a, p["proj_w"], p["proj_b"])
        return _linear(_layer_norm(h, self.lnf_w, self.lnf_b), self.head, None)

    def member(self, i: int) -> CausalTransformer:
        """Member i as a plain CausalTransformer with a copy of its current weights."""
        if not 0 <= i < self.n_members:
            raise ConfigError(f"member must be in 0..{self.n_members - 1}; got {i}.")
        m = CausalTransformer(self.vocab_size, self.d_model, self.n_layers, self.n_heads, self.max_len, self.d_ff)
        with torch.no_grad():
            m.tok.weight.copy_(self.tok[i])
            m.pos.weight.copy_(self.pos[i])
            for block, p in zip(m.blocks, self.layers):
                block.ln1.weight.copy_(p["ln1_w"][i]), block.ln1.bias.copy_(p["ln1_b"][i])
                block.attn.qkv.weight.copy_(p["qkv_w"][i].t()), block.attn.qkv.bias.copy_(p["qkv_b"][i])
                block.attn.out.weight.copy_(p["out_w"][i].t()), block.attn.out.bias.copy_(p["out_b"][i])
                block.ln2.weight.copy_(p["ln2_w"][i]), block.ln2.bias.copy_(p["ln2_b"][i])
                block.mlp[0].weight.copy_(p["fc_w"][i].t()), block.mlp[0].bias.copy_(p["fc_b"][i])
                block.mlp[2].weight.copy_(p["proj_w"][i].t()), block.mlp[2].bias.copy_(p["proj_b"][i])
            m.ln_f.weight.copy_(self.lnf_w[i]), m.ln_f.bias.copy_(self.lnf_b[i])
            m.head.weight.copy_(self.head[i].t())
        return m.to(self.tok.device)


def stack_of(items, get) -> nn.Parameter:
    """One parameter of every member (`get` applied to each of `items`: the members or their blocks), copied and
    stacked on a new leading axis."""
    return nn.Parameter(torch.stack([get(b).detach().clone() for b in items]))


def _shape(m: CausalTransformer) -> tuple[int, int, int, int, int, int]:
    """(vocab_size, d_model, n_layers, n_heads, max_len, d_ff) of a CausalTransformer."""
    return (m.tok.num_embeddings, m.tok.embedding_dim, len(m.blocks), m.blocks[0].attn.n_heads, m.max_len,
            m.blocks[0].mlp[0].out_features)


def member_losses(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per member, the mean cross-entropy over its masked positions: logits [E, B, T, V], targets [E, B, T] (long),
    mask [E, B, T] bool (None: every position). Returns [E]; sum it for one backward pass (the members'
    parameters are disjoint, so each member gets the gradient of its own mean)."""
    e, v = logits.shape[0], logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1), reduction="none").view(e, -1)
    if mask is None:
        return ce.mean(1)
    w = mask.reshape(e, -1).to(ce.dtype)
    return (ce * w).sum(1) / w.sum(1).clamp_min(1)


class EnsembleAdamW:
    """AdamW over an ensemble's stacked parameters, per member: lr [E] (set with `set_lr` or per step), one
    (beta1, beta2, eps, weight_decay) for all, and an `active` mask [E] (bool): inactive members take no step."""

    def __init__(self, params, n_members: int, lr: float | torch.Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2):
        self.params = [p for p in params if p.requires_grad]
        for p in self.params:
            if p.shape[0] != n_members:
                raise ConfigError(f"every parameter needs a leading axis of n_members={n_members}; got "
                                  f"{tuple(p.shape)}.")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ConfigError(f"betas must lie in [0, 1); got {betas}.")
        if not (eps > 0 and weight_decay >= 0):
            raise ConfigError(f"eps must be positive and weight_decay non-negative; got {eps}, {weight_decay}.")
        self.n_members = n_members
        dev = self.params[0].device
        self.lr = torch.empty(n_members, device=dev)
        self.set_lr(lr)
        self.beta1, self.beta2, self.eps, self.weight_decay = float(betas[0]), float(betas[1]), eps, weight_decay
        self.step_count = torch.zeros(n_members, device=dev)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def set_lr(self, lr: float | torch.Tensor) -> None:
        """Every member's learning rate: one number, or a tensor [E]."""
        value = torch.as_tensor(lr, dtype=torch.float32, device=self.lr.device).expand(self.n_members)
        if not bool(torch.isfinite(value).all()) or bool((value < 0).any()):
            raise ConfigError("lr must be finite and non-negative for every member.")
        self.lr.copy_(value)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor | None = None) -> None:
        """One AdamW step for the active members (all when `active` is None)."""
        on = torch.ones(self.n_members, dtype=torch.bool, device=self.lr.device) if active is None else active
        self.step_count += on.to(self.step_count.dtype)
        t = self.step_count.clamp_min(1)
        bc1 = 1 - self.beta1 ** t
        bc2_sqrt = torch.sqrt(1 - self.beta2 ** t)
        lr = torch.where(on, self.lr, torch.zeros_like(self.lr))
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            shape = (self.n_members,) + (1,) * (p.dim() - 1)
            keep = on.view(shape)
            g = p.grad
            m.copy_(torch.where(keep, m * self.beta1 + (1 - self.beta1) * g, m))
            v.copy_(torch.where(keep, v * self.beta2 + (1 - self.beta2) * g * g, v))
            p.mul_(1 - (lr * self.weight_decay).view(shape))
            denom = v.sqrt() / bc2_sqrt.view(shape) + self.eps
            p.sub_((lr / bc1).view(shape) * m / denom)
