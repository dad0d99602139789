"""`python -m sims.qsr [toy|drift|schedule|torch|equivalence] [--preset quick|paper] [--seed N] ...`

Under torchrun (`torchrun --nproc-per-node K -m sims.qsr torch ...`, WORLD_SIZE set) the torch experiment runs one
worker per torchrun process instead of spawning its own.
"""
import os
import sys

from sims.engine.cli import main

from . import DEFAULT, EXPERIMENTS, __doc__ as DOC


def _entry(argv: list[str]) -> int:
    if "WORLD_SIZE" in os.environ and argv[:1] == ["torch"]:
        from .torch_run import torchrun_main

        return torchrun_main(argv[1:])
    return main("qsr", EXPERIMENTS, DEFAULT, DOC)


if __name__ == "__main__":
    sys.exit(_entry(sys.argv[1:]))
