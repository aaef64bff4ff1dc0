"""Datasets, loaders, preprocessing and tokenizers."""
from .dataset import DataLoader, Dataset, TensorDataset, default_collate  # noqa: F401
from .preprocessing import MinMaxScaler, StandardScaler, min_max_scale, standardize  # noqa: F401
from . import datasets  # noqa: F401
