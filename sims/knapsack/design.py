"""Which (size, mixing ratio) runs a training sweep trains: the whole grid, or a bisection for each size's
critical ratio on the same grid (issue 17).

The size laws read one number per size, the ratio where the memorised fraction first reaches the threshold,
interpolated between the two grid ratios that bracket it. A bisection finds that bracket with 2 + ceil(log2(R - 1))
runs per size instead of R (5 instead of 9 at the quick preset): it trains the lowest and the highest grid ratio
(the rise claim reads both, and the lowest is a web-loss run), then halves the bracket [lo, hi] (memorised below
the threshold at lo, at or above it at hi) until lo and hi are neighbours on the grid. The ratios it trains are
grid ratios, so every run is the grid's own run (the same cache entry), and where the memorised fraction rises
monotonically along the grid the bracket, and with it the critical ratio, is exactly the grid's. Where it does
not (seed noise near the threshold), the bisection may find a later crossing than the grid's first one.

The knapsack sweep also trains the second-lowest ratio in the first round when it is a web-heavy one (r <=
web_ratio_max): the web loss F2 is a median over those runs, and with only the lowest ratio and the first halving
(0.001 and 0.016 at the quick preset) it ran 0.035 low in alpha on average (seeds 0-4); with three such runs it is
within 0.02 of the grid's (6 runs per size).
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence

DESIGNS = ("grid", "bisect")

Pair = tuple[int, int]


def runs_per_size(design: str, n_ratios: int, n_first: int = 2) -> int:
    """How many of a size's R grid ratios the design trains at most: R for the grid; for the bisection the n_first
    ratios of its first round (the two ends, at least) and ceil(log2(R - 1)) halvings."""
    if design == "grid" or n_ratios <= n_first:
        return n_ratios
    return n_first + (n_ratios - 2).bit_length()


def bracket(values: dict[int, float], threshold: float) -> tuple[int, int] | None:
    """(lo, hi): the first trained ratio index hi whose value reaches the threshold and the trained index lo before
    it; None when there is nothing to halve (no trained ratio reaches it, or the lowest trained one already does)."""
    trained = sorted(values)
    for k, j in enumerate(trained):
        if values[j] >= threshold:
            return None if k == 0 else (trained[k - 1], j)
    return None


def choose_runs(design: str, n_sizes: int, n_ratios: int, threshold: float,
                measure: Callable[[list[Hashable]], Sequence[float]],
                first: Sequence[Hashable] = (), also: Sequence[int] = ()) -> dict[Pair, float]:
    """Train the design's runs round by round and return {(size index, ratio index): memorised fraction} of every
    run it trained (the value `measure` gave, chance-corrected, the one compared with `threshold`).

    measure(keys) trains the runs named by `keys` (one round; they may run in parallel) and returns their
    memorised fractions in order. `first`: further keys (e.g. web-only runs) trained in the first round, their
    values not returned. The grid is one round of every pair. The bisection's first round is each size's lowest
    and highest ratio and the ratio indices in `also` (runs another reading needs, e.g. the web loss's median);
    a size whose lowest ratio already reaches the threshold, or whose highest does not, is done (censored, as the
    grid reports it); the others get one halving of their bracket (`bracket`) per round, all sizes together."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}; got {design!r}.")
    if any(not 0 <= j < n_ratios for j in also):
        raise ValueError(f"also must hold ratio indices in [0, {n_ratios}); got {list(also)}.")
    if design == "grid":
        pairs = [(i, j) for i in range(n_sizes) for j in range(n_ratios)]
    else:
        pairs = [(i, j) for i in range(n_sizes) for j in sorted({0, n_ratios - 1, *also})]
    values = list(measure(list(first) + pairs))[len(first):]
    seen = dict(zip(pairs, values))
    if design == "grid":
        return seen
    brackets = {}
    for i in range(n_sizes):
        b = bracket({j: v for (k, j), v in seen.items() if k == i}, threshold)
        if b is not None:
            brackets[i] = b
    while True:
        mids = {i: (lo + hi) // 2 for i, (lo, hi) in brackets.items() if hi - lo > 1}
        if not mids:
            return seen
        values = measure([(i, m) for i, m in mids.items()])
        for (i, m), v in zip(mids.items(), values):
            seen[i, m] = v
            lo, hi = brackets[i]
            brackets[i] = (lo, m) if v >= threshold else (m, hi)
