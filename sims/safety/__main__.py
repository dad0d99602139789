"""`python -m sims.safety [depth|prefill|finetune_attack|tabular] [--preset quick|paper] [--seed N] ...` (no
experiment name: all four in turn)."""
import sys

from sims.engine.cli import main

from . import DEFAULT, EXPERIMENTS
from . import __doc__ as DOC

if __name__ == "__main__":
    sys.exit(main("safety", EXPERIMENTS, DEFAULT, DOC))
