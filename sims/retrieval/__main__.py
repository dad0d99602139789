"""`python -m sims.retrieval [recall|streaming|istree_budget|controller|istree_train] [--preset quick|paper]
[--seed N] ...`"""
import sys

from sims.engine.cli import main

from . import DEFAULT, EXPERIMENTS, __doc__ as DOC

if __name__ == "__main__":
    sys.exit(main("retrieval", EXPERIMENTS, DEFAULT, DOC))
