"""``tinygrad_lm.utils.data``: torch.utils.data's names for the loaders of ``tinygrad_lm.data``
(the same classes, so ``from tinygrad_lm.utils.data import DataLoader`` and ``tg.data.DataLoader`` agree)."""
from ..data.dataset import DataLoader, Dataset, TensorDataset, default_collate  # noqa: F401
