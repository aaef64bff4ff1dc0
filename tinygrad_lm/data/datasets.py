"""Datasets that work offline. ``digits``: scikit-learn's bundled 8x8 handwritten digits."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DatasetError(ValueError):
    """A data set file the library cannot use (malformed, inconsistent labels, wrong image size, empty);
    the message names the file and what is wrong with it."""


class Split(NamedTuple):
    """A train/test split: ``x_train, y_train, x_test, y_test = split``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def digits(test_size: float = 0.25, seed: int = 0) -> Split:
    """scikit-learn's 1,797 handwritten digits (8x8 pixels in 0..16, flattened to 64 features;
    labels 0..9), split into train and test with the same class proportions in each (stratified)
    and a fixed ``seed``. Features are float32 and unscaled (scale them with a scaler fitted on
    the training split, D1.F6); labels are int64.

    The split is scikit-learn's ``train_test_split(x, y, test_size=test_size, random_state=seed,
    stratify=y)``, drawn here without importing scikit-learn (whose import takes seconds, SciPy's
    included): the same numbers, held to it by ``tests/test_data.py``."""
    if not 0 < test_size < 1:
        raise ValueError(f"digits: test_size must be in (0, 1), got {test_size}")
    table = _digits_table()
    x, y = table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)
    train, test = _stratified_split(y, test_size, seed)
    return Split(x[train], y[train], x[test], y[test])


def _digits_table() -> np.ndarray:
    """The 1797 x 65 table (64 pixels, then the label) that scikit-learn ships as
    ``sklearn/datasets/data/digits.csv.gz``, read from its file: finding the package does not import it."""
    import gzip
    import importlib.util
    import os

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("digits: the data ship with scikit-learn; install it (pip install scikit-learn)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if not os.path.exists(path):  # a scikit-learn that keeps its data elsewhere: ask it
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.column_stack([bunch.data, bunch.target])
    with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",")


def _stratified_split(y: np.ndarray, test_size: float, seed: int):
    """Train and test indices as scikit-learn's StratifiedShuffleSplit draws them with
    ``random_state=seed``: each class gives its share of the test split (ties in the rounding broken at
    random), its samples permuted, then each split permuted."""
    import math

    n_test = math.ceil(test_size * len(y))
    rs = np.random.RandomState(seed)  # scikit-learn's generator, so the draws are its draws
    classes, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2 or min(n_test, len(y) - n_test) < len(classes):
        raise ValueError(f"digits: test_size={test_size} leaves a split without some class")
    by_class = np.split(np.argsort(y_index, kind="stable"), np.cumsum(counts)[:-1])
    n_train = _approximate_mode(counts, len(y) - n_test, rs)
    n_test_i = _approximate_mode(counts - n_train, n_test, rs)
    train, test = [], []
    for i in range(len(classes)):
        members = by_class[i].take(rs.permutation(counts[i]), mode="clip")
        train.extend(members[:n_train[i]])
        test.extend(members[n_train[i]:n_train[i] + n_test_i[i]])
    return rs.permutation(train), rs.permutation(test)


def _approximate_mode(counts: np.ndarray, n_draws: int, rs) -> np.ndarray:
    """How many of ``n_draws`` each class gets: its share rounded down, then one more for the largest
    remainders (equal remainders drawn at random), as scikit-learn's ``_approximate_mode``."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    remainder = continuous - floored
    for value in np.sort(np.unique(remainder))[::-1]:
        if need <= 0:
            break
        (tied,) = np.where(remainder == value)
        chosen = rs.choice(tied, size=min(len(tied), need), replace=False)
        floored[chosen] += 1
        need -= len(chosen)
    return floored.astype(int)
