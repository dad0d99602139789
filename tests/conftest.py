"""Test setup: one torch thread per process, no progress bars, a per-session result cache."""
import os

import pytest

os.environ.setdefault("THEORYLAB_PROGRESS", "0")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a dependency, but theory tests do not need it
    pass


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A result cache shared by the tests of one session (so each simulation runs once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def quick_context(cache_dir):
    """Where the paper-check tests measure: the quick preset over the default seeds 0, 1, 2 (continued for a claim
    that declares it needs more, `Claim.seeds`) on the session cache."""
    from paper_checks import Context

    return Context(preset="quick", seeds=(0, 1, 2), cache=cache_dir)
