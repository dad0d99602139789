"""`python -m sims.raptr [stability|staircase|pretrain] [--preset quick|paper] [--seed N] ...`"""
import sys

from sims.engine.cli import main

from . import DEFAULT, EXPERIMENTS
from . import __doc__ as DOC

if __name__ == "__main__":
    sys.exit(main("raptr", EXPERIMENTS, DEFAULT, DOC))
