"""`python -m sims.ptst [feature|grid|overlap|safety_data|real] [--preset quick|paper] [--seed N] ...`."""
import sys

from sims.engine.cli import main

from . import DEFAULT, EXPERIMENTS
from . import __doc__ as DOC

if __name__ == "__main__":
    sys.exit(main("ptst", EXPERIMENTS, DEFAULT, DOC))
