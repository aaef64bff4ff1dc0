"""D1.F6 preprocessing: standardization and min-max scaling, per feature (column).

The statistics must come from the training split only: fit on it, then transform the training
and the test split with the same numbers, or the test set leaks into training. The scalers keep
scikit-learn's names (``fit``, ``transform``, ``fit_transform``, ``inverse_transform``, ``mean_``,
``scale_``, ``data_min_``...). They take NumPy (or CuPy) arrays or tensors and give back the
same kind, in the input's float dtype.
"""
from __future__ import annotations

from ..backend import xp
from ..tensor import Tensor


def _raw(x):
    """(array, was_tensor); integers become the default float dtype."""
    if isinstance(x, Tensor):
        return x.data, True
    a = xp(x).asarray(x)
    return (a if a.dtype.kind == "f" else a.astype("float32")), False


def _wrap(a, was_tensor):
    return Tensor._wrap(a) if was_tensor else a


def _nonzero(scale):
    """Constant features get a scale of 1, so they map to 0 instead of dividing by zero."""
    return xp(scale).where(scale == 0, scale.dtype.type(1), scale)


def _statistics_from(a, name, given):
    """Statistics of ``a`` are only taken from samples: an empty input has none (NumPy would give NaN)."""
    if any(v is None for v in given) and (a.ndim == 0 or a.shape[0] == 0):
        raise ValueError(f"{name}: cannot take per-column statistics of an input without samples (shape {tuple(a.shape)}); "
                         "give them, or pass data")


def standardize(x, mean=None, std=None):
    """z = (x - mu) / sigma per column; mu, sigma from ``x`` unless given (give the training split's)."""
    a, was_tensor = _raw(x)
    _statistics_from(a, "standardize", (mean, std))
    mean = a.mean(axis=0) if mean is None else mean
    std = _nonzero(a.std(axis=0)) if std is None else std
    return _wrap(((a - mean) / std).astype(a.dtype, copy=False), was_tensor)


def min_max_scale(x, data_min=None, data_max=None, feature_range=(0.0, 1.0)):
    """x' = lo + (x - min) (hi - lo) / (max - min) per column; min, max from ``x`` unless given."""
    a, was_tensor = _raw(x)
    lo, hi = feature_range
    if not lo < hi:
        raise ValueError(f"min_max_scale: feature_range must be (lo, hi) with lo < hi, got {feature_range}")
    _statistics_from(a, "min_max_scale", (data_min, data_max))
    data_min = a.min(axis=0) if data_min is None else data_min
    data_max = a.max(axis=0) if data_max is None else data_max
    out = lo + (a - data_min) * ((hi - lo) / _nonzero(data_max - data_min))
    return _wrap(out.astype(a.dtype, copy=False), was_tensor)


class _Scaler:
    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def _check(self, a):
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(x_train) first")
        if a.ndim != 2 or a.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__} was fitted on {self.n_features_in_} features, "
                             f"got input of shape {tuple(a.shape)}")

    def _fit_array(self, x):
        a, _ = _raw(x)
        if a.ndim != 2 or a.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}.fit needs a non-empty 2-d (samples, features) input, "
                             f"got shape {tuple(a.shape)}")
        self.n_features_in_ = a.shape[1]
        return a


class StandardScaler(_Scaler):
    """Learn each feature's mean and standard deviation on the training split; transform to
    z = (x - mean_) / scale_ (D1.F6)."""

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean, self.with_std = with_mean, with_std

    def fit(self, x):
        a = self._fit_array(x)
        m = xp(a)
        self.mean_ = a.mean(axis=0) if self.with_mean else m.zeros(a.shape[1], a.dtype)
        self.var_ = a.var(axis=0)
        self.scale_ = _nonzero(m.sqrt(self.var_)) if self.with_std else m.ones(a.shape[1], a.dtype)
        return self

    def transform(self, x):
        self._check(_raw(x)[0])
        return standardize(x, self.mean_, self.scale_)

    def inverse_transform(self, z):
        a, was_tensor = _raw(z)
        self._check(a)
        return _wrap((a * self.scale_ + self.mean_).astype(a.dtype, copy=False), was_tensor)


class MinMaxScaler(_Scaler):
    """Learn each feature's minimum and maximum on the training split; map them to
    ``feature_range`` (D1.F6). Test values outside the training range land outside it."""

    def __init__(self, feature_range=(0.0, 1.0)):
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(f"MinMaxScaler: feature_range must be (lo, hi) with lo < hi, got {feature_range}")
        self.feature_range = (float(lo), float(hi))

    def fit(self, x):
        a = self._fit_array(x)
        self.data_min_, self.data_max_ = a.min(axis=0), a.max(axis=0)
        self.data_range_ = self.data_max_ - self.data_min_
        lo, hi = self.feature_range
        self.scale_ = (hi - lo) / _nonzero(self.data_range_)
        self.min_ = lo - self.data_min_ * self.scale_
        return self

    def transform(self, x):
        self._check(_raw(x)[0])
        return min_max_scale(x, self.data_min_, self.data_max_, self.feature_range)

    def inverse_transform(self, z):
        a, was_tensor = _raw(z)
        self._check(a)
        return _wrap(((a - self.min_) / self.scale_).astype(a.dtype, copy=False), was_tensor)
