"""Datasets, loaders, preprocessing and tokenizers."""
from .bpe import ByteLevelBPETokenizer  # noqa: F401,E402
