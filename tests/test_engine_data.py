"""The real data sets of sims.engine.data: the digits set from the scikit-learn wheel and its deterministic splits."""
import os
import sys

import numpy as np
import pytest

from sims.engine import data
from sims.engine.errors import ConfigError

if "CI" in os.environ:
    import sklearn  # noqa: F401  (.ci/run installs the data extra; under CI its absence is a failure, not a skip)
else:
    pytest.importorskip("sklearn", reason="the data extra is not installed (pip install -e '.[data]')")


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
