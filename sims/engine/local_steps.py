"""Discrete SGD and Local SGD on a toy loss, all paths and workers advanced as one array.

Local SGD (Gu, Lyu, Huang, Arora, ICLR 2023, Sec. 1, Algorithm 1): K workers start each round from the same
averaged parameters, take H SGD steps on independent local batches of size B_loc, then the K parameter vectors are
averaged. Parallel SGD with total batch B = K * B_loc is the same algorithm with H = 1 (and is run here as one
worker with batch B, which has the same law). State: theta [P, K, d] for P independent paths.

The learning rate may change from step to step and the rounds may have different lengths, as in the Quadratic
Synchronization Rule (Gu, Lyu, Arora, Zhang, Huang, ICLR 2024, Sec. 2: H of a round set from the learning rate of
its first step): `run` takes `eta` as one number or one rate per step, and `H` as one number or the list of round
lengths. This module knows nothing of how the rounds were chosen (plain arrays in; the rules live in theory.qsr).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.engine.divergence import check_finite
from sims.engine.progress import bar


@dataclass
class Trajectory:
    """steps: recorded step indices [T] (each a round boundary; the first is 0); sharpness: lambda(Phi(theta_bar))
    [T, P] of the averaged iterate; loss: L(theta_bar) [T, P]; spread: mean squared distance of the workers to their
    average just before averaging [T, P] (0 for SGD); rounds: the number of completed rounds (averagings) at each
    record [T]; n_rounds: rounds in the whole run (all-reduces of the K workers; for K = 1 the rounds are still
    counted as H says)."""

    steps: np.ndarray
    sharpness: np.ndarray
    loss: np.ndarray
    spread: np.ndarray
    rounds: np.ndarray | None = None
    n_rounds: int = 0


def round_lengths(steps: int, H) -> np.ndarray:
    """The round lengths [R] that `run` uses: for an integer H, steps // H rounds of H steps (steps beyond the last
    whole round are not taken, as before the generalisation); for an array, the array itself, which must hold
    whole numbers >= 1 that add up to `steps`."""
    if np.ndim(H) == 0:
        h = int(H)
        if h != H or h < 1:
            raise ValueError(f"H must be a whole number >= 1; got {H}.")
        return np.full(steps // h, h, dtype=np.int64)
    lengths = np.asarray(H)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError("H must be an integer or a non-empty 1-D array of round lengths.")
    if not np.all(np.isfinite(lengths)) or np.any(lengths < 1) or np.any(lengths != np.round(lengths)):
        raise ValueError("every round length in H must be a whole number >= 1.")
    lengths = lengths.astype(np.int64)
    if int(lengths.sum()) != steps:
        raise ValueError(f"the round lengths in H must add up to steps={steps}; they add up to {int(lengths.sum())}.")
    return lengths


def step_rates(steps: int, eta) -> list[float]:
    """The learning rate of every step as Python floats: `eta` repeated, or the per-step array (length `steps`,
    every rate finite and >= 0)."""
    if np.ndim(eta) == 0:
        if not (float(eta) >= 0 and np.isfinite(float(eta))):
            raise ValueError(f"eta must be a non-negative learning rate; got {eta}.")
        return [float(eta)] * steps
    rates = np.asarray(eta, dtype=float)
    if rates.shape != (steps,):
        raise ValueError(f"eta must be a number or one learning rate per step (shape ({steps},)); got shape "
                         f"{rates.shape}.")
    if not (np.all(np.isfinite(rates)) and np.all(rates >= 0)):
        raise ValueError("every per-step learning rate in eta must be non-negative and finite.")
    return rates.tolist()


def run(toy, theta0: np.ndarray, eta, steps: int, K: int, H, local_batch: int,
        rng: np.random.Generator, n_record: int = 200, chunk: int = 4096, desc: str = "local sgd") -> Trajectory:
    """Run Local SGD (K workers, local batch B_loc) from theta0 [P, d] for `steps` total steps (per worker).

    eta: one learning rate, or one per step [steps] (step t uses eta[t]); H: local steps per round (an integer:
    steps // H rounds of H), or the length of every round [R] (adding up to `steps`). K = 1 is SGD with batch B_loc,
    whatever H. Noise: one standard normal per path, worker and step, drawn from `rng` in step order (chunks of
    `chunk` steps; the chunking does not change the numbers), so runs that share `rng`'s seed and (P, K) share their
    noise. Records at round boundaries, about n_record of them evenly spread over the rounds (round 0 and the last
    round always). A float eta and an integer H give exactly the numbers of the earlier fixed-H loop."""
    theta0 = np.asarray(theta0, dtype=float)
    P, d = theta0.shape
    lengths = round_lengths(int(steps), H)
    rates = step_rates(int(steps), eta)
    theta = np.repeat(theta0[:, None, :], K, axis=1)
    n_rounds = int(lengths.size)
    ends = np.concatenate([[0], np.cumsum(lengths)])  # ends[r]: steps taken after r rounds
    rec_rounds = np.unique(np.linspace(0, n_rounds, num=max(n_record, 2)).round().astype(int))
    rec_set = set(rec_rounds.tolist())
    out_steps, out_rounds, sharp, loss, spread = [], [], [], [], []
    last_spread = np.zeros(P)

    def record(r: int):
        avg = theta.mean(axis=1)
        out_steps.append(int(ends[r]))
        out_rounds.append(r)
        sharp.append(toy.manifold_sharpness(avg))
        loss.append(toy.value(avg))
        spread.append(last_spread.copy())

    noise = np.empty(0)
    pos = 0
    t = 0
    record(0)
    pb = bar(n_rounds, desc, unit="round")
    # overflow shows up as inf/NaN, which check_finite turns into one DivergenceError (no warning spam)
    with np.errstate(over="ignore", invalid="ignore"):
        for r in range(1, n_rounds + 1):
            pb.update(1)
            for _ in range(int(lengths[r - 1])):
                if pos >= noise.shape[0]:
                    noise = rng.standard_normal((chunk, P, K, toy.noise_dim))
                    pos = 0
                theta -= rates[t] * toy.stochastic_grad(theta, noise[pos], local_batch)
                pos += 1
                t += 1
            recording = r in rec_set
            if K > 1:
                avg = theta.mean(axis=1, keepdims=True)
                if recording:
                    last_spread = ((theta - avg) ** 2).sum(-1).mean(-1)
                theta[:] = avg
            if recording:
                check_finite("Local SGD iterate", theta, int(ends[r]), "lower the learning rate eta")
                record(r)
    pb.close()
    return Trajectory(np.asarray(out_steps), np.asarray(sharp), np.asarray(loss), np.asarray(spread),
                      np.asarray(out_rounds), n_rounds)
