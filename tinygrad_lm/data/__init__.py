"""Datasets, loaders, preprocessing and tokenizers."""
