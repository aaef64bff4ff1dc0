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
    the training split, D1.F6); labels are int64."""
    if not 0 < test_size < 1:
        raise ValueError(f"digits: test_size must be in (0, 1), got {test_size}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return Split(x_train, y_train, x_test, y_test)
