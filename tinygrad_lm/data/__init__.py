"""Datasets, loaders, preprocessing and tokenizers."""
from .dataset import DataLoader, Dataset, TensorDataset, default_collate  # noqa: F401
from .preprocessing import MinMaxScaler, StandardScaler, min_max_scale, standardize  # noqa: F401
from . import datasets  # noqa: F401
from .datasets import DatasetError  # noqa: F401
from .bpe import ByteLevelBPETokenizer  # noqa: F401,E402
from .text import CharTokenizer, Tokenizer, pad_sequences  # noqa: F401,E402
from . import cleaning  # noqa: F401,E402
from . import synthetic  # noqa: F401,E402
from . import transforms, vision  # noqa: F401,E402
from .vision import cifar10, digits28, mnist, shapes  # noqa: F401,E402
from . import translation  # noqa: F401,E402
