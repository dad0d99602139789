"""Real data sets that ship inside installed packages, loaded offline, with deterministic splits.

- `digits`: the UCI optical recognition of handwritten digits set (1,797 8x8 images, 10 classes) that
  scikit-learn keeps inside its wheel (`sklearn.datasets.load_digits` reads it from disk, no download), with a
  stratified train/test split drawn from the seed by our own code.
- `iid_shards`: a deterministic partition of training rows among K workers (Local SGD, QSR).

scikit-learn is the optional `data` extra (`pip install -e '.[data]'`); nothing else in the package needs it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import validate
from .errors import ConfigError
from .seeding import rng

# The digits' pixels are counts 0-16 (scaled to [0, 1]): a training spread below one grey level (1/16) comes from a
# handful of nonzero pixels, and dividing by it would blow a test image's rare nonzero pixel up to thousands
# (train std 1e-6 for an always-empty border pixel gave test features of 62,500). Flooring the scale at one grey
# level keeps every standardised feature within 16 of 0.
STD_FLOOR = 1.0 / 16
DIGITS_SOURCE = ("scikit-learn load_digits: UCI optical recognition of handwritten digits, 1,797 8x8 images "
                 "(pixel counts 0-16), shipped inside the scikit-learn wheel")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled data set split in two.

    x_train, x_test: features [n, d], float32; y_train, y_test: class labels [n], int64 in 0..n_classes-1;
    n_classes: number of classes; name: short name; source: where the data comes from;
    train_index, test_index: rows of the source (in its own order) that each split holds, ascending;
    mean, std: the per-feature train statistics used to standardise (None when not standardised).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str
    source: str
    train_index: np.ndarray | None = None
    test_index: np.ndarray | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError("the real datasets need scikit-learn, the data extra (pip install -e '.[data]').") from None
    bunch = load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def stratified_split(y: np.ndarray, test_fraction: float, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows), ascending: each class c with n_c rows gives round(test_fraction * n_c) rows to the
    test split (at least one to each split when n_c >= 2), the rows chosen by a permutation from `gen`."""
    y = np.asarray(y)
    test = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        n_test = int(round(test_fraction * rows.size))
        if rows.size >= 2:
            n_test = min(max(n_test, 1), rows.size - 1)
        test.append(gen.permutation(rows)[:n_test])
    test_rows = np.sort(np.concatenate(test))
    train_mask = np.ones(y.size, dtype=bool)
    train_mask[test_rows] = False
    return np.flatnonzero(train_mask), test_rows


def digits(test_fraction: float = 0.25, seed: int = 0, standardize: bool = True) -> Dataset:
    """The 8x8 digits (1,797 images, 64 features, 10 classes), split per class by `test_fraction` with the seed.

    Pixels are scaled to [0, 1] (divided by 16); with `standardize` every feature is then centred and scaled by
    the TRAIN split's mean and standard deviation (std floored at one grey level, STD_FLOOR = 1/16: some border
    pixels are always or almost always 0), so the test split is transformed with statistics it did not contribute
    to, and every standardised feature lies within 16 of 0.
    """
    validate.probability("test_fraction", test_fraction, open_low=True, open_high=True)
    validate.seed("seed", seed)
    x, y = _load_digits()
    x = x / 16.0
    train, test = stratified_split(y, float(test_fraction), rng(seed, "digits-split"))
    x_train, x_test = x[train], x[test]
    mean = std = None
    if standardize:
        mean = x_train.mean(axis=0)
        std = np.maximum(x_train.std(axis=0), STD_FLOOR)
        x_train = (x_train - mean) / std
        x_test = (x_test - mean) / std
        mean, std = mean.astype(np.float32), std.astype(np.float32)
    return Dataset(x_train=x_train.astype(np.float32), y_train=y[train], x_test=x_test.astype(np.float32),
                   y_test=y[test], n_classes=10, name="digits", source=DIGITS_SOURCE, train_index=train,
                   test_index=test, mean=mean, std=std)


def iid_shards(n_rows: int, k: int, seed: int) -> list[np.ndarray]:
    """Split rows 0..n_rows-1 among k workers: a permutation from the seed cut into k parts whose sizes differ by
    at most one; each part ascending. Worker i of a distributed run takes part i."""
    validate.positive_int("n_rows", n_rows)
    validate.positive_int("k", k)
    if k > n_rows:
        raise ConfigError(f"k must not exceed the number of rows ({n_rows}), got {k}.")
    validate.seed("seed", seed)
    perm = rng(seed, "iid-shards").permutation(n_rows)
    return [np.sort(part) for part in np.array_split(perm, k)]
