"""Token-level divergences between a target p and a draft q, in torch, from log-probabilities.

The four divergences DistillSpec compares (Zhou et al., arXiv 2310.08461; listed in the research notes, section
4.2; the generalised JSD is that of Agarwal et al. 2023, "On-Policy Distillation of Language Models", their GKD
objective), each computed over the last
(vocabulary) axis of log-probability tensors logp, logq [..., V]:

- forward KL  D(p || q) = sum_x p(x) (log p(x) - log q(x))            (mode covering)
- reverse KL  D(q || p) = sum_x q(x) (log q(x) - log p(x))            (mode seeking)
- JSD[beta]   beta KL(p || m) + (1 - beta) KL(q || m), m = beta p + (1 - beta) q
- TVD         (1/2) sum_x |p(x) - q(x)|;  sum_x min(p, q) = 1 - TVD is the acceptance rate of speculative
  decoding at one position (Leviathan et al. 2023, Sec. 3).

Numerics [ours]: log m is a logsumexp of (log beta + log p, log(1 - beta) + log q), never log of a sum of
exponentials; a term a(x) (log a(x) - log b(x)) is 0 where a(x) = 0 (log a = -inf) with the gradient kept finite
(the -inf entries are replaced before the product, the double-`where` pattern). Losses average the per-position
divergence over the valid positions of a mask (`masked_mean`). The numpy reference versions are in
`theory.specdec`.
"""
from __future__ import annotations

import math

import torch

from sims.engine import validate
from sims.engine.errors import ConfigError
from theory.specdec import DIVERGENCES

__all__ = ["DIVERGENCES", "acceptance", "divergence", "divergence_loss", "fkl", "jsd", "masked_mean", "rkl", "tvd"]


def _kl_terms(loga: torch.Tensor, logb: torch.Tensor) -> torch.Tensor:
    """sum_x a(x) (log a(x) - log b(x)) over the last axis, 0 where a(x) = 0, finite gradients there."""
    zero = torch.isneginf(loga)
    safe_a = torch.where(zero, torch.zeros_like(loga), loga)
    safe_b = torch.where(zero, torch.zeros_like(logb), logb)
    terms = torch.exp(safe_a) * (safe_a - safe_b)
    return torch.where(zero, torch.zeros_like(terms), terms).sum(-1)


def fkl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Forward KL D(p || q) per position: logp, logq [..., V] log-probabilities -> [...]."""
    return _kl_terms(logp, logq)


def rkl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Reverse KL D(q || p) per position: logp, logq [..., V] -> [...]."""
    return _kl_terms(logq, logp)


def jsd(logp: torch.Tensor, logq: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """Generalised Jensen-Shannon divergence JSD[beta](p || q) = beta KL(p || m) + (1 - beta) KL(q || m) with
    m = beta p + (1 - beta) q, beta in (0, 1), per position (Agarwal et al. 2023, GKD); beta = 0.5 is the
    symmetric JSD. logp, logq [..., V] -> [...]."""
    validate.probability("jsd_beta", beta, open_low=True, open_high=True)
    beta = float(beta)
    logm = torch.logaddexp(logp + math.log(beta), logq + math.log(1.0 - beta))
    return beta * _kl_terms(logp, logm) + (1.0 - beta) * _kl_terms(logq, logm)


def tvd(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Total variation distance (1/2) sum_x |p(x) - q(x)| per position: logp, logq [..., V] -> [...]."""
    return 0.5 * (torch.exp(logp) - torch.exp(logq)).abs().sum(-1)


def acceptance(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Speculative-decoding acceptance probability sum_x min(p(x), q(x)) = 1 - TVD per position (Leviathan et
    al. 2023, Sec. 3): logp, logq [..., V] -> [...]."""
    return torch.minimum(torch.exp(logp), torch.exp(logq)).sum(-1)


def divergence(name: str, logp: torch.Tensor, logq: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """The divergence `name` (one of DIVERGENCES) of the target p from the draft q per position; beta is the JSD
    weight (ignored by the others)."""
    if name == "fkl":
        return fkl(logp, logq)
    if name == "rkl":
        return rkl(logp, logq)
    if name == "jsd":
        return jsd(logp, logq, beta)
    if name == "tvd":
        return tvd(logp, logq)
    raise ConfigError(f"divergence must be one of {', '.join(DIVERGENCES)}; got {name!r}.")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values over the entries where mask is True (values and mask of the same shape); a ConfigError when
    the mask selects nothing."""
    if values.shape != mask.shape:
        raise ConfigError(f"mask must have the shape of the values {tuple(values.shape)}; got {tuple(mask.shape)}.")
    count = mask.sum()
    if int(count) == 0:
        raise ConfigError("mask selects no position; a loss needs at least one valid position.")
    return torch.where(mask, values, torch.zeros_like(values)).sum() / count


def divergence_loss(name: str, logp: torch.Tensor, logq: torch.Tensor, mask: torch.Tensor,
                    beta: float = 0.5) -> torch.Tensor:
    """The sequence-level distillation loss of DistillSpec (their Eq. 2 with the token average, as the research
    notes section 4.2 give it): the divergence
    `name` of p from q averaged over the valid positions of mask [...] (logp, logq [..., V])."""
    return masked_mean(divergence(name, logp, logq, beta), mask)
