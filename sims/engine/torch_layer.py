"""The thin torch layer: device choice, one thread per process, seeded generators and initialisation.

torch is imported lazily so that numpy-only simulations do not pay for it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from .errors import ConfigError
from .seeding import int_seed


def resolve_device(requested: str = "auto"):
    """torch.device for "auto" (cuda when present, else cpu), "cpu" or "cuda[:N]"."""
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device is 'cuda' but no CUDA GPU is available; use --device cpu or auto.")
        return torch.device(requested)
    if requested == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"device must be auto, cpu or cuda; got {requested!r}.")


THREADS_ENV = "THEORYLAB_THREADS"


def single_thread(device=None) -> None:
    """Pin torch to one intra-op thread (2-core machines are slowed 100x by oversubscription), or to
    $THEORYLAB_THREADS threads where a cluster task set it to the CPUs it was given (`cluster.run_task`).

    A run whose `device` (a torch.device or the strings `resolve_device` takes) is a CUDA GPU is left alone: the
    pin is for CPU runs, and a GPU preset's host-side work (data preparation, evaluation) keeps torch's pool."""
    import torch

    if device is not None and resolve_device(str(device)).type == "cuda":
        return

    wanted = int(os.environ.get(THREADS_ENV, "1") or 1)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def generator(seed: int, *stream: str | int, device="cpu"):
    """A torch.Generator seeded from (seed, stream) like `seeding.rng`."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int_seed(seed, *stream))
    return g


@contextmanager
def seeded(seed: int, *stream: str | int):
    """Seed torch's global RNG from (seed, stream) inside the block and restore it afterwards.

    `nn.Module` constructors draw their initial weights from the global RNG; building a model inside
    `with seeded(cfg.seed, "model"):` makes its initialisation a function of the config alone.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int_seed(seed, *stream))
        yield
