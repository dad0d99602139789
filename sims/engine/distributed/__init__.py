"""Distributed optimisation: Local SGD / Local AdamW with a synchronisation schedule, and its data-parallel
baseline, for any `nn.Module` on real processes over torch.distributed (gloo on CPU, NCCL on GPUs).

- local.py: `LocalOptimizer`, which wraps any torch optimizer. In local mode every rank takes H local steps on its
  own gradients, then the parameters are averaged with one flat all-reduce (`flat_all_reduce_mean`); optimizer
  states stay local. H is set per round by a function of the round's first step, which covers constant H and the
  Quadratic Synchronization Rule H = max(H_base, floor((alpha / eta_t)^2)) of Gu, Lyu, Arora, Zhang, Huang,
  "A Quadratic Synchronization Rule for Distributed Deep Learning", ICLR 2024 (arXiv 2310.14423), section 2.
  Local SGD itself: Gu, Lyu, Huang, Arora, "Why (and When) does Local SGD Generalize Better than SGD?",
  ICLR 2023 (arXiv 2303.01215), Algorithm 1. Data-parallel mode averages gradients every step instead.
- launch.py: `spawn` (K processes from one call, for tests and laptops, results back in rank order and one error
  naming a failing rank), `init_from_env` (one process per rank under torchrun), `free_port`, `backend_for`.

The same code runs 2 CPU processes in a test and many GPUs under torchrun; without a process group the optimizer
still runs (one process) and counts its rounds.
"""
from .launch import RankFailed, backend_for, free_port, init_from_env, spawn
from .local import MODES, LocalOptimizer, flat_all_reduce_mean

__all__ = ["MODES", "LocalOptimizer", "RankFailed", "backend_for", "flat_all_reduce_mean", "free_port",
           "init_from_env", "spawn"]
