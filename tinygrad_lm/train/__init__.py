"""Training helpers: checkpoints, history plots."""
from .checkpoint import load_checkpoint, save_checkpoint  # noqa: F401
from .history import plot_history  # noqa: F401
from .keras import History, KerasModel  # noqa: F401,E402
